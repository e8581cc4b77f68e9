//! The JetStream streams, declared in code. A service creates or updates the stream it owns (the
//! one its events go to) at start-up, and creates a stream it reads when it is still missing (so
//! a consumer can bind before the publisher has ever run) without ever changing it.

use async_nats::jetstream::{self, stream};
use std::time::Duration;

/// One stream per context, plus the dead letters.
pub struct StreamSpec {
    pub name: &'static str,
    pub subjects: &'static str,
    /// The service that publishes into the stream and alone may change its configuration;
    /// `None` for the dead letters, which every consuming service writes.
    pub owner: Option<&'static str>,
}

pub const REGISTRY: StreamSpec =
    StreamSpec { name: "FLYWHEEL_REGISTRY", subjects: "flywheel.registry.>", owner: Some("registry") };
pub const DISPATCH: StreamSpec =
    StreamSpec { name: "FLYWHEEL_DISPATCH", subjects: "flywheel.dispatch.>", owner: Some("dispatch") };
pub const FEEDBACK: StreamSpec =
    StreamSpec { name: "FLYWHEEL_FEEDBACK", subjects: "flywheel.feedback.>", owner: Some("feedback") };
pub const DEADLETTER: StreamSpec =
    StreamSpec { name: "FLYWHEEL_DEADLETTER", subjects: "flywheel.deadletter.>", owner: None };

pub const ALL: [&StreamSpec; 4] = [&REGISTRY, &DISPATCH, &FEEDBACK, &DEADLETTER];

/// The window in which JetStream drops a second message with the same `Nats-Msg-Id`.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The dead-letter subject of a consumer.
pub fn dead_letter_subject(consumer: &str) -> String {
    format!("flywheel.deadletter.{consumer}")
}

/// The stream `service` publishes into, if it publishes at all.
pub fn owned_by(service: &str) -> Option<&'static StreamSpec> {
    ALL.into_iter().find(|spec| spec.owner == Some(service))
}

/// The stream that holds events of `subject`.
pub fn holding(subject: &str) -> Option<&'static StreamSpec> {
    ALL.into_iter().find(|spec| subject.starts_with(spec.subjects.trim_end_matches('>')))
}

impl StreamSpec {
    fn config(&self) -> stream::Config {
        stream::Config {
            name: self.name.to_owned(),
            subjects: vec![self.subjects.to_owned()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        }
    }
}

/// Creates every stream, or updates it to this configuration (tests and tools that run with
/// every permission).
pub async fn ensure_all(js: &jetstream::Context) -> Result<(), jetstream::context::CreateStreamError> {
    for spec in ALL {
        js.create_or_update_stream(spec.config()).await?;
    }
    Ok(())
}

/// Creates the stream `service` owns, or updates it to this configuration.
pub async fn ensure_owned(js: &jetstream::Context, service: &str) -> Result<(), jetstream::context::CreateStreamError> {
    if let Some(spec) = owned_by(service) {
        js.create_or_update_stream(spec.config()).await?;
    }
    Ok(())
}

/// Creates `spec` with its declared configuration when it does not exist yet; leaves an
/// existing one as its owner configured it.
pub async fn ensure_exists(js: &jetstream::Context, spec: &StreamSpec) -> Result<(), jetstream::context::CreateStreamError> {
    js.get_or_create_stream(spec.config()).await?;
    Ok(())
}
