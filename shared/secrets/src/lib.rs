//! Secrets: named values sealed with AES-256-GCM under the master key (`WEFT_MASTER_KEY`),
//! kept in the JetStream key-value bucket `weft_secrets`, and resolved only where they are
//! used — by a trigger service for its `on:` block and by an executor for a step's `with` —
//! never by the router, so no clear value reaches the bus, execution history or logs.
//!
//! - [`MasterKey`] / [`seal`] / [`open`]: the crypto (ring's AES-256-GCM, a random 96-bit nonce
//!   per value, the secret's name as associated data so a sealed value cannot be moved to
//!   another name).
//! - [`SecretStore`]: put, list (names and dates only), delete — what the admin API uses.
//! - [`Secrets`]: a live, read-only view for services, and [`Secrets::resolve`], which replaces
//!   every `${{ secrets.NAME }}` inside the strings of a JSON value.
//!
//! Touches NATS (the bucket) only.

mod crypto;
mod reference;
mod store;

pub use crypto::{MasterKey, Sealed, open, seal};
pub use reference::{has_references, is_secret_ref, references, substitute};
pub use store::{SecretInfo, SecretRecord, SecretStore, Secrets, is_valid_name};

/// Secret failures, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `WEFT_MASTER_KEY` is missing or malformed.
    #[error("master key: {0}")]
    MasterKey(String),
    /// A value could not be decrypted (wrong master key, or the stored value was tampered with).
    #[error("secret `{name}` cannot be decrypted with this master key")]
    Decrypt {
        /// The secret.
        name: String,
    },
    /// A referenced secret does not exist.
    #[error("secret `{name}` is not defined (PUT /api/v1/secrets/{name})")]
    Missing {
        /// The secret.
        name: String,
    },
    /// The secrets bucket has not been read yet.
    #[error("secrets are not loaded yet")]
    NotLoaded,
    /// A name that is not `[A-Za-z_][A-Za-z0-9_]*` (at most 128 characters).
    #[error(
        "invalid secret name `{0}`: use letters, digits and `_`, not starting with a digit, at most 128 characters"
    )]
    InvalidName(String),
    /// The bucket could not be read or written.
    #[error(transparent)]
    Bus(#[from] weft_bus::BusError),
}
