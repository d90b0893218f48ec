//! The development master key `weft dev` uses when `WEFT_MASTER_KEY` is unset: created once
//! with 32 random bytes and kept (mode 0600) in `$XDG_CONFIG_HOME/weft/master.key`
//! (default `~/.config/weft/master.key`), so secrets stored on a laptop survive restarts.
//! Touches that one file.

use std::path::PathBuf;

use anyhow::Context;
use weft_secrets::MasterKey;

/// The key (base64) and where it is kept.
pub fn load_or_create() -> anyhow::Result<(String, PathBuf)> {
    let path = path()?;
    if let Ok(text) = std::fs::read_to_string(&path) {
        MasterKey::parse(&text)
            .with_context(|| format!("{} holds no valid key", path.display()))?;
        return Ok((text.trim().to_string(), path));
    }
    let key = MasterKey::generate()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(&path, &key).with_context(|| format!("writing {}", path.display()))?;
    Ok((key, path))
}

fn path() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".config"),
    };
    Ok(base.join("weft").join("master.key"))
}

#[cfg(unix)]
fn write_private(path: &std::path::Path, key: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(key.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &std::path::Path, key: &str) -> std::io::Result<()> {
    std::fs::write(path, key)
}
