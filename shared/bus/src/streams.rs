//! The streams (events, tasks, results, dead letters, commands), created or updated
//! idempotently at start.

use std::time::Duration;

use async_nats::jetstream::stream::{Config, RetentionPolicy, StorageType};
use weft_events::subjects;

use crate::{Bus, BusError};

/// How long a re-published message with the same `Nats-Msg-Id` is dropped.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

fn configs() -> Vec<Config> {
    let day = Duration::from_secs(24 * 3600);
    let base = |name: &str, subject: &str| Config {
        name: name.into(),
        subjects: vec![subject.into()],
        storage: StorageType::File,
        duplicate_window: DUPLICATE_WINDOW,
        ..Default::default()
    };
    vec![
        Config {
            max_age: 7 * day,
            ..base(subjects::EVENTS_STREAM, subjects::EVENTS_ALL)
        },
        Config {
            retention: RetentionPolicy::WorkQueue,
            ..base(subjects::TASKS_STREAM, subjects::TASKS_ALL)
        },
        Config {
            retention: RetentionPolicy::WorkQueue,
            ..base(subjects::RESULTS_STREAM, subjects::RESULTS_ALL)
        },
        Config {
            max_age: 14 * day,
            ..base(subjects::DLQ_STREAM, subjects::DLQ_ALL)
        },
        Config {
            retention: RetentionPolicy::WorkQueue,
            ..base(subjects::COMMANDS_STREAM, subjects::COMMANDS_ALL)
        },
    ]
}

impl Bus {
    /// Create the streams, or bring an existing one's config up to date.
    pub async fn ensure_streams(&self) -> Result<(), BusError> {
        for config in configs() {
            let name = config.name.clone();
            self.js
                .create_or_update_stream(config)
                .await
                .map_err(|e| BusError::js(format!("creating stream {name}"), e))?;
        }
        Ok(())
    }
}
