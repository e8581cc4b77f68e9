//! What valid crews, tickets and command arguments are. Every check records a field violation,
//! so a client sees all its mistakes at once.

use super::time::{duration_micros, micros, DAY_US, MINUTE_US};
use flywheel_proto::flywheel::common::v1::{GeoPoint, Priority};
use flywheel_proto::flywheel::dispatch::v1::{Crew, CrewMemberRole, Ticket, TicketOriginKind, Weekday};
use flywheel_runtime::{Result, Violations};
use std::collections::HashSet;

/// Crew fields a client may change with UpdateCrew.
pub const CREW_UPDATABLE: &[&str] = &[
    "name", "description", "skills", "coverage", "base_location", "capacity", "time_zone", "shifts",
    "on_call_periods", "members", "supervisor_crew_id",
];

/// Ticket fields a client may change with UpdateTicket.
pub const TICKET_UPDATABLE: &[&str] = &["title", "description", "zone_id", "asset_id", "location", "media_urls", "priority"];

pub fn code(v: &mut Violations, field: &str, value: &str) {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    v.check(ok, field, "must be 1..64 characters of A-Z, a-z, 0-9, '.', '_' or '-'");
}

/// Required text: 1..`max` characters, not blank.
pub fn required_text(v: &mut Violations, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        v.add(field, "must not be empty");
    } else {
        optional_text(v, field, value, max);
    }
}

/// Optional text: at most `max` characters, no control characters but line breaks and tabs.
pub fn optional_text(v: &mut Violations, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        v.add(field, "must not contain control characters");
    }
}

pub fn id(v: &mut Violations, field: &str, value: &str) {
    v.check(!value.is_empty() && value.len() <= 64, field, "is required (an id)");
}

pub fn point(v: &mut Violations, field: &str, p: &GeoPoint) {
    let ok = p.lat.is_finite() && p.lng.is_finite() && (-90.0..=90.0).contains(&p.lat) && (-180.0..=180.0).contains(&p.lng);
    v.check(ok, field, "lat must be within -90..90 and lng within -180..180");
}

fn skills(v: &mut Violations, field: &str, values: &[String], max: usize) {
    v.check(values.len() <= max, field, format!("at most {max} skills"));
    let ok = values.iter().all(|s| {
        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
    });
    v.check(ok, field, "each skill must be 1..64 characters of a-z, 0-9, '_' or '-'");
    v.check(unique(values), field, "must not repeat a skill");
}

fn unique<T: std::hash::Hash + Eq>(values: &[T]) -> bool {
    values.iter().collect::<HashSet<_>>().len() == values.len()
}

/// A required (non-UNSPECIFIED) enum value `value` of `valid`.
pub fn required_enum(v: &mut Violations, field: &str, value: i32, valid: bool) {
    v.check(value != 0 && valid, field, "is required (not UNSPECIFIED)");
}

/// Checks the crew fields named in `only` (every field on create).
pub fn crew(c: &Crew, only: Option<&[String]>) -> Result<()> {
    let mut v = Violations::new();
    let has = |f: &str| only.is_none_or(|paths| paths.iter().any(|p| p == f));
    if only.is_none() {
        code(&mut v, "crew.code", &c.code);
    }
    if has("name") {
        required_text(&mut v, "crew.name", &c.name, 200);
    }
    if has("description") {
        optional_text(&mut v, "crew.description", &c.description, 2000);
    }
    if has("skills") {
        skills(&mut v, "crew.skills", &c.skills, 32);
    }
    if has("coverage") {
        let cov = c.coverage.clone().unwrap_or_default();
        v.check(!cov.site_ids.is_empty() || !cov.region_ids.is_empty(), "crew.coverage", "must name at least one site or region");
        for (field, ids) in [("crew.coverage.site_ids", &cov.site_ids), ("crew.coverage.region_ids", &cov.region_ids)] {
            v.check(ids.len() <= 1000, field, "at most 1000");
            v.check(unique(ids), field, "must not repeat an id");
            v.check(ids.iter().all(|i| !i.is_empty() && i.len() <= 64), field, "each must be an id");
        }
    }
    if has("base_location")
        && let Some(p) = &c.base_location {
            point(&mut v, "crew.base_location", p);
        }
    if has("capacity") {
        v.check((1..=1000).contains(&c.capacity), "crew.capacity", "must be within 1..1000");
    }
    if has("time_zone") {
        v.check(c.time_zone.parse::<chrono_tz::Tz>().is_ok(), "crew.time_zone", "must be an IANA time zone name");
    }
    if has("shifts") {
        v.check(c.shifts.len() <= 100, "crew.shifts", "at most 100");
        for (i, s) in c.shifts.iter().enumerate() {
            required_enum(&mut v, &format!("crew.shifts[{i}].weekday"), s.weekday, Weekday::try_from(s.weekday).is_ok());
            v.check((0..1440).contains(&s.start_minute_of_day), format!("crew.shifts[{i}].start_minute_of_day"), "must be within 0..1439");
            let len = s.duration.as_ref().map(duration_micros).unwrap_or(0);
            v.check((MINUTE_US..=DAY_US).contains(&len) && len % MINUTE_US == 0, format!("crew.shifts[{i}].duration"), "must be whole minutes, 1 minute..24 hours");
        }
    }
    if has("on_call_periods") {
        v.check(c.on_call_periods.len() <= 200, "crew.on_call_periods", "at most 200");
        for (i, p) in c.on_call_periods.iter().enumerate() {
            let (start, end) = (p.start_time.as_ref().map(micros), p.end_time.as_ref().map(micros));
            let ok = matches!((start, end), (Some(s), Some(e)) if s < e && e.saturating_sub(s) <= 31 * DAY_US);
            v.check(ok, format!("crew.on_call_periods[{i}]"), "needs start_time before end_time, at most 31 days apart");
            optional_text(&mut v, &format!("crew.on_call_periods[{i}].note"), &p.note, 200);
        }
    }
    if has("members") {
        v.check(c.members.len() <= 200, "crew.members", "at most 200");
        let ids: Vec<_> = c.members.iter().map(|m| &m.member_id).collect();
        v.check(unique(&ids), "crew.members", "member_id must be unique");
        for (i, m) in c.members.iter().enumerate() {
            v.check(!m.member_id.is_empty() && m.member_id.len() <= 128, format!("crew.members[{i}].member_id"), "must be 1..128 characters");
            required_text(&mut v, &format!("crew.members[{i}].display_name"), &m.display_name, 200);
            required_enum(&mut v, &format!("crew.members[{i}].role"), m.role, CrewMemberRole::try_from(m.role).is_ok());
        }
    }
    v.finish(())
}

fn media(v: &mut Violations, field: &str, urls: &[String]) {
    v.check(urls.len() <= 20, field, "at most 20");
    let ok = urls.iter().all(|u| u.len() <= 2048 && (u.starts_with("https://") || u.starts_with("http://")) && u.len() > 8);
    v.check(ok, field, "each must be an absolute http(s) URL of at most 2048 characters");
}

pub fn priority(v: &mut Violations, field: &str, p: i32, required: bool) {
    let ok = Priority::try_from(p).is_ok() && (!required || p != 0);
    v.check(ok, field, if required { "must be P1..P4" } else { "must be UNSPECIFIED or P1..P4" });
}

/// Checks a new ticket.
pub fn new_ticket(t: &Ticket) -> Result<()> {
    let mut v = Violations::new();
    id(&mut v, "ticket.site_id", &t.site_id);
    id(&mut v, "ticket.category_id", &t.category_id);
    priority(&mut v, "ticket.priority", t.priority, false);
    ticket_fields(&mut v, t, None);
    let origin = t.origin.clone().unwrap_or_default();
    let kind = TicketOriginKind::try_from(origin.kind).unwrap_or(TicketOriginKind::Unspecified);
    required_enum(&mut v, "ticket.origin.kind", origin.kind, kind != TicketOriginKind::Unspecified);
    if kind == TicketOriginKind::ResidentReport {
        v.check(!origin.report_id.is_empty() && origin.report_id.len() <= 64, "ticket.origin.report_id", "is required for a resident report");
    } else {
        v.check(origin.report_id.is_empty(), "ticket.origin.report_id", "only for a resident report");
    }
    v.check(origin.report_tracking_code.len() <= 32, "ticket.origin.report_tracking_code", "at most 32 characters");
    v.check(origin.plan_id.is_empty() == origin.occurrence_time.is_none(), "ticket.origin.occurrence_time", "is set together with plan_id");
    v.finish(())
}

/// Checks the descriptive ticket fields named in `only` (all on create).
pub fn ticket_fields(v: &mut Violations, t: &Ticket, only: Option<&[String]>) {
    let has = |f: &str| only.is_none_or(|paths| paths.iter().any(|p| p == f));
    if has("title") {
        optional_text(v, "ticket.title", &t.title, 200);
    }
    if has("description") {
        required_text(v, "ticket.description", &t.description, 4000);
    }
    if has("location")
        && let Some(p) = &t.location {
            point(v, "ticket.location", p);
        }
    if has("media_urls") {
        media(v, "ticket.media_urls", &t.media_urls);
    }
    if only.is_some() && has("priority") {
        priority(v, "ticket.priority", t.priority, true);
    }
}

/// An update mask: not empty, only names from `allowed`.
pub fn mask(paths: &[String], allowed: &[&str]) -> Result<()> {
    let mut v = Violations::new();
    v.check(!paths.is_empty(), "update_mask", "must name at least one field");
    for p in paths {
        v.check(allowed.contains(&p.as_str()), "update_mask", format!("{p:?} cannot be updated"));
    }
    v.finish(())
}

/// A command's note (at most 2000 characters), required when the reason is OTHER.
pub fn note(v: &mut Violations, value: &str, required: bool) {
    if required {
        required_text(v, "note", value, 2000);
    } else {
        optional_text(v, "note", value, 2000);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::duty::minutes;
    use crate::domain::violated_fields;
    use flywheel_proto::flywheel::dispatch::v1::{CrewCoverage, CrewMember, TicketOrigin, WeeklyShift};

    fn good_crew() -> Crew {
        Crew {
            code: "chigang-1".into(),
            name: "Chigang one".into(),
            skills: vec!["electrical".into()],
            coverage: Some(CrewCoverage { site_ids: vec!["s1".into()], region_ids: vec![] }),
            capacity: 5,
            time_zone: "Asia/Shanghai".into(),
            shifts: vec![WeeklyShift { weekday: 1, start_minute_of_day: 480, duration: Some(minutes(480)) }],
            members: vec![CrewMember { member_id: "u1".into(), display_name: "Li".into(), role: 1 }],
            ..Default::default()
        }
    }

    #[test]
    fn a_good_crew_passes_and_each_bad_field_is_named() {
        assert!(crew(&good_crew(), None).is_ok());
        let bad = Crew {
            code: "bad code".into(),
            skills: vec!["Electrical".into()],
            coverage: None,
            capacity: 0,
            time_zone: "Mars/Olympus".into(),
            shifts: vec![WeeklyShift { weekday: 0, start_minute_of_day: 1440, duration: None }],
            ..good_crew()
        };
        assert_eq!(
            violated_fields(crew(&bad, None)),
            [
                "crew.code", "crew.skills", "crew.coverage", "crew.capacity", "crew.time_zone",
                "crew.shifts[0].weekday", "crew.shifts[0].start_minute_of_day", "crew.shifts[0].duration",
            ]
        );
        // An update checks only the fields it names.
        assert!(crew(&Crew { capacity: 3, ..Default::default() }, Some(&["capacity".into()])).is_ok());
    }

    #[test]
    fn tickets() {
        let t = Ticket {
            site_id: "s1".into(),
            category_id: "c1".into(),
            description: "lamp out".into(),
            origin: Some(TicketOrigin { kind: TicketOriginKind::Manual as i32, ..Default::default() }),
            ..Default::default()
        };
        assert!(new_ticket(&t).is_ok());
        let bad = Ticket {
            priority: 9,
            description: " ".into(),
            media_urls: vec!["ftp://x".into()],
            origin: Some(TicketOrigin { kind: TicketOriginKind::ResidentReport as i32, ..Default::default() }),
            ..t
        };
        assert_eq!(
            violated_fields(new_ticket(&bad)),
            ["ticket.priority", "ticket.description", "ticket.media_urls", "ticket.origin.report_id"]
        );
    }

    #[test]
    fn masks() {
        assert!(mask(&["name".into()], CREW_UPDATABLE).is_ok());
        assert!(mask(&[], CREW_UPDATABLE).is_err());
        assert!(mask(&["code".into()], CREW_UPDATABLE).is_err());
    }
}
