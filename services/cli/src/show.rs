//! How things print: one line per resource in lists, a few lines for one.

use flywheel_proto::flywheel::dispatch::v1::{Crew, Ticket, TicketState};
use flywheel_proto::flywheel::registry::v1::{Site, SiteType};

fn short_enum(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_lowercase()
}

pub fn site_line(s: &Site) -> String {
    let kind = SiteType::try_from(s.r#type).map(|t| short_enum(t.as_str_name(), "SITE_TYPE_")).unwrap_or_default();
    let at = s.location.as_ref().map(|p| format!("{:.4},{:.4}", p.lat, p.lng)).unwrap_or_default();
    format!(
        "{:<36}  {:<28} {:<20} {:<17} {}{}",
        s.id,
        s.code,
        kind,
        at,
        s.name,
        if s.flagship { "  [flagship]" } else { "" }
    )
}

pub fn crew_line(c: &Crew) -> String {
    format!(
        "{:<36}  {:<20} {:>3}/{:<3} {:<8} {}  skills: {}",
        c.id,
        c.code,
        c.open_ticket_count,
        c.capacity,
        if !c.active { "inactive" } else if c.on_shift { "on shift" } else if c.on_call { "on call" } else { "off" },
        c.name,
        c.skills.join(",")
    )
}

pub fn ticket_state(t: &Ticket) -> String {
    TicketState::try_from(t.state).map(|s| short_enum(s.as_str_name(), "TICKET_STATE_")).unwrap_or_default()
}

pub fn ticket_line(t: &Ticket) -> String {
    format!(
        "{:<36}  {:<12} P{} {:<11} crew {:<36} {}",
        t.id,
        t.code,
        t.priority,
        ticket_state(t),
        if t.crew_id.is_empty() { "-" } else { &t.crew_id },
        t.title
    )
}
