//! [`TestDb`]: creates a uniquely named database (`weft_test_<uuid>`) on the PostgreSQL
//! server named by `WEFT_TEST_PG_URL` (which `scripts/test` starts and exports), and drops
//! it (`DROP DATABASE … WITH (FORCE)`) on drop. Starts no server itself.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::{Connection as _, PgConnection};

const ENV: &str = "WEFT_TEST_PG_URL";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A fresh database, dropped when this value is dropped.
#[derive(Debug)]
pub struct TestDb {
    /// URL of the new database (the server URL with its path replaced).
    pub url: String,
    /// The database name, `weft_test_<uuid simple>`.
    pub name: String,
    admin_url: String,
}

impl TestDb {
    /// Creates the database. Fails with a message naming `scripts/test` when
    /// `WEFT_TEST_PG_URL` is unset or its server does not answer.
    pub async fn create() -> anyhow::Result<Self> {
        crate::init_crypto();
        let admin_url = std::env::var(ENV)
            .ok()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "{ENV} is not set. Run the tests with scripts/test, which starts PostgreSQL 15 \
                 and sets it, or set it to a server you own, e.g. \
                 {ENV}=postgres://postgres@127.0.0.1:55432/postgres (see scripts/services)"
                )
            })?;
        let mut conn = connect(&admin_url).await?;
        let name = format!("weft_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .with_context(|| format!("CREATE DATABASE {name} on {ENV}={admin_url}"))?;
        let _ = conn.close().await;
        let url = with_database(&admin_url, &name)?;
        Ok(Self {
            url,
            name,
            admin_url,
        })
    }

    /// A small connection pool (5 connections) to this database.
    pub async fn pool(&self) -> anyhow::Result<sqlx::PgPool> {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(&self.url)
            .await
            .with_context(|| format!("connecting a pool to {}", self.url))
    }

    /// One connection to this database.
    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        connect(&self.url).await
    }

    /// URL of the server's administrative database (`WEFT_TEST_PG_URL`).
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // Drop may run inside a tokio runtime, which cannot block on another one:
        // use a thread with its own small runtime, and never panic.
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropper = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let drop_it = async {
                    let mut conn = connect(&admin_url).await?;
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await?;
                    let _ = conn.close().await;
                    anyhow::Ok(())
                };
                match tokio::time::timeout(Duration::from_secs(30), drop_it).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => tracing::warn!("dropping test database {name}: {e:#}"),
                    Err(_) => tracing::warn!("dropping test database {name}: timed out"),
                }
            });
        });
        let _ = dropper.join();
    }
}

async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect(url)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context(format!(
            "cannot connect to PostgreSQL at {url}; is it running? scripts/test starts it \
             (or: eval \"$(scripts/services start pg)\")"
        ))),
        Err(_) => anyhow::bail!(
            "connecting to PostgreSQL at {url} timed out after {CONNECT_TIMEOUT:?}; \
             scripts/test starts it (or: eval \"$(scripts/services start pg)\")"
        ),
    }
}

/// `base` with its database (path) replaced by `name`.
fn with_database(base: &str, name: &str) -> anyhow::Result<String> {
    let mut url =
        reqwest::Url::parse(base).with_context(|| format!("{ENV}={base} is not a URL"))?;
    url.set_path(&format!("/{name}"));
    Ok(url.into())
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database() -> anyhow::Result<()> {
        assert_eq!(
            with_database(
                "postgres://postgres@127.0.0.1:55432/postgres?sslmode=disable",
                "x"
            )?,
            "postgres://postgres@127.0.0.1:55432/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u:p@h:1", "y")?,
            "postgres://u:p@h:1/y"
        );
        Ok(())
    }
}
