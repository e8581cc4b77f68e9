//! What a valid submission is, and the rule for whether a report needs field work.

use super::geo::check_point;
use flywheel_proto::flywheel::feedback::v1::{Report, ReportChannel, ReportKind, ResidentContact};
use flywheel_runtime::{Result, Violations};

pub const MAX_DESCRIPTION: usize = 4000;
pub const MAX_MEDIA: usize = 10;
pub const MAX_NOTE: usize = 1000;
pub const MAX_COMMENT: usize = 2000;

/// Checks the fields SubmitReport reads, collecting every violation.
pub fn validate_submission(r: &Report, contact: Option<&ResidentContact>) -> Result<()> {
    let mut v = Violations::new();
    v.check(
        ReportKind::try_from(r.kind).is_ok_and(|k| k != ReportKind::Unspecified),
        "report.kind",
        "must be COMPLAINT, SUGGESTION, PRAISE or INQUIRY",
    );
    v.check(
        ReportChannel::try_from(r.channel).is_ok_and(|c| c != ReportChannel::Unspecified),
        "report.channel",
        "must be a channel (APP, HOTLINE, WEB, MINI_PROGRAM, STAFF or OPEN311)",
    );
    match &r.location {
        Some(p) => check_point(&mut v, "report.location", p),
        None => v.check(!r.site_id.is_empty(), "report.location", "is required when report.site_id is empty"),
    }
    if r.description.trim().is_empty() {
        v.add("report.description", "must not be empty");
    } else {
        text(&mut v, "report.description", &r.description, MAX_DESCRIPTION);
    }
    text(&mut v, "report.address", &r.address, 500);
    v.check(r.media_urls.len() <= MAX_MEDIA, "report.media_urls", format!("must hold at most {MAX_MEDIA} URLs"));
    for (i, url) in r.media_urls.iter().enumerate() {
        v.check(is_http_url(url), format!("report.media_urls[{i}]"), "must be an absolute http(s) URL of at most 2048 characters");
    }
    if let Some(c) = contact {
        text(&mut v, "contact.name", &c.name, 100);
        v.check(
            c.phone.len() <= 32 && c.phone.chars().all(|ch| ch.is_ascii_digit() || matches!(ch, '+' | ' ' | '-')),
            "contact.phone",
            "must be at most 32 digits, spaces, dashes and a leading +",
        );
        v.check(
            c.email.is_empty() || (c.email.len() <= 254 && c.email.contains('@') && !c.email.contains(char::is_whitespace)),
            "contact.email",
            "must be an e-mail address of at most 254 characters",
        );
    }
    v.finish(())
}

/// Optional free text: at most `max` characters, no control characters except line breaks and tabs.
pub fn text(v: &mut Violations, field: &str, value: &str, max: usize) {
    if value.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    }
    if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        v.add(field, "must not contain control characters");
    }
}

fn is_http_url(url: &str) -> bool {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    url.len() <= 2048 && rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) && !url.contains(char::is_whitespace)
}

/// Only staff-entered channels may suggest a priority; residents get the category's default.
pub fn may_set_priority(channel: i32) -> bool {
    channel == ReportChannel::Staff as i32 || channel == ReportChannel::Hotline as i32
}

/// A classified complaint that is not a duplicate needs a ticket; the other kinds do not.
pub fn needs_field_work(kind: i32, classified: bool, duplicate: bool) -> bool {
    classified && !duplicate && kind == ReportKind::Complaint as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::violated_fields;
    use flywheel_proto::flywheel::common::v1::GeoPoint;

    fn report() -> Report {
        Report {
            kind: ReportKind::Complaint as i32,
            channel: ReportChannel::App as i32,
            location: Some(GeoPoint { lat: 23.1, lng: 113.3 }),
            description: "The street light is out".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_plain_complaint_is_valid() {
        validate_submission(&report(), None).unwrap();
    }

    #[test]
    fn every_violation_is_named() {
        let r = Report {
            kind: 0,
            channel: 99,
            location: None,
            description: "x".repeat(MAX_DESCRIPTION + 1),
            media_urls: vec!["ftp://x".into()],
            ..Default::default()
        };
        let contact = ResidentContact { phone: "call me".into(), email: "nope".into(), ..Default::default() };
        assert_eq!(
            violated_fields(validate_submission(&r, Some(&contact))),
            [
                "report.kind",
                "report.channel",
                "report.location",
                "report.description",
                "report.media_urls[0]",
                "contact.phone",
                "contact.email"
            ]
        );
    }

    #[test]
    fn description_counts_characters_not_bytes() {
        let r = Report { description: "灯".repeat(MAX_DESCRIPTION), ..report() };
        validate_submission(&r, None).unwrap();
    }

    #[test]
    fn only_classified_complaints_that_are_not_duplicates_need_field_work() {
        assert!(needs_field_work(ReportKind::Complaint as i32, true, false));
        assert!(!needs_field_work(ReportKind::Complaint as i32, false, false));
        assert!(!needs_field_work(ReportKind::Complaint as i32, true, true));
        assert!(!needs_field_work(ReportKind::Praise as i32, true, false));
    }
}
