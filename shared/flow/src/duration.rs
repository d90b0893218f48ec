//! Durations written as `500ms`, `10s`, `5m`, `1h30m` (humantime).

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serializer};

/// Schema stand-in for a duration string.
#[derive(Debug, JsonSchema)]
#[schemars(description = "A duration such as `500ms`, `10s`, `5m` or `1h30m`.")]
pub struct DurationString(#[allow(dead_code)] String);

fn parse(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim()).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

fn format(d: &Duration) -> String {
    humantime::format_duration(*d).to_string()
}

/// `Duration` fields.
pub mod required {
    use super::*;

    /// Serialize as a humantime string.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(d))
    }

    /// Deserialize from a humantime string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `Option<Duration>` fields.
pub mod option {
    use super::*;

    /// Serialize as a humantime string.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format(d)),
            None => s.serialize_none(),
        }
    }

    /// Deserialize from a humantime string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = Option::<String>::deserialize(d)?;
        s.map(|s| parse(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}
