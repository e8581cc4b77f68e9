//! Events over NATS JetStream: protobuf bodies with CloudEvents headers (binary mode), published
//! through a transactional outbox and consumed by durable consumers with an inbox.

pub mod connection;
pub mod consumer;
pub mod outbox;
pub mod permissions;
pub mod streams;
pub mod subscriptions;

use async_nats::HeaderMap;
use bytes::Bytes;
use uuid::Uuid;

pub const HEADER_SPEC_VERSION: &str = "ce-specversion";
pub const HEADER_ID: &str = "ce-id";
pub const HEADER_SOURCE: &str = "ce-source";
pub const HEADER_TYPE: &str = "ce-type";
pub const HEADER_TIME: &str = "ce-time";
pub const HEADER_SUBJECT: &str = "ce-subject";
pub const HEADER_CONTENT_TYPE: &str = "content-type";
pub const HEADER_CORRELATION: &str = "flywheel-correlation-id";
pub const HEADER_MSG_ID: &str = "Nats-Msg-Id";
pub const CONTENT_TYPE_PROTOBUF: &str = "application/protobuf";

/// An event about to be written to the outbox: what the domain decided, plus its envelope.
#[derive(Clone, Debug, PartialEq)]
pub struct OutgoingEvent {
    /// UUIDv7; also the JetStream de-duplication id.
    pub id: Uuid,
    /// `flywheel.<context>.<aggregate>.<event>`
    pub subject: String,
    /// `flywheel/<service>`
    pub source: String,
    /// The id of the aggregate the event is about.
    pub aggregate_id: String,
    pub correlation_id: String,
    /// Microseconds since the Unix epoch.
    pub time_us: i64,
    pub payload: Vec<u8>,
}

impl OutgoingEvent {
    /// A new event with a fresh id, stamped now.
    pub fn new(
        service: &str,
        subject: impl Into<String>,
        aggregate_id: impl Into<String>,
        correlation_id: impl Into<String>,
        message: &impl prost::Message,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            subject: subject.into(),
            source: format!("flywheel/{service}"),
            aggregate_id: aggregate_id.into(),
            correlation_id: correlation_id.into(),
            time_us: crate::db::now_micros(),
            payload: message.encode_to_vec(),
        }
    }

    /// The CloudEvents type: the subject plus the contract's major version.
    pub fn event_type(&self) -> String {
        format!("{}.v1", self.subject)
    }

    pub fn headers(&self) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER_SPEC_VERSION, "1.0");
        h.insert(HEADER_ID, self.id.to_string().as_str());
        h.insert(HEADER_MSG_ID, self.id.to_string().as_str());
        h.insert(HEADER_SOURCE, self.source.as_str());
        h.insert(HEADER_TYPE, self.event_type().as_str());
        h.insert(HEADER_TIME, format_time(self.time_us).as_str());
        h.insert(HEADER_SUBJECT, self.aggregate_id.as_str());
        h.insert(HEADER_CONTENT_TYPE, CONTENT_TYPE_PROTOBUF);
        h.insert(HEADER_CORRELATION, self.correlation_id.as_str());
        h
    }
}

/// An event as a consumer receives it.
#[derive(Clone, Debug)]
pub struct IncomingEvent {
    pub id: String,
    pub subject: String,
    pub source: String,
    pub aggregate_id: String,
    pub correlation_id: String,
    /// When the event happened, in microseconds since the epoch (from `ce-time`).
    pub time_us: i64,
    pub payload: Bytes,
}

impl IncomingEvent {
    /// Reads the envelope from the headers; `None` when the message is not a Flywheel event.
    pub fn from_message(subject: &str, headers: Option<&HeaderMap>, payload: Bytes) -> Option<Self> {
        let headers = headers?;
        let get = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
        let id = get(HEADER_ID)?;
        Some(Self {
            id,
            subject: subject.to_owned(),
            source: get(HEADER_SOURCE).unwrap_or_default(),
            aggregate_id: get(HEADER_SUBJECT).unwrap_or_default(),
            correlation_id: get(HEADER_CORRELATION).unwrap_or_default(),
            time_us: get(HEADER_TIME).and_then(|t| parse_time(&t)).unwrap_or(0),
            payload,
        })
    }

    /// Decodes the body as `M`.
    pub fn decode<M: prost::Message + Default>(&self) -> Result<M, prost::DecodeError> {
        M::decode(self.payload.clone())
    }
}

fn format_time(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_into_an_incoming_event() {
        let out = OutgoingEvent {
            id: Uuid::now_v7(),
            subject: "flywheel.registry.site.registered".into(),
            source: "flywheel/registry".into(),
            aggregate_id: "site-1".into(),
            correlation_id: "corr-1".into(),
            time_us: 1_700_000_000_123_456,
            payload: vec![1, 2, 3],
        };
        let headers = out.headers();
        assert_eq!(headers.get(HEADER_TYPE).unwrap().as_str(), "flywheel.registry.site.registered.v1");
        assert_eq!(headers.get(HEADER_MSG_ID).unwrap().as_str(), out.id.to_string());
        let inc = IncomingEvent::from_message(&out.subject, Some(&headers), Bytes::from(out.payload.clone()))
            .unwrap();
        assert_eq!(inc.id, out.id.to_string());
        assert_eq!(inc.aggregate_id, "site-1");
        assert_eq!(inc.correlation_id, "corr-1");
        assert_eq!(inc.time_us, out.time_us);
    }

    #[test]
    fn a_message_without_an_event_id_is_not_an_event() {
        assert!(IncomingEvent::from_message("x", None, Bytes::new()).is_none());
        assert!(IncomingEvent::from_message("x", Some(&HeaderMap::new()), Bytes::new()).is_none());
    }
}
