//! Writing state and events together: one transaction holds the domain change, its outbox rows
//! and (for client request ids) the idempotency key, so either all of it happens or none.

use crate::db::begin_write;
use crate::error::{Error, Result};
use crate::events::OutgoingEvent;
use crate::events::outbox::{self, Outbox};
use crate::idempotency;
use sea_orm::{DatabaseConnection, DatabaseTransaction};

#[derive(Clone)]
pub struct Writer {
    pub db: DatabaseConnection,
    pub outbox: Outbox,
}

impl Writer {
    pub fn new(db: DatabaseConnection, outbox: Outbox) -> Self {
        Self { db, outbox }
    }

    /// Runs `change` in a write transaction and commits it with the events it returns; an error
    /// rolls everything back.
    pub async fn write<T>(
        &self,
        change: impl AsyncFnOnce(&DatabaseTransaction) -> Result<(T, Vec<OutgoingEvent>)>,
    ) -> Result<T> {
        let txn = begin_write(&self.db).await?;
        let (value, events) = change(&txn).await?;
        outbox::enqueue_all(&txn, &events).await?;
        txn.commit().await?;
        if !events.is_empty() {
            self.outbox.notify();
        }
        Ok(value)
    }

    /// Like [`write`](Self::write) for a create or command carrying a client request id
    /// (AIP-155): the first call runs `change`, which returns the id of the resource it made or
    /// changed; a retry with the same id runs nothing and returns that id again.
    pub async fn write_once(
        &self,
        scope: &str,
        request_id: &str,
        change: impl AsyncFnOnce(&DatabaseTransaction) -> Result<(String, Vec<OutgoingEvent>)>,
    ) -> Result<String> {
        check_request_id(request_id)?;
        let result = self
            .write(async |txn| {
                if let Some(id) = idempotency::lookup(txn, scope, request_id).await? {
                    return Ok((id, Vec::new()));
                }
                let (id, events) = change(txn).await?;
                idempotency::remember(txn, scope, request_id, &id).await?;
                Ok((id, events))
            })
            .await;
        match result {
            // A concurrent retry with the same request id may have committed first.
            Err(err) if !request_id.is_empty() => {
                match idempotency::lookup(&self.db, scope, request_id).await? {
                    Some(id) => Ok(id),
                    None => Err(err),
                }
            }
            other => other,
        }
    }
}

/// INVALID_ARGUMENT for a client request id longer than 128 characters or with control characters.
pub fn check_request_id(request_id: &str) -> Result<()> {
    if request_id.chars().count() > 128 || request_id.chars().any(char::is_control) {
        return Err(Error::invalid("request_id", "must be at most 128 characters without control characters"));
    }
    Ok(())
}
