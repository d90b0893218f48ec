//! Workflow definitions and their versions. A delete is soft: history stays readable.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::{Ctx, Store, StoreError};

/// One stored version of a workflow.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkflowVersion {
    /// Workflow name.
    pub name: String,
    /// Version, from 1.
    pub version: i32,
    /// `yaml` or `json`.
    pub format: String,
    /// The source as applied.
    pub source: String,
    /// The parsed definition (a `weft_flow::Workflow` as JSON).
    pub definition: Value,
    /// Digest of the definition, to detect "nothing changed".
    pub digest: String,
    /// When this version was applied.
    pub created_at: DateTime<Utc>,
}

/// A live workflow with its current version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkflowRecord {
    /// Name.
    pub name: String,
    /// Current version.
    pub current_version: i32,
    /// First applied.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Description from the definition.
    pub description: Option<String>,
    /// The current version's definition.
    pub definition: Value,
    /// The current version's source.
    pub source: String,
    /// The current version's format.
    pub format: String,
}

/// What applying did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new workflow, at version 1.
    Created(i32),
    /// A new version of an existing workflow.
    Updated(i32),
    /// Same definition as the current version; nothing written.
    Unchanged(i32),
}

impl Applied {
    /// The current version after applying.
    pub fn version(self) -> i32 {
        match self {
            Self::Created(v) | Self::Updated(v) | Self::Unchanged(v) => v,
        }
    }
}

/// What to store for a new version.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    /// Name.
    pub name: &'a str,
    /// `yaml` or `json`.
    pub format: &'a str,
    /// The source text.
    pub source: &'a str,
    /// The parsed definition.
    pub definition: &'a Value,
    /// Digest of the definition.
    pub digest: &'a str,
}

impl Store {
    /// Create a workflow, add a version, or do nothing when the definition is unchanged.
    /// Re-applying a deleted workflow revives it with a new version.
    pub async fn apply_workflow(&self, new: NewVersion<'_>) -> Result<Applied, StoreError> {
        let mut tx = self.begin().await?;
        let current = sqlx::query!(
            "SELECT w.current_version, w.deleted_at, v.digest FROM workflows w \
             JOIN workflow_versions v ON v.name = w.name AND v.version = w.current_version \
             WHERE w.name = $1 FOR UPDATE OF w",
            new.name,
        )
        .fetch_optional(&mut *tx)
        .await
        .ctx("reading the current workflow version")?
        .map(|r| (r.current_version, r.deleted_at, r.digest));
        let applied = match current {
            Some((v, None, digest)) if digest == new.digest => return Ok(Applied::Unchanged(v)),
            Some((v, deleted, _)) => {
                sqlx::query!(
                    "UPDATE workflows SET current_version = $2, deleted_at = NULL, updated_at = now() WHERE name = $1",
                    new.name,
                    v + 1,
                )
                .execute(&mut *tx)
                .await
                .ctx("updating a workflow")?;
                if deleted.is_some() {
                    Applied::Created(v + 1)
                } else {
                    Applied::Updated(v + 1)
                }
            }
            None => {
                sqlx::query!(
                    "INSERT INTO workflows (name, current_version) VALUES ($1, 1)",
                    new.name,
                )
                .execute(&mut *tx)
                .await
                .ctx("creating a workflow")?;
                Applied::Created(1)
            }
        };
        sqlx::query!(
            "INSERT INTO workflow_versions (name, version, format, source, definition, digest) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            new.name,
            applied.version(),
            new.format,
            new.source,
            new.definition,
            new.digest,
        )
        .execute(&mut *tx)
        .await
        .ctx("storing a workflow version")?;
        tx.commit().await.ctx("committing a workflow version")?;
        Ok(applied)
    }

    /// Every live workflow, by name.
    pub async fn list_workflows(&self) -> Result<Vec<WorkflowRecord>, StoreError> {
        sqlx::query_as!(
            WorkflowRecord,
            "SELECT w.name, w.current_version, w.created_at, w.updated_at, \
             v.definition->>'description' AS description, v.definition, v.source, v.format \
             FROM workflows w JOIN workflow_versions v ON v.name = w.name AND v.version = w.current_version \
             WHERE w.deleted_at IS NULL ORDER BY w.name"
        )
        .fetch_all(&self.pool)
        .await
        .ctx("listing workflows")
    }

    /// One live workflow.
    pub async fn get_workflow(&self, name: &str) -> Result<Option<WorkflowRecord>, StoreError> {
        sqlx::query_as!(
            WorkflowRecord,
            "SELECT w.name, w.current_version, w.created_at, w.updated_at, \
             v.definition->>'description' AS description, v.definition, v.source, v.format \
             FROM workflows w JOIN workflow_versions v ON v.name = w.name AND v.version = w.current_version \
             WHERE w.deleted_at IS NULL AND w.name = $1",
            name,
        )
        .fetch_optional(&self.pool)
        .await
        .ctx("reading a workflow")
    }

    /// Every version of a workflow, newest first (also after a delete).
    pub async fn workflow_versions(&self, name: &str) -> Result<Vec<WorkflowVersion>, StoreError> {
        sqlx::query_as!(
            WorkflowVersion,
            "SELECT name, version, format, source, definition, digest, created_at \
             FROM workflow_versions WHERE name = $1 ORDER BY version DESC",
            name,
        )
        .fetch_all(&self.pool)
        .await
        .ctx("listing workflow versions")
    }

    /// One version (also of a deleted workflow: running executions still need it).
    pub async fn workflow_version(
        &self,
        name: &str,
        version: i32,
    ) -> Result<Option<WorkflowVersion>, StoreError> {
        sqlx::query_as!(
            WorkflowVersion,
            "SELECT name, version, format, source, definition, digest, created_at \
             FROM workflow_versions WHERE name = $1 AND version = $2",
            name,
            version,
        )
        .fetch_optional(&self.pool)
        .await
        .ctx("reading a workflow version")
    }

    /// Soft-delete; returns whether a live workflow was deleted.
    pub async fn delete_workflow(&self, name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query!(
            "UPDATE workflows SET deleted_at = now(), updated_at = now() \
             WHERE name = $1 AND deleted_at IS NULL",
            name,
        )
        .execute(&self.pool)
        .await
        .ctx("deleting a workflow")?;
        Ok(done.rows_affected() == 1)
    }
}
