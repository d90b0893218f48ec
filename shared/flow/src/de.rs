//! Hand-written `Deserialize` impls for the model's "one of several shapes" types.
//!
//! Consumes any serde deserializer (yaml_serde, serde_json); produces [`OneOrMany`] and
//! [`StringMatch`]. serde's derived untagged impls buffer the input and, when no variant
//! matches, report only "data did not match any variant": the inner error (an unknown field, a
//! wrong type) and its position are lost. These impls look at the input's shape first and hand
//! the input itself to the right variant, so the inner error keeps its message, path and line.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{
    self, Deserialize, Deserializer, IgnoredAny, IntoDeserializer, MapAccess, Visitor,
};

use crate::model::{MatchPattern, OneOrMany, StringMatch};

/// `Option<T>` where an explicit null means `Some(T::default())` (a bare `manual:` in YAML).
pub(crate) fn null_is_default<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(d)?.unwrap_or_default()))
}

struct OneOrManyVisitor<T>(PhantomData<T>);

/// A scalar given where one object or a list is expected: say that a list is fine too.
fn one<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<OneOrMany<T>, D::Error> {
    T::deserialize(d)
        .map(OneOrMany::One)
        .map_err(|e| de::Error::custom(format!("{e} (or a list of them)")))
}

macro_rules! forward_scalar {
    ($($method:ident: $ty:ty),*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            one(IntoDeserializer::<E>::into_deserializer(v))
        }
    )*};
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrManyVisitor<T> {
    type Value = OneOrMany<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("one value or a list of them")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(OneOrMany::One)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Vec::<T>::deserialize(SeqAccessDeserializer::new(seq)).map(OneOrMany::Many)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        one(IntoDeserializer::<E>::into_deserializer(v.to_owned()))
    }

    forward_scalar!(visit_string: String, visit_bool: bool, visit_i64: i64, visit_u64: u64, visit_f64: f64);

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        one(IntoDeserializer::<E>::into_deserializer(()))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OneOrManyVisitor(PhantomData))
    }
}

struct StringMatchVisitor;

impl<'de> Visitor<'de> for StringMatchVisitor {
    type Value = StringMatch;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, {prefix: …} or {suffix: …}")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(StringMatch::Exact(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(StringMatch::Exact(v))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "expected {prefix: …} or {suffix: …}, got {}",
            ));
        };
        let pattern = match key.as_str() {
            "prefix" => MatchPattern::Prefix(map.next_value()?),
            "suffix" => MatchPattern::Suffix(map.next_value()?),
            other => return Err(de::Error::unknown_field(other, &["prefix", "suffix"])),
        };
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(
                "expected exactly one of `prefix` or `suffix`",
            ));
        }
        Ok(StringMatch::Pattern(pattern))
    }
}

impl<'de> Deserialize<'de> for StringMatch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StringMatchVisitor)
    }
}
