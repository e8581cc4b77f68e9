//! Stored rows as the contract's messages.

use crate::domain::{duty, time::timestamp};
use crate::store::{self, entities::crew};
use flywheel_proto::flywheel::dispatch::v1::Crew;
use flywheel_runtime::Result;

/// A crew's configuration as stored (without the load and duty read at call time).
pub fn crew_config(row: &crew::Model) -> Result<Crew> {
    let mut c: Crew = store::body(&row.body)?;
    c.id = row.id.clone();
    c.code = row.code.clone();
    c.active = row.active;
    c.capacity = row.capacity;
    c.version = row.version;
    c.create_time = Some(timestamp(row.create_us));
    c.update_time = Some(timestamp(row.update_us));
    Ok(c)
}

/// A crew as a read returns it at `now_us`.
pub fn crew(row: &crew::Model, now_us: i64) -> Result<Crew> {
    let mut c = crew_config(row)?;
    c.open_ticket_count = row.open_ticket_count;
    c.last_assignment_time = row.last_assignment_us.map(timestamp);
    (c.on_shift, c.on_call) = duty::duty(&c, now_us);
    Ok(c)
}

/// Region ids root first as the `/a/b/c/` path stored for subtree filters.
pub fn path(ids: &[String]) -> String {
    if ids.is_empty() { "/".to_owned() } else { format!("/{}/", ids.join("/")) }
}
