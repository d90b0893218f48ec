//! Decoder of PostgreSQL's `pgoutput` logical replication messages (protocol version 1), as
//! returned row by row by `pg_logical_slot_peek_binary_changes`.
//!
//! Consumes the raw `data` bytes of one message; produces a [`Message`]; touches nothing.
//! All integers are big-endian. Messages this trigger does not need (origin, type, truncate,
//! logical messages) decode to [`Message::Other`].

use std::fmt;

/// A WAL position (`pg_lsn`), e.g. `0/16B3748`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Parses PostgreSQL's text form `XXXXXXXX/XXXXXXXX` (hex).
    pub fn parse(text: &str) -> Option<Self> {
        let (hi, lo) = text.trim().split_once('/')?;
        let hi = u64::from_str_radix(hi, 16).ok()?;
        let lo = u64::from_str_radix(lo, 16).ok()?;
        (hi <= u64::from(u32::MAX) && lo <= u64::from(u32::MAX)).then_some(Self(hi << 32 | lo))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

/// One column of a relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Part of the replica identity (the key, or every column under REPLICA IDENTITY FULL).
    pub key: bool,
    /// Column name.
    pub name: String,
    /// Type OID (`pg_type.oid`).
    pub type_oid: u32,
}

/// A table's description; sent before its first change in every decoding call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// The table's OID, which changes refer to.
    pub id: u32,
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Columns in table order.
    pub columns: Vec<Column>,
}

/// One column value of a tuple.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL (also every non-key column of a key-only old tuple).
    Null,
    /// A TOASTed value that did not change (its content is not sent).
    Unchanged,
    /// The value in its text form.
    Text(String),
}

/// What kind of old tuple an update or delete carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldKind {
    /// Only the replica identity key columns (`K`); other columns are null.
    Key,
    /// The whole old row (`O`, REPLICA IDENTITY FULL).
    Full,
}

/// A decoded pgoutput message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Start of a transaction.
    Begin {
        /// LSN of the commit record.
        final_lsn: Lsn,
        /// Commit time, microseconds since 2000-01-01 UTC.
        commit_time: i64,
        /// Transaction id.
        xid: u32,
    },
    /// End of a transaction.
    Commit {
        /// LSN of the commit record.
        commit_lsn: Lsn,
        /// End of the commit record: confirming up to here confirms the transaction.
        end_lsn: Lsn,
        /// Commit time, microseconds since 2000-01-01 UTC.
        commit_time: i64,
    },
    /// A table description.
    Relation(Relation),
    /// A new row.
    Insert {
        /// Relation id.
        relation: u32,
        /// The new row.
        new: Vec<Value>,
    },
    /// A changed row.
    Update {
        /// Relation id.
        relation: u32,
        /// The old row or key, when the replica identity sends it.
        old: Option<(OldKind, Vec<Value>)>,
        /// The new row.
        new: Vec<Value>,
    },
    /// A removed row.
    Delete {
        /// Relation id.
        relation: u32,
        /// The old key or row.
        old: (OldKind, Vec<Value>),
    },
    /// A message this decoder skips (its tag byte).
    Other(u8),
}

/// A malformed message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed pgoutput message `{tag}`: {what}")]
pub struct DecodeError {
    /// The message tag.
    pub tag: char,
    /// What was wrong.
    pub what: String,
}

/// Decodes one message.
pub fn decode(data: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader { data, pos: 0 };
    let tag = r.u8().map_err(|what| DecodeError { tag: '?', what })?;
    decode_body(tag, &mut r).map_err(|what| DecodeError {
        tag: char::from(tag),
        what,
    })
}

fn decode_body(tag: u8, r: &mut Reader<'_>) -> Result<Message, String> {
    Ok(match tag {
        b'B' => Message::Begin {
            final_lsn: Lsn(r.u64()?),
            commit_time: r.i64()?,
            xid: r.u32()?,
        },
        b'C' => {
            let _flags = r.u8()?;
            Message::Commit {
                commit_lsn: Lsn(r.u64()?),
                end_lsn: Lsn(r.u64()?),
                commit_time: r.i64()?,
            }
        }
        b'R' => Message::Relation(relation(r)?),
        b'I' => {
            let relation = r.u32()?;
            r.expect(b'N')?;
            Message::Insert {
                relation,
                new: tuple(r)?,
            }
        }
        b'U' => {
            let relation = r.u32()?;
            let old = match r.u8()? {
                b'N' => None,
                kind => {
                    let old = (old_kind(kind)?, tuple(r)?);
                    r.expect(b'N')?;
                    Some(old)
                }
            };
            Message::Update {
                relation,
                old,
                new: tuple(r)?,
            }
        }
        b'D' => {
            let relation = r.u32()?;
            let kind = old_kind(r.u8()?)?;
            Message::Delete {
                relation,
                old: (kind, tuple(r)?),
            }
        }
        other => Message::Other(other),
    })
}

fn old_kind(byte: u8) -> Result<OldKind, String> {
    match byte {
        b'K' => Ok(OldKind::Key),
        b'O' => Ok(OldKind::Full),
        b => Err(format!("unknown old-tuple kind {:?}", char::from(b))),
    }
}

fn relation(r: &mut Reader<'_>) -> Result<Relation, String> {
    let id = r.u32()?;
    let schema = r.cstr()?;
    let name = r.cstr()?;
    let _replica_identity = r.u8()?;
    let count = r.u16()?;
    let mut columns = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let flags = r.u8()?;
        let name = r.cstr()?;
        let type_oid = r.u32()?;
        let _typmod = r.u32()?;
        columns.push(Column {
            key: flags & 1 == 1,
            name,
            type_oid,
        });
    }
    Ok(Relation {
        id,
        schema,
        name,
        columns,
    })
}

fn tuple(r: &mut Reader<'_>) -> Result<Vec<Value>, String> {
    let count = r.u16()?;
    let mut values = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        values.push(match r.u8()? {
            b'n' => Value::Null,
            b'u' => Value::Unchanged,
            b't' => {
                let len = r.u32()? as usize;
                Value::Text(String::from_utf8_lossy(r.take(len)?).into_owned())
            }
            b => return Err(format!("unknown tuple value kind {:?}", char::from(b))),
        });
    }
    Ok(values)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn expect(&mut self, byte: u8) -> Result<(), String> {
        match self.u8()? {
            b if b == byte => Ok(()),
            b => Err(format!(
                "expected {:?}, found {:?}",
                char::from(byte),
                char::from(b)
            )),
        }
    }
    fn cstr(&mut self) -> Result<String, String> {
        let rest = &self.data[self.pos..];
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| "unterminated string".to_string())?;
        let text = String::from_utf8_lossy(&rest[..len]).into_owned();
        self.pos += len + 1;
        Ok(text)
    }
}

#[cfg(test)]
#[path = "pgoutput_tests.rs"]
mod tests;
