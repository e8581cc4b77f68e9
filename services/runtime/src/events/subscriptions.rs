//! Which service reads which events, declared once: each service builds its durable consumers
//! from these declarations, and the NATS permissions ([`super::permissions`]) are derived from
//! the same ones, so the two cannot drift apart.

use super::consumer::ConsumerSpec;
use super::streams::{self, StreamSpec};

/// A service's durable consumer on one stream.
pub struct Subscription {
    /// The consuming service; also the durable consumer's name.
    pub service: &'static str,
    pub stream: &'static StreamSpec,
    /// Subject filters within the stream; empty means all.
    pub filter_subjects: &'static [&'static str],
    /// The service also replays the whole stream through consumers the server names (a rebuild).
    pub replays: bool,
}

impl Subscription {
    /// The durable consumer for this subscription.
    pub fn consumer(&self, max_deliver: u64) -> ConsumerSpec {
        ConsumerSpec {
            durable: self.durable().to_owned(),
            stream: self.stream.name,
            filter_subjects: self.filter_subjects.iter().map(|s| (*s).to_owned()).collect(),
            max_deliver,
        }
    }

    pub fn durable(&self) -> &'static str {
        self.service
    }
}

/// Dispatch keeps a replica of the registry.
pub const DISPATCH_FROM_REGISTRY: Subscription =
    Subscription { service: "dispatch", stream: &streams::REGISTRY, filter_subjects: &["flywheel.registry.>"], replays: false };
/// Dispatch turns reports into tickets and reopens them. Only the events that can change a
/// ticket: feedback's own bookkeeping (status changes it derives from tickets, duplicates it
/// links) would be half of what dispatch receives under load, for nothing.
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
};
/// Feedback keeps a replica of the sites, zones and categories residents report against.
pub const FEEDBACK_FROM_REGISTRY: Subscription = Subscription {
    service: "feedback",
    stream: &streams::REGISTRY,
    filter_subjects: &["flywheel.registry.site.>", "flywheel.registry.zone.>", "flywheel.registry.category.>"],
    replays: false,
};
/// Feedback follows the tickets its reports became.
pub const FEEDBACK_FROM_DISPATCH: Subscription =
    Subscription { service: "feedback", stream: &streams::DISPATCH, filter_subjects: &["flywheel.dispatch.ticket.>"], replays: false };
/// Analytics projects every event, and replays the streams in this order when it rebuilds.
pub const ANALYTICS: [Subscription; 3] = [
    Subscription { service: "analytics", stream: &streams::REGISTRY, filter_subjects: &[], replays: true },
    Subscription { service: "analytics", stream: &streams::DISPATCH, filter_subjects: &[], replays: true },
    Subscription { service: "analytics", stream: &streams::FEEDBACK, filter_subjects: &[], replays: true },
];

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
