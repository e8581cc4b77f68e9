//! Feedback's use cases: each validates with the domain rules, changes state through the store,
//! and writes its events in the same transaction.

mod catalog;
mod commands;
mod intake;
mod limits;
mod placement;
mod query;
pub mod replica;
mod status;
mod submit;
pub mod tickets;

pub use query::{Listing, ReportPage, page_size};

use crate::settings::Settings;
use flywheel_runtime::writer::Writer;
use std::sync::Arc;

#[derive(Clone)]
pub struct Feedback {
    writer: Writer,
    settings: Arc<Settings>,
    intake: Arc<intake::Intake>,
}

impl Feedback {
    pub fn new(writer: Writer, settings: Settings) -> Self {
        Self { writer, settings: Arc::new(settings), intake: Arc::default() }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.writer.db
    }
}

/// A new server-assigned id: UUIDv7, so id order is submission order (keyset pagination).
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
