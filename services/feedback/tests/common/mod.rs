//! Feedback served on 127.0.0.1:0 with its own nats-server and database; registry and dispatch
//! events published as those services would; callers with identities; the feedback events read.
#![allow(dead_code)]

use async_nats::jetstream::{self, consumer::pull};
use flywheel_feedback::settings::Settings;
use flywheel_proto::flywheel::common::v1::{Dimension, GeoPoint, Perspective, ScenarioCell};
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1::feedback_service_client::FeedbackServiceClient;
use flywheel_proto::flywheel::feedback::v1::*;
use flywheel_proto::flywheel::registry::v1 as registry;
use flywheel_runtime::events::{HEADER_MSG_ID, OutgoingEvent, streams};
use flywheel_testing::{AuthChannel, NatsServer, Role, RunningService, TestAuth, TestDatabase, eventually};

use futures::StreamExt;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(20);
pub const CITY: &str = "region-gz";
pub const DISTRICT: &str = "region-haizhu";

pub struct Harness {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub auth: TestAuth,
    pub service: RunningService,
    /// Calls as a service: the operator's front end acting for residents. Requests made with
    /// [`resident`] or [`staff`] carry their own token instead.
    pub client: FeedbackServiceClient<AuthChannel>,
    pub js: jetstream::Context,
}

impl Harness {
    pub async fn start() -> Self {
        Self::with(Settings::default()).await
    }

    pub async fn with(settings: Settings) -> Self {
        let nats = NatsServer::start().await;
        let db = TestDatabase::new();
        let js = jetstream::new(nats.client().await);
        streams::ensure_all(&js).await.unwrap();
        let auth = TestAuth::new();
        let config = flywheel_testing::config(flywheel_feedback::SERVICE, &db.url(), &nats.url(), &auth);
        let service = RunningService::start(flywheel_feedback::build_with(config, settings).await.unwrap(), &auth);
        let client = FeedbackServiceClient::new(service.channel_as(Role::Service, "resident-app").await);
        Self { nats, db, auth, service, client, js }
    }

    /// Publishes an event as its service's outbox relay would; `redeliver` publishes it a second
    /// time under another Nats-Msg-Id (same ce-id), as a replay or a lost ack would.
    pub async fn publish(&self, event: &OutgoingEvent, redeliver: bool) {
        self.js
            .publish_with_headers(event.subject.clone(), event.headers(), event.payload.clone().into())
            .await
            .unwrap()
            .await
            .unwrap();
        if redeliver {
            let mut headers = event.headers();
            headers.insert(HEADER_MSG_ID, format!("{}-again", event.id).as_str());
            self.js
                .publish_with_headers(event.subject.clone(), headers, event.payload.clone().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    }

    /// The Canton Tower (500 m radius) and a "street light out" category, through registry
    /// events; returns once feedback files reports there.
    pub async fn district(&mut self) -> (registry::Site, registry::Category) {
        let tower = site("site-tower", "canton-tower", 23.106, 113.324, 500.0);
        let light = category("cat-light", "street-light-out", "Street light out");
        self.publish(&OutgoingEvent::new("registry", "flywheel.registry.site.registered", &tower.id, "c", &registry::SiteRegistered { site: Some(tower.clone()) }), true).await;
        self.publish(&OutgoingEvent::new("registry", "flywheel.registry.category.defined", &light.id, "c", &registry::CategoryDefined { category: Some(light.clone()) }), true).await;
        self.wait_applied("FLYWHEEL_REGISTRY").await;
        (tower, light)
    }

    /// Waits until feedback's durable consumer has applied (acked) everything in `stream`.
    pub async fn wait_applied(&self, stream: &str) {
        let js = self.js.clone();
        eventually(WAIT, || {
            let js = js.clone();
            async move {
                let mut stream = js.get_stream(stream).await.ok()?;
                let last = stream.info().await.ok()?.state.last_sequence;
                let mut consumer: jetstream::consumer::Consumer<pull::Config> = stream.get_consumer("feedback").await.ok()?;
                let info = consumer.info().await.ok()?;
                (info.ack_floor.stream_sequence >= last && info.num_ack_pending == 0).then_some(())
            }
        })
        .await;
    }

    /// Every message in the feedback stream, waiting until `expect` have arrived and then making
    /// sure no more follow.
    pub async fn feedback_events(&self, expect: usize) -> Vec<jetstream::Message> {
        let stream = self.js.get_stream("FLYWHEEL_FEEDBACK").await.unwrap();
        let consumer = stream.create_consumer(pull::Config::default()).await.unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut got = Vec::new();
        while got.len() < expect {
            let m = tokio::time::timeout(WAIT, messages.next())
                .await
                .unwrap_or_else(|_| panic!("only {} of {expect} events arrived: {:?}", got.len(), subjects(&got)))
                .unwrap()
                .unwrap();
            m.ack().await.unwrap();
            got.push(m);
        }
        if let Ok(Some(Ok(extra))) = tokio::time::timeout(Duration::from_millis(700), messages.next()).await {
            panic!("an unexpected extra event: {}", extra.subject);
        }
        got
    }
}

pub fn subjects(messages: &[jetstream::Message]) -> Vec<String> {
    messages.iter().map(|m| m.subject.to_string()).collect()
}

pub fn site(id: &str, code: &str, lat: f64, lng: f64, radius_m: f64) -> registry::Site {
    registry::Site {
        id: id.into(),
        code: code.into(),
        name: format!("Site {code}"),
        region_id: DISTRICT.into(),
        region_path: vec![CITY.into(), DISTRICT.into()],
        location: Some(GeoPoint { lat, lng }),
        service_radius_m: radius_m,
        address: "222 Yuejiang West Road".into(),
        status: registry::Status::Active as i32,
        version: 1,
        ..Default::default()
    }
}

pub fn category(id: &str, code: &str, name: &str) -> registry::Category {
    registry::Category {
        id: id.into(),
        code: code.into(),
        name: name.into(),
        description: format!("{name}: report it here"),
        cell: Some(ScenarioCell { dimension: Dimension::Assets as i32, perspective: Perspective::Living as i32 }),
        default_priority: 3,
        status: registry::Status::Active as i32,
        version: 1,
        ..Default::default()
    }
}

/// A complaint from the app, at `location` (near the tower when `None`).
pub fn complaint(location: Option<GeoPoint>) -> Report {
    Report {
        kind: ReportKind::Complaint as i32,
        channel: ReportChannel::App as i32,
        location: Some(location.unwrap_or(GeoPoint { lat: 23.1062, lng: 113.324 })),
        description: "The street light by the north gate is out".into(),
        media_urls: vec!["https://img.example.org/light.jpg".into()],
        ..Default::default()
    }
}

pub fn contact() -> ResidentContact {
    ResidentContact { name: "Li Wei".into(), phone: "+8613800000000".into(), email: "li.wei@example.org".into() }
}

/// A request from resident `id` (the token's subject is the opaque resident id).
pub fn resident<T>(auth: &TestAuth, id: &str, message: T) -> tonic::Request<T> {
    auth.request_as(Role::Resident, id, message)
}

/// A request from dispatcher `id`, a member of staff.
pub fn staff<T>(auth: &TestAuth, id: &str, message: T) -> tonic::Request<T> {
    auth.request_as(Role::Dispatcher, id, message)
}

/// A ticket as dispatch would carry it in its events.
pub fn ticket(id: &str, report: &Report, state: dispatch::TicketState) -> dispatch::Ticket {
    dispatch::Ticket {
        id: id.into(),
        code: "T-20250301-0001".into(),
        site_id: report.site_id.clone(),
        category_id: report.category_id.clone(),
        origin: Some(dispatch::TicketOrigin {
            kind: dispatch::TicketOriginKind::ResidentReport as i32,
            report_id: report.id.clone(),
            report_tracking_code: report.tracking_code.clone(),
            ..Default::default()
        }),
        state: state as i32,
        sla: Some(dispatch::TicketSla {
            resolve_due_time: Some(prost_types::Timestamp { seconds: 1_900_000_000, nanos: 0 }),
            ..Default::default()
        }),
        correlation_id: report.correlation_id.clone(),
        ..Default::default()
    }
}

/// A dispatch ticket event with its message.
pub fn ticket_event(subject: &str, ticket: &dispatch::Ticket, message: &impl prost::Message) -> OutgoingEvent {
    OutgoingEvent::new("dispatch", format!("flywheel.dispatch.ticket.{subject}"), &ticket.id, &ticket.correlation_id, message)
}

/// The field names of an INVALID_ARGUMENT status's BadRequest details.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    tonic_types::StatusExt::get_error_details(status)
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}

pub fn statuses(report: &Report) -> Vec<i32> {
    report.timeline.iter().map(|t| t.status).collect()
}
