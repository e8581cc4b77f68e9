//! Feedback's events: subjects and messages, built from the report after each change.

use flywheel_proto::flywheel::feedback::v1 as pb;
use flywheel_runtime::events::OutgoingEvent;

pub const SERVICE: &str = "feedback";

fn event(subject: &str, report: &pb::Report, message: &impl prost::Message) -> OutgoingEvent {
    OutgoingEvent::new(SERVICE, subject, &report.id, &report.correlation_id, message)
}

pub fn submitted(r: &pb::Report) -> OutgoingEvent {
    event("flywheel.feedback.report.submitted", r, &pb::ReportSubmitted { report: Some(r.clone()) })
}

pub fn linked_as_duplicate(r: &pb::Report, primary: &pb::Report, distance_m: f64, apart_us: i64, rule: pb::DuplicateRule) -> OutgoingEvent {
    let msg = pb::ReportLinkedAsDuplicate {
        report: Some(r.clone()),
        primary_report_id: primary.id.clone(),
        primary_ticket_id: primary.ticket_id.clone(),
        primary_duplicate_count: primary.duplicate_count,
        distance_m,
        time_apart: Some(crate::convert::duration(apart_us)),
        rule: Some(rule),
    };
    event("flywheel.feedback.report.linked_as_duplicate", r, &msg)
}

pub fn supported(r: &pb::Report, channel: i32) -> OutgoingEvent {
    let msg = pb::ReportSupported { report: Some(r.clone()), support_count: r.support_count, channel };
    event("flywheel.feedback.report.supported", r, &msg)
}

pub fn classified(r: &pb::Report, staff: &str) -> OutgoingEvent {
    let msg = pb::ReportClassified { report: Some(r.clone()), classified_by: staff.to_owned() };
    event("flywheel.feedback.report.classified", r, &msg)
}

pub fn rated(r: &pb::Report, rated: pb::ReportRated) -> OutgoingEvent {
    event("flywheel.feedback.report.rated", r, &pb::ReportRated { report: Some(r.clone()), ..rated })
}

pub fn reopen_requested(r: &pb::Report, request: pb::ReportReopenRequested) -> OutgoingEvent {
    let msg = pb::ReportReopenRequested { report: Some(r.clone()), ..request };
    event("flywheel.feedback.report.reopen_requested", r, &msg)
}

/// What a status change was, for [`status_changed`].
pub struct StatusChange {
    pub previous: i32,
    pub note: String,
    pub cause: pb::StatusChangeCause,
    pub ticket_id: String,
}

pub fn status_changed(r: &pb::Report, change: StatusChange) -> OutgoingEvent {
    let msg = pb::ReportStatusChanged {
        report: Some(r.clone()),
        previous_status: change.previous,
        status: r.status,
        note: change.note,
        cause: change.cause as i32,
        ticket_id: change.ticket_id,
    };
    event("flywheel.feedback.report.status_changed", r, &msg)
}
