//! The registry's use cases: each validates with the domain rules, changes state through the
//! store, and writes its event in the same transaction.

mod assets;
mod categories;
mod regions;
mod sites;
mod zones;

use flywheel_runtime::pagination;
use flywheel_runtime::writer::Writer;
use flywheel_runtime::Result;

#[derive(Clone)]
pub struct Registry {
    writer: Writer,
}

impl Registry {
    pub fn new(writer: Writer) -> Self {
        Self { writer }
    }

    fn db(&self) -> &sea_orm::DatabaseConnection {
        &self.writer.db
    }
}

/// A new server-assigned id: UUIDv7, so id order is creation order (keyset pagination).
fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A page of results and the token for the next one.
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

fn next_token(last_id: Option<&str>, more: bool, fingerprint: u64) -> String {
    match last_id {
        Some(id) if more => pagination::encode_token(id, fingerprint),
        _ => String::new(),
    }
}

/// Reads the page size and token of a list request.
fn paging(page_size: i32, token: &str, fingerprint: u64) -> Result<(u64, Option<String>)> {
    Ok((pagination::page_size(page_size)?, pagination::decode_token(token, fingerprint)?))
}
