//! AES-256-GCM sealing with ring (already in the dependency graph through rustls; a
//! well-kept, audited implementation). Consumes the master key and plaintext; produces
//! [`Sealed`] values (base64 nonce and ciphertext+tag). No I/O.

use base64::{Engine, engine::general_purpose::STANDARD as B64};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::SecretError;

/// The 256-bit key every secret is sealed under.
pub struct MasterKey(LessSafeKey);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// Parse a key written as 64 hex digits or as base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|e| SecretError::MasterKey(e.to_string()))?
        } else {
            B64.decode(text).map_err(|_| {
                SecretError::MasterKey(
                    "expected 64 hex digits or the base64 of 32 random bytes".into(),
                )
            })?
        };
        Self::from_bytes(&bytes)
    }

    /// A key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        if bytes.len() != 32 {
            return Err(SecretError::MasterKey(format!(
                "expected 32 bytes (256 bits), got {}",
                bytes.len()
            )));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| SecretError::MasterKey("unusable key".into()))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// A fresh random key, base64-encoded (what `weft dev` stores for a laptop).
    pub fn generate() -> Result<String, SecretError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| SecretError::MasterKey("no system randomness".into()))?;
        Ok(B64.encode(bytes))
    }

    /// From `WEFT_MASTER_KEY`, when set.
    pub fn from_env() -> Result<Option<Self>, SecretError> {
        match std::env::var("WEFT_MASTER_KEY") {
            Ok(v) if !v.trim().is_empty() => Self::parse(&v).map(Some),
            _ => Ok(None),
        }
    }
}

/// A sealed value as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Format version (1 = AES-256-GCM, 96-bit nonce, name as associated data).
    pub v: u8,
    /// Base64 nonce.
    pub nonce: String,
    /// Base64 ciphertext with the 128-bit tag appended.
    pub ciphertext: String,
}

/// Seal `plaintext` for the secret `name`.
pub fn seal(key: &MasterKey, name: &str, plaintext: &str) -> Result<Sealed, SecretError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SecretError::MasterKey("no system randomness".into()))?;
    let mut buf = plaintext.as_bytes().to_vec();
    key.0
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(name.as_bytes()),
            &mut buf,
        )
        .map_err(|_| SecretError::MasterKey("sealing failed".into()))?;
    Ok(Sealed {
        v: 1,
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(buf),
    })
}

/// Open a value sealed for `name`.
pub fn open(key: &MasterKey, name: &str, sealed: &Sealed) -> Result<String, SecretError> {
    let fail = || SecretError::Decrypt { name: name.into() };
    let nonce: [u8; NONCE_LEN] = B64
        .decode(&sealed.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or_else(fail)?;
    let mut buf = B64.decode(&sealed.ciphertext).map_err(|_| fail())?;
    let plain = key
        .0
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(name.as_bytes()),
            &mut buf,
        )
        .map_err(|_| fail())?;
    String::from_utf8(plain.to_vec()).map_err(|_| fail())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::parse(&MasterKey::generate().expect("random")).expect("key")
    }

    #[test]
    fn round_trip_and_no_clear_text() {
        let k = key();
        let sealed = seal(&k, "API_TOKEN", "hunter2-very-secret").expect("seal");
        assert!(!sealed.ciphertext.contains("hunter2"));
        assert_eq!(
            open(&k, "API_TOKEN", &sealed).expect("open"),
            "hunter2-very-secret"
        );
    }

    #[test]
    fn bound_to_name_and_key() {
        let k = key();
        let sealed = seal(&k, "A", "x").expect("seal");
        assert!(matches!(
            open(&k, "B", &sealed),
            Err(SecretError::Decrypt { .. })
        ));
        assert!(matches!(
            open(&key(), "A", &sealed),
            Err(SecretError::Decrypt { .. })
        ));
    }

    #[test]
    fn nonces_differ() {
        let k = key();
        let a = seal(&k, "A", "x").expect("seal");
        let b = seal(&k, "A", "x").expect("seal");
        assert_ne!(a.nonce, b.nonce);
    }

    #[test]
    fn parses_hex_and_base64_and_rejects_short_keys() {
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse(&MasterKey::generate().expect("random")).is_ok());
        assert!(MasterKey::parse("c2hvcnQ=").is_err());
        assert!(MasterKey::parse("not a key!").is_err());
    }
}
