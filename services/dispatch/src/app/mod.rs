//! Dispatch's use cases: each validates with the domain rules, changes state through the store,
//! and writes its events in the same transaction.

pub mod assign;
mod change;
mod commands;
mod crews;
mod intake;
mod plans;
mod report_tickets;
mod schedulers;
mod tickets;
pub mod watch;

pub use change::Cause;

use crate::index::CrewIndex;
use flywheel_proto::flywheel::dispatch::v1::{Actor, ActorKind};
use flywheel_runtime::writer::Writer;
use flywheel_runtime::{pagination, Result};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Clone)]
pub struct Dispatch {
    writer: Writer,
    index: Arc<CrewIndex>,
    /// Woken after every local ticket commit: live feeds read the change log at once.
    pub changes: Arc<Notify>,
    /// Woken when crews, load or the replica changed: unassignable tickets are retried.
    pub retry: Arc<Notify>,
    /// Woken when an SLA deadline may have moved earlier.
    pub sla: Arc<Notify>,
    /// Woken when a work plan changed.
    pub plans: Arc<Notify>,
}

impl Dispatch {
    pub fn new(writer: Writer) -> Self {
        Self {
            writer,
            index: Arc::new(CrewIndex::default()),
            changes: Arc::new(Notify::new()),
            retry: Arc::new(Notify::new()),
            sla: Arc::new(Notify::new()),
            plans: Arc::new(Notify::new()),
        }
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.writer.db
    }

    /// Whether the process is stopping: the host closes the database last, after the calls and
    /// consumers, so live feeds end when they find it closed.
    async fn stopping(&self) -> bool {
        use sea_orm::{ConnAcquireErr, DbErr};
        matches!(self.db().ping().await, Err(DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed)))
    }

    /// Tells the background loops and live feeds that tickets changed (after the commit).
    pub(crate) fn ticket_changed(&self) {
        self.changes.notify_waiters();
        self.sla.notify_one();
    }
}

/// A new server-assigned id: UUIDv7, so id order is creation order.
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Dispatch itself acting: automatic dispatch, the SLA and plan schedulers.
pub fn system(component: &str) -> Cause {
    Cause {
        actor: Actor { kind: ActorKind::System as i32, id: component.to_owned(), ..Default::default() },
        request_id: String::new(),
    }
}

/// A page of results and the token for the next one.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

fn next_token(last_key: Option<&str>, more: bool, fingerprint: u64) -> String {
    match last_key {
        Some(k) if more => pagination::encode_token(k, fingerprint),
        _ => String::new(),
    }
}

/// Reads the page size and token of a list request.
fn paging(page_size: i32, token: &str, fingerprint: u64) -> Result<(u64, Option<String>)> {
    Ok((pagination::page_size(page_size)?, pagination::decode_token(token, fingerprint)?))
}
