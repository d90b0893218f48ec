//! Run commands from the admin API (`weft.commands.executions`, see [`weft_events::Command`]):
//! cancel an execution, decide an `approval` step. Each is decided under the execution's lock
//! like any other input (journaled as `cancel` or `decision`); one that no longer applies (the
//! run ended, the step stopped waiting, `by` may not decide) changes nothing. A command that
//! cannot be read is dead-lettered; while the database is unreachable one waits.

use std::{sync::Arc, time::Duration};

use weft_bus::{Delivery, Disposition, Handler};
use weft_engine::Input;
use weft_events::Command;

use crate::{RouterError, engine, service::Shared};

pub(crate) struct CommandHandler {
    shared: Arc<Shared>,
}

impl CommandHandler {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    async fn apply(&self, command: Command) -> Result<(), RouterError> {
        let id = command.execution_id();
        let store = &self.shared.store;
        let mut tx = store.begin().await?;
        let Some(engine::Locked { exec, def, st }) =
            engine::lock_unended(&self.shared, &mut tx, id).await?
        else {
            return Ok(()); // ended (or deleted) meanwhile
        };
        let input = match command {
            Command::Cancel { reason, .. } => Input::Cancel { reason },
            Command::Decide {
                step,
                approved,
                by,
                comment,
                ..
            } => Input::Decision {
                step,
                approved,
                by,
                comment,
            },
        };
        let batch = engine::decide(&mut tx, &exec, st, &def, input, engine::now()).await?;
        if batch.journal.is_empty() {
            return Ok(());
        }
        engine::commit(&self.shared, tx, batch, "deciding a run command").await
    }
}

impl Handler for CommandHandler {
    async fn handle(&self, delivery: Delivery) -> Disposition {
        let command = weft_events::decode_event(&delivery.payload)
            .map_err(|e| e.to_string())
            .and_then(|ev| weft_events::envelope::data_json(&ev).map_err(|e| e.to_string()))
            .and_then(|data| serde_json::from_value::<Command>(data).map_err(|e| e.to_string()));
        let command = match command {
            Ok(c) => c,
            Err(e) => return Disposition::DeadLetter(format!("not a run command: {e}")),
        };
        let id = command.execution_id();
        match self.apply(command).await {
            Ok(()) => Disposition::Ack,
            Err(e) => {
                tracing::warn!(execution = %id, error = %e, "a run command was not decided; will retry");
                e.disposition(Duration::from_secs(1))
            }
        }
    }
}
