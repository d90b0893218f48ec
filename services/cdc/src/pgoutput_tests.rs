//! Decoding hand-built pgoutput messages (the real-server tests cover what PostgreSQL sends).

use super::*;

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn text(out: &mut Vec<u8>, s: &str) {
    out.push(b't');
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

#[test]
fn lsn_round_trips_through_text() {
    let lsn = Lsn::parse("16/B374D848").expect("parses");
    assert_eq!(lsn.0, 0x16_B374_D848);
    assert_eq!(lsn.to_string(), "16/B374D848");
    assert!(Lsn::parse("0/1") < Lsn::parse("1/0"));
    assert_eq!(Lsn::parse("nope"), None);
    assert_eq!(Lsn::parse("1FFFFFFFF/0"), None);
}

#[test]
fn decodes_begin_and_commit() {
    let mut b = vec![b'B'];
    b.extend_from_slice(&0x0000_0001_0000_0010u64.to_be_bytes());
    b.extend_from_slice(&42i64.to_be_bytes());
    b.extend_from_slice(&7u32.to_be_bytes());
    assert_eq!(
        decode(&b),
        Ok(Message::Begin {
            final_lsn: Lsn(0x1_0000_0010),
            commit_time: 42,
            xid: 7
        })
    );
    let mut c = vec![b'C', 0];
    c.extend_from_slice(&5u64.to_be_bytes());
    c.extend_from_slice(&9u64.to_be_bytes());
    c.extend_from_slice(&(-1i64).to_be_bytes());
    assert_eq!(
        decode(&c),
        Ok(Message::Commit {
            commit_lsn: Lsn(5),
            end_lsn: Lsn(9),
            commit_time: -1
        })
    );
}

#[test]
fn decodes_a_relation_and_an_update_with_the_full_old_row() {
    let mut r = vec![b'R'];
    r.extend_from_slice(&16384u32.to_be_bytes());
    cstr(&mut r, "public");
    cstr(&mut r, "orders");
    r.push(b'f');
    r.extend_from_slice(&2u16.to_be_bytes());
    for (flags, name, oid) in [(1u8, "id", 23u32), (0, "note", 25)] {
        r.push(flags);
        cstr(&mut r, name);
        r.extend_from_slice(&oid.to_be_bytes());
        r.extend_from_slice(&(-1i32).to_be_bytes());
    }
    let Ok(Message::Relation(rel)) = decode(&r) else {
        panic!("not a relation: {:?}", decode(&r))
    };
    assert_eq!(
        (rel.id, rel.schema.as_str(), rel.name.as_str()),
        (16384, "public", "orders")
    );
    assert_eq!(rel.columns.len(), 2);
    assert!(rel.columns[0].key && !rel.columns[1].key);
    assert_eq!(rel.columns[1].type_oid, 25);

    let mut u = vec![b'U'];
    u.extend_from_slice(&16384u32.to_be_bytes());
    u.push(b'O');
    u.extend_from_slice(&2u16.to_be_bytes());
    text(&mut u, "1");
    u.push(b'n');
    u.push(b'N');
    u.extend_from_slice(&2u16.to_be_bytes());
    text(&mut u, "1");
    u.push(b'u');
    assert_eq!(
        decode(&u),
        Ok(Message::Update {
            relation: 16384,
            old: Some((OldKind::Full, vec![Value::Text("1".into()), Value::Null])),
            new: vec![Value::Text("1".into()), Value::Unchanged],
        })
    );
}

#[test]
fn rejects_truncated_and_unknown_data() {
    let mut i = vec![b'I'];
    i.extend_from_slice(&1u32.to_be_bytes());
    i.push(b'N');
    i.extend_from_slice(&1u16.to_be_bytes());
    i.push(b't');
    i.extend_from_slice(&10u32.to_be_bytes());
    i.extend_from_slice(b"short");
    let err = decode(&i).expect_err("truncated");
    assert_eq!(err.tag, 'I');
    assert!(err.what.contains("truncated"), "{err}");

    let mut d = vec![b'D'];
    d.extend_from_slice(&1u32.to_be_bytes());
    d.push(b'X');
    assert!(decode(&d).is_err());
    assert_eq!(decode(b"Tsomething"), Ok(Message::Other(b'T')));
    assert!(decode(b"").is_err());
}
