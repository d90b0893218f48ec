//! Names derived from an `on.cdc` config: the slot, the publication, and the DSN as shown in
//! messages (password hidden). Consumes the config and the workflow name; touches nothing.

use weft_flow::triggers::CdcTrigger;

/// PostgreSQL's identifier length limit.
const MAX_IDENT: usize = 63;

/// The replication slot: `slot` when given, else `weft_<workflow>` (`-` becomes `_`).
pub fn slot_name(config: &CdcTrigger, workflow: &str) -> String {
    match &config.slot {
        Some(slot) => slot.clone(),
        None => truncate(format!("weft_{}", workflow.replace('-', "_"))),
    }
}

/// The publication that lists the watched tables: `weft_<slot>`.
pub fn publication_name(slot: &str) -> String {
    truncate(format!("weft_{slot}"))
}

/// The DSN with its password replaced by `***`, for logs, health and cursor keys.
pub fn shown_dsn(dsn: &str) -> String {
    let Some((scheme, rest)) = dsn.split_once("://") else {
        return "<dsn>".to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let tail = tail.split('?').next().unwrap_or_default();
    format!("{scheme}://{authority}{tail}")
}

fn truncate(mut name: String) -> String {
    name.truncate(MAX_IDENT);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(slot: Option<&str>) -> CdcTrigger {
        let mut yaml = "dsn: postgres://u@h/db\ntables: [public.t]\n".to_string();
        if let Some(slot) = slot {
            yaml.push_str(&format!("slot: {slot}\n"));
        }
        yaml_serde::from_str(&yaml).expect("config")
    }

    #[test]
    fn derives_slot_and_publication_names() {
        assert_eq!(slot_name(&config(None), "order-feed"), "weft_order_feed");
        assert_eq!(slot_name(&config(Some("mine")), "order-feed"), "mine");
        assert_eq!(publication_name("mine"), "weft_mine");
        let long = "x".repeat(80);
        assert_eq!(slot_name(&config(None), &long).len(), 63);
        assert_eq!(publication_name(&"y".repeat(63)).len(), 63);
    }

    #[test]
    fn hides_the_password() {
        assert_eq!(
            shown_dsn("postgres://alice:s3cret@db:5432/shop?sslmode=disable"),
            "postgres://alice:***@db:5432/shop"
        );
        assert_eq!(
            shown_dsn("postgres://alice@db/shop"),
            "postgres://alice@db/shop"
        );
        assert_eq!(shown_dsn("postgresql://db"), "postgresql://db");
        assert_eq!(shown_dsn("host=db password=x"), "<dsn>");
    }
}
