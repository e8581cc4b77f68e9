//! Which service reads which events, declared once: each service builds its durable consumers
//! from these declarations, and the NATS permissions ([`super::permissions`]) are derived from
//! the same ones, so the two cannot drift apart.

use super::consumer::{ConsumerSpec, MAX_BATCH};
use super::streams::{self, StreamSpec};
use crate::Config;
use std::time::Duration;

/// A service's durable consumer on one stream.
pub struct Subscription {
    /// The consuming service; also the durable consumer's name.
    pub service: &'static str,
    pub stream: &'static StreamSpec,
    /// Subject filters within the stream; empty means all.
    pub filter_subjects: &'static [&'static str],
    /// The service also replays the whole stream through consumers the server names (a rebuild).
    pub replays: bool,
    /// Events the consumer applies in one transaction at most.
    pub max_batch: usize,
    /// The consumer only follows decisions made elsewhere: nobody waits on what it applies, so
    /// its batches wait for more events for `EVENT_FOLLOWER_LINGER_MS`. At a thousand reports a
    /// second such a consumer would otherwise commit a batch of a few events every few
    /// milliseconds, each batch's round trips and commit taking cores from the intake and
    /// dispatch (docs/performance.md, "Sixteenth round"). Dispatch's consumers, and the
    /// replicas other events need, apply at once.
    pub follows: bool,
}

impl Subscription {
    /// The durable consumer for this subscription.
    pub fn consumer(&self, config: &Config) -> ConsumerSpec {
        ConsumerSpec {
            durable: self.durable().to_owned(),
            stream: self.stream.name,
            filter_subjects: self.filter_subjects.iter().map(|s| (*s).to_owned()).collect(),
            max_deliver: config.event_max_deliver,
            max_batch: self.max_batch,
            linger: if self.follows { config.event_follower_linger } else { Duration::ZERO },
        }
    }

    pub fn durable(&self) -> &'static str {
        self.service
    }

    /// Whether the durable consumer receives events of `subject`: its stream holds them and a
    /// filter (NATS wildcards: `*` one token, `>` the rest) matches, or it has none.
    pub fn takes(&self, subject: &str) -> bool {
        let in_stream = streams::holding(subject).is_some_and(|s| s.name == self.stream.name);
        in_stream && (self.filter_subjects.is_empty() || self.filter_subjects.iter().any(|f| subject_matches(f, subject)))
    }
}

fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for wanted in filter.split('.') {
        match (wanted, tokens.next()) {
            (">", Some(_)) => return true,
            ("*", Some(_)) => {}
            (w, Some(t)) if w == t => {}
            _ => return false,
        }
    }
    tokens.next().is_none()
}

/// Dispatch keeps a replica of the registry.
pub const DISPATCH_FROM_REGISTRY: Subscription =
    Subscription { service: "dispatch", stream: &streams::REGISTRY, filter_subjects: &["flywheel.registry.>"], replays: false, max_batch: MAX_BATCH, follows: false };
/// Dispatch turns reports into tickets and reopens them. Only the events that can change a
/// ticket: feedback's own bookkeeping (status changes it derives from tickets, duplicates it
/// links) would be half of what dispatch receives under load, for nothing. Its batches are
/// larger than the others': a batch of reports waits mostly on its dozen round trips, not on
/// its rows (docs/performance.md, "Tenth round"), and no other writer shares its tables' rows.
pub const DISPATCH_FROM_FEEDBACK: Subscription = Subscription {
    service: "dispatch",
    stream: &streams::FEEDBACK,
    filter_subjects: &[
        "flywheel.feedback.report.submitted",
        "flywheel.feedback.report.classified",
        "flywheel.feedback.report.supported",
        "flywheel.feedback.report.rated",
        "flywheel.feedback.report.reopen_requested",
    ],
    replays: false,
    max_batch: 4 * MAX_BATCH,
    follows: false,
};
/// Feedback keeps a replica of the sites, zones and categories residents report against.
pub const FEEDBACK_FROM_REGISTRY: Subscription = Subscription {
    service: "feedback",
    stream: &streams::REGISTRY,
    filter_subjects: &["flywheel.registry.site.>", "flywheel.registry.zone.>", "flywheel.registry.category.>"],
    replays: false,
    max_batch: MAX_BATCH,
    follows: false,
};
/// Feedback follows the tickets its reports became.
pub const FEEDBACK_FROM_DISPATCH: Subscription =
    Subscription { service: "feedback", stream: &streams::DISPATCH, filter_subjects: &["flywheel.dispatch.ticket.>"], replays: false, max_batch: MAX_BATCH, follows: true };
/// Analytics projects the registry's and dispatch's events and the report events that count
/// (received, supported, rated), and replays the streams in this order when it rebuilds. Its
/// tickets' and reports' batches are as large as dispatch's: a batch's changes to the same hour,
/// day and rollup rows merge before they are written, so a larger batch writes fewer rows an
/// event (docs/performance.md, "Eleventh round").
pub const ANALYTICS: [Subscription; 3] = [
    Subscription { service: "analytics", stream: &streams::REGISTRY, filter_subjects: &[], replays: true, max_batch: MAX_BATCH, follows: true },
    Subscription { service: "analytics", stream: &streams::DISPATCH, filter_subjects: &[], replays: true, max_batch: 4 * MAX_BATCH, follows: true },
    Subscription { service: "analytics", stream: &streams::FEEDBACK, filter_subjects: ANALYTICS_REPORT_EVENTS, replays: true, max_batch: 4 * MAX_BATCH, follows: true },
];

/// The report events analytics counts. Feedback's own bookkeeping — status changes it derives
/// from tickets, classifications, duplicate links, reopen requests (dispatch's reopen is what
/// counts) — is as many events again under load and changes no projection.
const ANALYTICS_REPORT_EVENTS: &[&str] =
    &["flywheel.feedback.report.submitted", "flywheel.feedback.report.supported", "flywheel.feedback.report.rated"];

/// Every subscription of every service.
pub const ALL: [&Subscription; 7] = [
    &DISPATCH_FROM_REGISTRY,
    &DISPATCH_FROM_FEEDBACK,
    &FEEDBACK_FROM_REGISTRY,
    &FEEDBACK_FROM_DISPATCH,
    &ANALYTICS[0],
    &ANALYTICS[1],
    &ANALYTICS[2],
];

/// The subscriptions of `service`.
pub fn of(service: &str) -> impl Iterator<Item = &'static Subscription> + '_ {
    ALL.into_iter().filter(move |s| s.service == service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_match_as_nats_matches_subjects() {
        assert!(subject_matches("flywheel.dispatch.ticket.>", "flywheel.dispatch.ticket.created"));
        assert!(!subject_matches("flywheel.dispatch.ticket.>", "flywheel.dispatch.ticket"));
        assert!(subject_matches("flywheel.*.ticket.created", "flywheel.dispatch.ticket.created"));
        assert!(!subject_matches("flywheel.*.ticket", "flywheel.dispatch.ticket.created"));
        assert!(!subject_matches("flywheel.feedback.report.rated", "flywheel.feedback.report.rated.again"));
        assert!(!subject_matches("flywheel.feedback.report.rated", "flywheel.feedback.report"));
    }

    #[test]
    fn analytics_takes_the_report_events_it_counts_and_every_ticket_event() {
        let [registry, dispatch, feedback] = &ANALYTICS;
        assert!(feedback.takes("flywheel.feedback.report.submitted"));
        assert!(feedback.takes("flywheel.feedback.report.rated"));
        assert!(!feedback.takes("flywheel.feedback.report.status_changed"));
        assert!(!feedback.takes("flywheel.dispatch.ticket.created"), "another stream's subject");
        assert!(dispatch.takes("flywheel.dispatch.ticket.assigned"));
        assert!(dispatch.takes("flywheel.dispatch.crew.created"));
        assert!(registry.takes("flywheel.registry.site.registered"));
        assert!(!DISPATCH_FROM_FEEDBACK.takes("flywheel.feedback.report.status_changed"));
    }
}
