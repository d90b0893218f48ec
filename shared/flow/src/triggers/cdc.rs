//! `on.cdc`: row changes in a PostgreSQL database, through logical decoding.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Check, Problem, required};

/// `on.cdc`: each committed row change of the listed tables becomes a
/// `dev.weft.cdc.row.{inserted,updated,deleted}` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CdcTrigger {
    /// Connection string of the source database (`postgres://…`); the server needs
    /// `wal_level=logical`. `${{ secrets.NAME }}` keeps credentials out of the file.
    pub dsn: String,
    /// Tables as `schema.table`.
    pub tables: Vec<String>,
    /// Which changes fire. Default: all three.
    #[serde(default = "CdcTrigger::default_operations")]
    pub operations: Vec<CdcOperation>,
    /// Replication slot name (created when missing). Default: derived from the workflow name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// How often the slot is read when idle (and the slot's position confirmed, so an idle
    /// slot does not hold WAL).
    #[serde(
        default = "CdcTrigger::default_poll_interval",
        with = "crate::duration::required"
    )]
    #[schemars(with = "crate::duration::DurationString")]
    pub poll_interval: Duration,
}

impl CdcTrigger {
    fn default_operations() -> Vec<CdcOperation> {
        vec![
            CdcOperation::Insert,
            CdcOperation::Update,
            CdcOperation::Delete,
        ]
    }
    fn default_poll_interval() -> Duration {
        Duration::from_secs(1)
    }
}

impl Check for CdcTrigger {
    fn check(&self) -> Result<(), Problem> {
        required("dsn", &self.dsn)?;
        if !is_dsn(&self.dsn) {
            return Err(Problem::new(
                "dsn",
                "`dsn` must be a postgres:// (or postgresql://) URL or a `${{ secrets.NAME }}` reference",
            ));
        }
        if self.tables.is_empty() {
            return Err(Problem::new(
                "tables",
                "`tables` must name at least one table",
            ));
        }
        if let Some(t) = self.tables.iter().find(|t| !is_qualified(t)) {
            return Err(Problem::new(
                "tables",
                format!("table `{t}` must be written as schema.table"),
            ));
        }
        if self.operations.is_empty() {
            return Err(Problem::new(
                "operations",
                "`operations` must name at least one of insert, update, delete",
            ));
        }
        if let Some(slot) = &self.slot
            && !is_slot_name(slot)
        {
            return Err(Problem::new(
                "slot",
                format!(
                    "slot `{slot}` may hold only lowercase letters, digits and `_` (at most 63)"
                ),
            ));
        }
        Ok(())
    }
}

fn is_dsn(dsn: &str) -> bool {
    let dsn = dsn.trim();
    ["postgres://", "postgresql://", "${{"]
        .iter()
        .any(|prefix| dsn.starts_with(prefix))
}

fn is_qualified(t: &str) -> bool {
    let mut parts = t.split('.');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_alphanumeric() || c == '_'))
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

fn is_slot_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A kind of row change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CdcOperation {
    /// A new row.
    Insert,
    /// A changed row.
    Update,
    /// A removed row.
    Delete,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<(), Problem> {
        let config: CdcTrigger = yaml_serde::from_str(yaml).expect("deserializes");
        config.check()
    }

    fn field(yaml: &str) -> &'static str {
        check(yaml).expect_err("rejected").field
    }

    #[test]
    fn accepts_a_full_and_a_minimal_config() {
        check("{dsn: 'postgres://u@h/db', tables: [public.orders]}").expect("minimal");
        check(
            "{dsn: '${{ secrets.DSN }}', tables: [shop.orders, shop.items], operations: [delete], \
             slot: weft_orders_2, poll_interval: 5s}",
        )
        .expect("full");
    }

    #[test]
    fn rejects_bad_fields_by_name() {
        assert_eq!(field("{dsn: '', tables: [a.b]}"), "dsn");
        assert_eq!(field("{dsn: 'host=db user=u', tables: [a.b]}"), "dsn");
        assert_eq!(field("{dsn: 'postgres://h/db', tables: []}"), "tables");
        assert_eq!(
            field("{dsn: 'postgres://h/db', tables: [orders]}"),
            "tables"
        );
        assert_eq!(field("{dsn: 'postgres://h/db', tables: [a.b.c]}"), "tables");
        assert_eq!(
            field("{dsn: 'postgres://h/db', tables: [a.b], operations: []}"),
            "operations"
        );
        assert_eq!(
            field("{dsn: 'postgres://h/db', tables: [a.b], slot: Bad-Slot}"),
            "slot"
        );
        let long = "s".repeat(64);
        assert_eq!(
            field(&format!(
                "{{dsn: 'postgres://h/db', tables: [a.b], slot: {long}}}"
            )),
            "slot"
        );
    }
}
