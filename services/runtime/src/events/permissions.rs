//! What each NATS user may publish and subscribe to, derived from the stream declarations
//! ([`super::streams`]) and the subscriptions ([`super::subscriptions`]):
//!
//! - a service publishes its own context's subjects and creates or updates its own stream;
//! - for each stream it reads, it may look the stream up and create it while missing, create and
//!   look up its own durable consumer, pull from it and acknowledge its messages, and park
//!   failures on its own dead-letter subject;
//! - it receives replies only on its own inbox prefix (`_INBOX.<service>.>`), so it cannot read
//!   the replies — pulled messages included — meant for anyone else.
//!
//! A subscription that replays (analytics' rebuild) may also read its stream through ephemeral
//! consumers, whose names the server picks; tools (the CLI, test harnesses) read every stream
//! that way and publish nothing.

use super::streams::{self, StreamSpec};
use super::subscriptions::{self, Subscription};
use std::collections::BTreeSet;

/// The services that connect to NATS, each as its own user.
pub const SERVICES: [&str; 4] = ["registry", "dispatch", "feedback", "analytics"];

/// The NATS user of operators' tools.
pub const TOOLS: &str = "tools";

/// Subjects a user may publish to and subscribe to (NATS wildcards allowed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish: BTreeSet<String>,
    pub subscribe: BTreeSet<String>,
}

/// The inbox prefix of `user`'s connection: replies to its requests arrive under it.
pub fn inbox_prefix(user: &str) -> String {
    format!("_INBOX.{user}")
}

/// The permissions of `service`.
pub fn for_service(service: &str) -> Permissions {
    let mut p = Permissions::default();
    p.subscribe.insert(format!("{}.>", inbox_prefix(service)));
    if let Some(own) = streams::owned_by(service) {
        p.publish.insert(own.subjects.to_owned());
        p.publish.insert(api(&format!("STREAM.CREATE.{}", own.name)));
        p.publish.insert(api(&format!("STREAM.UPDATE.{}", own.name)));
        p.publish.insert(api(&format!("STREAM.INFO.{}", own.name)));
    }
    let reads: Vec<&Subscription> = subscriptions::of(service).collect();
    for subscription in &reads {
        p.read_stream(subscription.stream);
        let (stream, durable) = (subscription.stream.name, subscription.durable());
        p.publish.insert(api(&format!("CONSUMER.CREATE.{stream}.{durable}")));
        // A single filter subject is appended to the create subject.
        p.publish.insert(api(&format!("CONSUMER.CREATE.{stream}.{durable}.>")));
        p.publish.insert(api(&format!("CONSUMER.INFO.{stream}.{durable}")));
        p.publish.insert(api(&format!("CONSUMER.MSG.NEXT.{stream}.{durable}")));
        p.publish.insert(format!("$JS.ACK.{stream}.{durable}.>"));
        p.publish.insert(streams::dead_letter_subject(durable));
    }
    if !reads.is_empty() {
        p.read_stream(&streams::DEADLETTER);
    }
    for subscription in reads.iter().filter(|s| s.replays) {
        p.replay(subscription.stream);
    }
    p
}

/// The permissions of operators' tools: read every stream, publish nothing.
pub fn for_tools() -> Permissions {
    let mut p = Permissions::default();
    p.subscribe.insert(format!("{}.>", inbox_prefix(TOOLS)));
    p.publish.insert(api("INFO"));
    p.publish.insert(api("STREAM.NAMES"));
    p.publish.insert(api("STREAM.LIST"));
    for spec in streams::ALL {
        p.publish.insert(api(&format!("STREAM.INFO.{}", spec.name)));
        p.publish.insert(api(&format!("STREAM.MSG.GET.{}", spec.name)));
        p.replay(spec);
    }
    p
}

/// The permissions of `user`: a service or the tools.
pub fn for_user(user: &str) -> Permissions {
    if user == TOOLS { for_tools() } else { for_service(user) }
}

impl Permissions {
    /// Look the stream up, and create it with its declared configuration while it is missing.
    fn read_stream(&mut self, spec: &StreamSpec) {
        self.publish.insert(api(&format!("STREAM.INFO.{}", spec.name)));
        self.publish.insert(api(&format!("STREAM.CREATE.{}", spec.name)));
    }

    /// Ephemeral (ordered) consumers on the stream, which the server names.
    fn replay(&mut self, spec: &StreamSpec) {
        self.publish.insert(api(&format!("STREAM.INFO.{}", spec.name)));
        self.publish.insert(api(&format!("CONSUMER.CREATE.{}", spec.name)));
        self.publish.insert(api(&format!("CONSUMER.INFO.{}.*", spec.name)));
        self.publish.insert(api(&format!("CONSUMER.MSG.NEXT.{}.*", spec.name)));
    }
}

fn api(call: &str) -> String {
    format!("$JS.API.{call}")
}

/// A nats-server `authorization` block for `users` (public NKey, permissions), to `include`
/// from the server's configuration.
pub fn authorization_config(users: &[(String, String, Permissions)]) -> String {
    let list = |subjects: &BTreeSet<String>| {
        subjects.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>().join(", ")
    };
    let mut out = String::from("# Generated by `flywheel nats-auth init`: one NKey user per Flywheel service and one for tools.\nauthorization {\n  users = [\n");
    for (name, public_key, p) in users {
        out.push_str(&format!(
            "    # {name}\n    {{ nkey: \"{public_key}\", permissions: {{\n        publish: {{ allow: [{}] }}\n        subscribe: {{ allow: [{}] }}\n    }} }}\n",
            list(&p.publish),
            list(&p.subscribe),
        ));
    }
    out.push_str("  ]\n}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_publishes_only_its_own_context() {
        let registry = for_service("registry");
        let events: Vec<_> = registry.publish.iter().filter(|s| s.starts_with("flywheel.")).collect();
        assert_eq!(events, ["flywheel.registry.>"]);
        assert!(registry.publish.contains("$JS.API.STREAM.UPDATE.FLYWHEEL_REGISTRY"));
        assert!(!registry.publish.iter().any(|s| s.contains("CONSUMER")), "the registry reads nothing");

        let analytics = for_service("analytics");
        assert!(!analytics.publish.iter().any(|s| s.starts_with("flywheel.") && s != "flywheel.deadletter.analytics"));
        assert!(!analytics.publish.iter().any(|s| s.contains("STREAM.UPDATE")), "analytics owns no stream");
        assert!(analytics.publish.contains("$JS.API.CONSUMER.MSG.NEXT.FLYWHEEL_DISPATCH.*"), "analytics replays to rebuild");
    }

    #[test]
    fn a_consumer_may_pull_and_ack_only_its_own_durables() {
        let dispatch = for_service("dispatch");
        for expected in [
            "$JS.API.CONSUMER.MSG.NEXT.FLYWHEEL_REGISTRY.dispatch",
            "$JS.API.CONSUMER.MSG.NEXT.FLYWHEEL_FEEDBACK.dispatch",
            "$JS.ACK.FLYWHEEL_FEEDBACK.dispatch.>",
            "$JS.API.CONSUMER.CREATE.FLYWHEEL_REGISTRY.dispatch.>",
            "$JS.API.STREAM.CREATE.FLYWHEEL_FEEDBACK",
            "flywheel.deadletter.dispatch",
        ] {
            assert!(dispatch.publish.contains(expected), "{expected}");
        }
        assert!(!dispatch.publish.iter().any(|s| s.contains("FLYWHEEL_DISPATCH.") || s.contains("UPDATE.FLYWHEEL_FEEDBACK")));
        assert!(!dispatch.publish.iter().any(|s| s.ends_with(".*")), "no server-named consumers");
        assert_eq!(dispatch.subscribe.iter().collect::<Vec<_>>(), ["_INBOX.dispatch.>"]);
    }

    #[test]
    fn every_subscription_is_covered_and_tools_publish_no_events() {
        for subscription in subscriptions::ALL {
            let p = for_service(subscription.service);
            let next = format!("$JS.API.CONSUMER.MSG.NEXT.{}.{}", subscription.stream.name, subscription.durable());
            assert!(p.publish.contains(&next), "{next}");
        }
        let tools = for_tools();
        assert!(!tools.publish.iter().any(|s| s.starts_with("flywheel.") || s.contains("$JS.ACK") || s.contains("UPDATE")));
        assert_eq!(for_user(TOOLS), tools);
    }

    #[test]
    fn the_authorization_block_lists_each_user_with_quoted_subjects() {
        let users: Vec<_> =
            ["registry", TOOLS].iter().map(|u| (u.to_string(), format!("U{}", u.to_uppercase()), for_user(u))).collect();
        let text = authorization_config(&users);
        assert!(text.starts_with("# Generated"));
        assert!(text.contains("nkey: \"UREGISTRY\""));
        assert!(text.contains("\"$JS.API.STREAM.CREATE.FLYWHEEL_REGISTRY\""));
        assert!(text.contains("subscribe: { allow: [\"_INBOX.tools.>\"] }"));
    }
}
