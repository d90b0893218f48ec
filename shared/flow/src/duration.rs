//! Durations written as `500ms`, `10s`, `5m`, `1h30m` (humantime).

use std::time::Duration;

use schemars::JsonSchema;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

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

/// Parses inside the deserializer's own call, so that an invalid duration is reported at
/// the value's position (not at the enclosing object's).
struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as `500ms`, `10s` or `1h30m`")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }
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
        d.deserialize_str(DurationVisitor)
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

    /// Deserialize from a humantime string (or null).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        d.deserialize_option(OptionVisitor)
    }

    struct OptionVisitor;

    impl<'de> Visitor<'de> for OptionVisitor {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a duration such as `10s`, or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(DurationVisitor).map(Some)
        }
    }
}
