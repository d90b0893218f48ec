//! The `with:` of a `uses: code` step and its validation against the agent's limits.
//! Consumes the step's JSON; produces a checked [`CodeWith`]. Touches nothing.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// `uses: code` — run JavaScript in a sandbox.
///
/// ```yaml
/// uses: code
/// with:
///   inputs: { order: "${{ event.data.body }}" }
///   script: |
///     const total = inputs.order.items.reduce((s, i) => s + i.price * i.qty, 0);
///     console.log("total", total);
///     return { total, vip: total > 1000 };
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeWith {
    /// The body of an async JavaScript function (QuickJS, ES2023). It sees `inputs` and
    /// `console` (`log`, `info`, `warn`, `error`, `debug`: lines go to the attempt's log),
    /// may `await`, and `return`s the step's output, which must be JSON (`undefined` becomes
    /// `null`). A `throw` fails the step (`script`, with the message and line). There is no
    /// `require`, `import`, `fetch`, file, network, timer or environment.
    pub script: String,
    /// Any JSON, usually expressions; the script reads it as `inputs`. Default `null`.
    #[serde(default)]
    pub inputs: serde_json::Value,
    /// Heap limit of the script: bytes as an integer, or a string with a binary unit
    /// (`"64MiB"`, `"512 KiB"`, `"1GiB"`). Default 64 MiB; at least 4 MiB and at most the
    /// agent's `max_memory` (default 512 MiB). Over it the step fails with `sandbox_limit`.
    #[serde(default = "CodeWith::default_memory")]
    pub memory: ByteSize,
    /// How long the script may run (`500ms`, `5s`, `1m`). Default 5 s; at most the agent's
    /// `max_timeout` (default 60 s). Past it the script is stopped and the step fails with
    /// `timeout`.
    #[serde(default = "CodeWith::default_timeout", with = "duration")]
    #[schemars(with = "DurationString")]
    pub timeout: Duration,
}

impl CodeWith {
    /// Default of [`CodeWith::memory`]: 64 MiB.
    pub const DEFAULT_MEMORY: u64 = 64 * 1024 * 1024;
    /// Smallest [`CodeWith::memory`]: 4 MiB (the engine itself needs some).
    pub const MIN_MEMORY: u64 = 4 * 1024 * 1024;
    /// Default of [`CodeWith::timeout`]: 5 s.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    fn default_memory() -> ByteSize {
        ByteSize(Self::DEFAULT_MEMORY)
    }

    fn default_timeout() -> Duration {
        Self::DEFAULT_TIMEOUT
    }

    /// A step with this script and defaults for the rest.
    pub fn script(script: impl Into<String>) -> Self {
        Self {
            script: script.into(),
            inputs: serde_json::Value::Null,
            memory: Self::default_memory(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// `Err(message)` when memory or timeout is out of the agent's range.
    pub fn check(&self, max_memory: u64, max_timeout: Duration) -> Result<(), String> {
        if self.memory.0 < Self::MIN_MEMORY || self.memory.0 > max_memory {
            return Err(format!(
                "memory: {} is out of range ({} to {})",
                self.memory,
                ByteSize(Self::MIN_MEMORY),
                ByteSize(max_memory)
            ));
        }
        if self.timeout.is_zero() || self.timeout > max_timeout {
            return Err(format!(
                "timeout: {} is out of range (more than 0 and at most {})",
                humantime::format_duration(self.timeout),
                humantime::format_duration(max_timeout)
            ));
        }
        Ok(())
    }
}

/// A number of bytes, written as an integer or as a string with a binary unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// Parse `"64MiB"`, `"64 MiB"`, `"512KiB"`, `"1GiB"`, `"100B"` or `"1048576"`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let number: u64 = digits.parse().map_err(|_| {
            format!("invalid size `{text}`: expected a number of bytes or e.g. `64MiB`")
        })?;
        let factor: u64 = match unit.trim() {
            "" | "B" => 1,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            other => {
                return Err(format!(
                    "invalid size `{text}`: unknown unit `{other}` (use B, KiB, MiB or GiB)"
                ));
            }
        };
        number
            .checked_mul(factor)
            .map(Self)
            .ok_or_else(|| format!("invalid size `{text}`: too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        for (factor, unit) in [(1u64 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")] {
            if n >= factor && n.is_multiple_of(factor) {
                return write!(f, "{}{unit}", n / factor);
            }
        }
        write!(f, "{n}B")
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number of bytes or a size such as `64MiB`")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ByteSize, E> {
                u64::try_from(v)
                    .map(ByteSize)
                    .map_err(|_| E::custom("a size cannot be negative"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ByteSize, E> {
                ByteSize::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Bytes as an integer, or a string with a binary unit: `64MiB`, `512 KiB`, `1GiB`.",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*[0-9]+\\s*(B|KiB|MiB|GiB)?\\s*$" }
            ]
        })
    }
}

/// Schema stand-in for a duration string.
#[derive(Debug, JsonSchema)]
#[schemars(description = "A duration such as `500ms`, `5s` or `1m`.")]
struct DurationString(#[allow(dead_code)] String);

/// `Duration` as a humantime string.
mod duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map_err(|e| serde::de::Error::custom(format!("invalid duration `{text}`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_units_and_strictness() {
        let with: CodeWith = serde_json::from_value(json!({"script": "return 1"})).expect("parse");
        assert_eq!(with, CodeWith::script("return 1"));
        let with: CodeWith = serde_json::from_value(
            json!({"script": "", "inputs": [1], "memory": "16 MiB", "timeout": "250ms"}),
        )
        .expect("parse");
        assert_eq!(with.memory, ByteSize(16 << 20));
        assert_eq!(with.timeout, Duration::from_millis(250));
        let with: CodeWith =
            serde_json::from_value(json!({"script": "", "memory": 5_000_000})).expect("parse");
        assert_eq!(with.memory, ByteSize(5_000_000));
        for bad in [
            json!({"script": "", "extra": 1}),
            json!({"script": "", "memory": "64MB"}),
            json!({"script": "", "memory": -1}),
            json!({"script": "", "timeout": 5}),
            json!({"script": "", "timeout": "soon"}),
            json!({"inputs": 1}),
        ] {
            assert!(
                serde_json::from_value::<CodeWith>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn sizes_print_and_parse() {
        for (text, n) in [
            ("64MiB", 64u64 << 20),
            ("512 KiB", 512 << 10),
            ("1GiB", 1 << 30),
            ("100B", 100),
            ("7", 7),
        ] {
            assert_eq!(ByteSize::parse(text), Ok(ByteSize(n)), "{text}");
        }
        assert_eq!(ByteSize(64 << 20).to_string(), "64MiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
        assert!(ByteSize::parse("99999999999999GiB").is_err());
    }

    #[test]
    fn ranges_are_checked() {
        let max = 512 << 20;
        let t = Duration::from_secs(60);
        assert!(CodeWith::script("").check(max, t).is_ok());
        let mut with = CodeWith::script("");
        with.memory = ByteSize(1 << 30);
        assert!(with.check(max, t).expect_err("too much").contains("memory"));
        with.memory = ByteSize(1024);
        assert!(with.check(max, t).is_err());
        let mut with = CodeWith::script("");
        with.timeout = Duration::from_secs(61);
        assert!(
            with.check(max, t)
                .expect_err("too long")
                .contains("timeout")
        );
    }

    #[test]
    fn the_schema_documents_every_field() {
        let schema = serde_json::to_value(schemars::schema_for!(CodeWith)).expect("schema");
        for field in ["script", "inputs", "memory", "timeout"] {
            let description = &schema["properties"][field]["description"];
            assert!(
                description.as_str().is_some_and(|d| !d.is_empty()),
                "{field}: {schema}"
            );
        }
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["required"], json!(["script"]));
    }
}
