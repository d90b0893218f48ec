//! `on.webhook.auth` and `on.webhook.respond`: how a webhook request proves where it comes
//! from, and whether the caller waits for the execution's outcome.
//!
//! Consumes nothing (types and pure checks); produces the auth model, written as exactly one
//! of `github`, `stripe`, `standard`, `hmac` or `token`, and [`check`], the apply-time problems
//! of one auth block (field relative to `auth`, message). Secret values never appear in
//! `Debug` output: they are [`Secret`]s. Verification itself lives in the webhook service.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, de};

use crate::locate::Seg;

/// A secret value (a signing key or a token), or a `${{ secrets.NAME }}` reference to one.
/// Printed as `[redacted]` by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for verification only: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is a `${{ … }}` reference rather than the secret itself.
    pub fn is_reference(&self) -> bool {
        self.0.contains("${{")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `on.webhook.auth`: exactly one scheme. A request that fails it is answered 401 and
/// publishes nothing.
// `Deserialize` is written by hand below: YAML's enum form is a tag (`!github`), while the file
// writes a one-key mapping (`github: {…}`), and inner errors must keep their position.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum WebhookAuth {
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`.
    Github(GithubAuth),
    /// Stripe: `Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "{t}.{body}">`.
    Stripe(StripeAuth),
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp` and `webhook-signature` headers.
    Standard(StandardAuth),
    /// Any HMAC signature of the raw body in a header of your choice.
    Hmac(HmacAuth),
    /// A fixed token in a header, compared in constant time.
    Token(TokenAuth),
}

const SCHEMES: &[&str] = &["github", "stripe", "standard", "hmac", "token"];

struct AuthVisitor;

impl<'de> de::Visitor<'de> for AuthVisitor {
    type Value = WebhookAuth;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("exactly one of `github`, `stripe`, `standard`, `hmac` or `token`")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<WebhookAuth, A::Error> {
        let Some(key) = map.next_key::<String>()? else {
            return Err(de::Error::custom(
                "name one scheme: github, stripe, standard, hmac or token",
            ));
        };
        let auth = match key.as_str() {
            "github" => WebhookAuth::Github(map.next_value()?),
            "stripe" => WebhookAuth::Stripe(map.next_value()?),
            "standard" => WebhookAuth::Standard(map.next_value()?),
            "hmac" => WebhookAuth::Hmac(map.next_value()?),
            "token" => WebhookAuth::Token(map.next_value()?),
            other => return Err(de::Error::unknown_variant(other, SCHEMES)),
        };
        if let Some(second) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "exactly one scheme may be given, found `{key}` and `{second}`"
            )));
        }
        Ok(auth)
    }
}

impl<'de> Deserialize<'de> for WebhookAuth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AuthVisitor)
    }
}

/// `auth.github`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GithubAuth {
    /// The webhook secret configured at GitHub (or `${{ secrets.NAME }}`).
    pub secret: Secret,
}

/// `auth.stripe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StripeAuth {
    /// The endpoint's signing secret, `whsec_…` (or `${{ secrets.NAME }}`).
    pub secret: Secret,
    /// How far the signed timestamp may be from now. Default `300s`.
    #[serde(
        default = "StripeAuth::default_tolerance",
        with = "crate::duration::required"
    )]
    #[schemars(with = "crate::duration::DurationString")]
    pub tolerance: Duration,
}

impl StripeAuth {
    /// Default for [`StripeAuth::tolerance`]: 300 s, as Stripe's own libraries.
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

    fn default_tolerance() -> Duration {
        Self::DEFAULT_TOLERANCE
    }
}

/// `auth.standard` (<https://www.standardwebhooks.com/>). The timestamp tolerance is 5 minutes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardAuth {
    /// The base64 signing secret, usually written `whsec_<base64>` (or `${{ secrets.NAME }}`).
    pub secret: Secret,
}

impl StandardAuth {
    /// How far `webhook-timestamp` may be from now.
    pub const TOLERANCE: Duration = Duration::from_secs(300);
}

/// `auth.hmac`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HmacAuth {
    /// The shared key (or `${{ secrets.NAME }}`).
    pub secret: Secret,
    /// The header carrying the signature, e.g. `X-Signature`.
    pub header: String,
    /// Hash function. Default `sha256`.
    #[serde(default)]
    pub algorithm: HmacAlgorithm,
    /// How the signature is written. Default `hex`.
    #[serde(default)]
    pub encoding: SignatureEncoding,
    /// Text before the signature in the header, e.g. `sha256=`. Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// Hash function of `auth.hmac`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HmacAlgorithm {
    /// HMAC-SHA1 (legacy senders only).
    Sha1,
    /// HMAC-SHA256.
    #[default]
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// Text encoding of a signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Hexadecimal (either case).
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

/// `auth.token`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenAuth {
    /// The header carrying the token, e.g. `X-Gitlab-Token`.
    pub header: String,
    /// The expected value (or `${{ secrets.NAME }}`).
    pub value: Secret,
}

impl WebhookAuth {
    /// The request headers this scheme reads secrets from; kept out of the event data.
    pub fn secret_headers(&self) -> Vec<String> {
        let fixed: &[&str] = match self {
            Self::Github(_) => &["x-hub-signature-256"],
            Self::Stripe(_) => &["stripe-signature"],
            Self::Standard(_) => &["webhook-signature"],
            Self::Hmac(h) => return vec![h.header.to_ascii_lowercase()],
            Self::Token(t) => return vec![t.header.to_ascii_lowercase()],
        };
        fixed.iter().map(|h| (*h).to_string()).collect()
    }
}

/// `on.webhook.respond`: when the request is answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Respond {
    /// 202 `{event_id}` as soon as the event is stored on the bus.
    #[default]
    Accepted,
    /// Wait for the execution: 200 with its output, 500 with its error, or 202
    /// `{event_id, execution_id}` when `wait_timeout` runs out.
    Wait,
}

impl Respond {
    /// Whether this is the default (`accepted`).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// The longest `wait_timeout` accepted: an HTTP caller rarely waits longer.
pub const MAX_WAIT_TIMEOUT: Duration = Duration::from_secs(300);

/// The first problem of an auth block: the field below `auth` and a message.
pub fn check(auth: &WebhookAuth) -> Result<(), (Vec<Seg>, String)> {
    let at = |scheme: &str, field: &str| vec![Seg::from(scheme), Seg::from(field)];
    match auth {
        WebhookAuth::Github(g) => secret(&g.secret).map_err(|m| (at("github", "secret"), m)),
        WebhookAuth::Stripe(s) => {
            secret(&s.secret).map_err(|m| (at("stripe", "secret"), m))?;
            if s.tolerance.is_zero() {
                return Err((at("stripe", "tolerance"), "must be more than 0s".into()));
            }
            Ok(())
        }
        WebhookAuth::Standard(s) => {
            secret(&s.secret).map_err(|m| (at("standard", "secret"), m))?;
            if !s.secret.is_reference() && standard_key(s.secret.expose()).is_none() {
                let m = "must be `whsec_` followed by the base64 key";
                return Err((at("standard", "secret"), m.into()));
            }
            Ok(())
        }
        WebhookAuth::Hmac(h) => {
            secret(&h.secret).map_err(|m| (at("hmac", "secret"), m))?;
            header(&h.header).map_err(|m| (at("hmac", "header"), m))
        }
        WebhookAuth::Token(t) => {
            header(&t.header).map_err(|m| (at("token", "header"), m))?;
            secret(&t.value).map_err(|m| (at("token", "value"), m))
        }
    }
}

/// The key of a Standard Webhooks secret: the base64 after an optional `whsec_`.
pub fn standard_key(secret: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let b64 = secret
        .trim()
        .strip_prefix("whsec_")
        .unwrap_or(secret.trim());
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|k| !k.is_empty())
}

fn secret(s: &Secret) -> Result<(), String> {
    let v = s.expose().trim();
    if v.is_empty() {
        return Err("must not be empty".into());
    }
    if s.is_reference() && !is_secret_reference(v) {
        return Err("may only be a value or exactly `${{ secrets.NAME }}`".into());
    }
    Ok(())
}

/// `${{ secrets.NAME }}` and nothing else.
fn is_secret_reference(v: &str) -> bool {
    let Some(inner) = v.strip_prefix("${{").and_then(|r| r.strip_suffix("}}")) else {
        return false;
    };
    let Some(name) = inner.trim().strip_prefix("secrets.") else {
        return false;
    };
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn header(h: &str) -> Result<(), String> {
    const TCHAR: &str = "!#$%&'*+-.^_`|~";
    if h.is_empty() {
        return Err("must name a header".into());
    }
    if !h
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || TCHAR.contains(c))
    {
        return Err(format!("`{h}` is not a valid header name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let auth = WebhookAuth::Github(GithubAuth {
            secret: Secret::new("hunter2"),
        });
        assert!(!format!("{auth:?}").contains("hunter2"));
    }

    #[test]
    fn references_and_standard_keys() {
        assert!(is_secret_reference("${{ secrets.GH_HOOK }}"));
        assert!(!is_secret_reference("${{ secrets.A }} x"));
        assert!(!is_secret_reference("${{ event.id }}"));
        assert_eq!(standard_key("whsec_aGk="), Some(b"hi".to_vec()));
        assert_eq!(standard_key("whsec_!!"), None);
        assert_eq!(standard_key("whsec_"), None);
    }
}
