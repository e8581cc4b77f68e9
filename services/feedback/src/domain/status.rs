//! How dispatch ticket events move a report's public status.

use flywheel_proto::flywheel::feedback::v1::ReportStatus;

/// The ticket events that matter to a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketStep {
    Created,
    Started,
    Resolved,
    Closed,
    Cancelled,
    Reopened,
    /// Every other ticket event: no status change, but the expected resolve time may move.
    Other,
}

impl TicketStep {
    /// From the event subject, `flywheel.dispatch.ticket.<event>`.
    pub fn from_subject(subject: &str) -> Self {
        match subject.rsplit('.').next() {
            Some("created") => Self::Created,
            Some("started") => Self::Started,
            Some("resolved") => Self::Resolved,
            Some("closed") => Self::Closed,
            Some("cancelled") => Self::Cancelled,
            Some("reopened") => Self::Reopened,
            _ => Self::Other,
        }
    }

    /// The public status the report enters.
    pub fn target(self) -> Option<ReportStatus> {
        match self {
            Self::Created => Some(ReportStatus::Accepted),
            Self::Started => Some(ReportStatus::InProgress),
            Self::Resolved => Some(ReportStatus::Resolved),
            Self::Closed | Self::Cancelled => Some(ReportStatus::Closed),
            Self::Reopened => Some(ReportStatus::Reopened),
            Self::Other => None,
        }
    }
}

/// The public status a ticket step moves a report in `current` to; `None` when it stays (a
/// reopen the resident already asked for leaves the report REOPENED).
pub fn next_status(current: i32, step: TicketStep) -> Option<ReportStatus> {
    step.target().filter(|t| *t as i32 != current)
}

/// Open: not yet RESOLVED or CLOSED (may be supported, may be a duplicate's primary).
pub fn is_open(status: i32) -> bool {
    !NOT_OPEN.contains(&status)
}

/// The statuses of a report that is no longer open.
pub const NOT_OPEN: [i32; 2] = [ReportStatus::Resolved as i32, ReportStatus::Closed as i32];

/// The status's name for messages, e.g. "CLOSED".
pub fn name(status: i32) -> String {
    ReportStatus::try_from(status)
        .map(|s| s.as_str_name().trim_start_matches("REPORT_STATUS_").to_owned())
        .unwrap_or_else(|_| status.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticket_events_map_to_public_statuses() {
        let cases = [
            ("flywheel.dispatch.ticket.created", Some(ReportStatus::Accepted)),
            ("flywheel.dispatch.ticket.started", Some(ReportStatus::InProgress)),
            ("flywheel.dispatch.ticket.resolved", Some(ReportStatus::Resolved)),
            ("flywheel.dispatch.ticket.closed", Some(ReportStatus::Closed)),
            ("flywheel.dispatch.ticket.cancelled", Some(ReportStatus::Closed)),
            ("flywheel.dispatch.ticket.reopened", Some(ReportStatus::Reopened)),
            ("flywheel.dispatch.ticket.assigned", None),
            ("flywheel.dispatch.ticket.sla_breached", None),
        ];
        for (subject, status) in cases {
            assert_eq!(TicketStep::from_subject(subject).target(), status, "{subject}");
        }
    }

    #[test]
    fn a_step_to_the_current_status_changes_nothing() {
        let reopened = ReportStatus::Reopened as i32;
        assert_eq!(next_status(reopened, TicketStep::Reopened), None);
        assert_eq!(next_status(reopened, TicketStep::Started), Some(ReportStatus::InProgress));
        assert!(is_open(reopened));
        assert!(!is_open(ReportStatus::Resolved as i32));
        assert_eq!(name(ReportStatus::InProgress as i32), "IN_PROGRESS");
    }
}
