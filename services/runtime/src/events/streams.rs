//! The JetStream streams, declared in code and created or updated at start-up by every service
//! (so a consumer can bind before the publisher has ever run).

use async_nats::jetstream::{self, stream};
use std::time::Duration;

/// One stream per context, plus the dead letters.
pub struct StreamSpec {
    pub name: &'static str,
    pub subjects: &'static str,
}

pub const REGISTRY: StreamSpec = StreamSpec { name: "FLYWHEEL_REGISTRY", subjects: "flywheel.registry.>" };
pub const DISPATCH: StreamSpec = StreamSpec { name: "FLYWHEEL_DISPATCH", subjects: "flywheel.dispatch.>" };
pub const FEEDBACK: StreamSpec = StreamSpec { name: "FLYWHEEL_FEEDBACK", subjects: "flywheel.feedback.>" };
pub const DEADLETTER: StreamSpec =
    StreamSpec { name: "FLYWHEEL_DEADLETTER", subjects: "flywheel.deadletter.>" };

pub const ALL: [&StreamSpec; 4] = [&REGISTRY, &DISPATCH, &FEEDBACK, &DEADLETTER];

/// The window in which JetStream drops a second message with the same `Nats-Msg-Id`.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// The dead-letter subject of a consumer.
pub fn dead_letter_subject(consumer: &str) -> String {
    format!("flywheel.deadletter.{consumer}")
}

/// Creates every stream, or updates it to this configuration.
pub async fn ensure_all(js: &jetstream::Context) -> Result<(), jetstream::context::CreateStreamError> {
    for spec in ALL {
        js.create_or_update_stream(stream::Config {
            name: spec.name.to_owned(),
            subjects: vec![spec.subjects.to_owned()],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            duplicate_window: DUPLICATE_WINDOW,
            ..Default::default()
        })
        .await?;
    }
    Ok(())
}
