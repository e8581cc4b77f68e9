//! Analytics served on 127.0.0.1:0 with its own nats-server and database, and a publisher of
//! real registry, dispatch and feedback events (protobuf bodies, CloudEvents headers).
#![allow(dead_code)]

use async_nats::jetstream;
use flywheel_analytics::settings::Settings;
use flywheel_proto::flywheel::analytics::v1::analytics_service_client::AnalyticsServiceClient;
use flywheel_proto::flywheel::analytics::v1::{self as pb, GetProjectionStatusRequest};
use flywheel_proto::flywheel::common::v1::{GeoPoint, ScenarioCell};
use flywheel_proto::flywheel::dispatch::v1 as dispatch;
use flywheel_proto::flywheel::feedback::v1 as feedback;
use flywheel_proto::flywheel::registry::v1 as registry;
use flywheel_runtime::events::subscriptions::ANALYTICS;
use flywheel_runtime::events::{HEADER_MSG_ID, OutgoingEvent, streams};
use flywheel_testing::{AuthChannel, NatsServer, Role, RunningService, TestAuth, TestDatabase};
use std::time::Duration;

pub const HOUR: i64 = 3_600_000_000;
pub const MINUTE: i64 = 60_000_000;

pub struct Harness {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub auth: TestAuth,
    pub service: Option<RunningService>,
    /// Calls as an analyst.
    pub client: AnalyticsServiceClient<AuthChannel>,
    pub js: jetstream::Context,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(Settings::default()).await
    }

    pub async fn start_with(settings: Settings) -> Self {
        let nats = NatsServer::start().await;
        let db = TestDatabase::new();
        let js = jetstream::new(nats.client().await);
        streams::ensure_all(&js).await.unwrap();
        let auth = TestAuth::new();
        let (service, client) = serve(&db, &nats, &auth, settings).await;
        Self { nats, db, auth, service: Some(service), client, js }
    }

    /// Stops the service (its database and the streams stay).
    pub async fn stop(&mut self) {
        if let Some(s) = self.service.take() {
            s.stop().await.unwrap();
        }
    }

    /// Starts the service again on the same database and streams.
    pub async fn restart(&mut self) {
        let (service, client) = serve(&self.db, &self.nats, &self.auth, Settings::default()).await;
        self.service = Some(service);
        self.client = client;
    }

    pub fn http_addr(&self) -> std::net::SocketAddr {
        self.service.as_ref().unwrap().http_addr
    }

    /// Publishes an event as its service's outbox relay would, happening at `time_us`.
    pub async fn publish(&self, service: &str, subject: &str, aggregate: &str, time_us: i64, msg: &impl prost::Message) -> OutgoingEvent {
        let mut event = OutgoingEvent::new(service, subject, aggregate, "corr-test", msg);
        event.time_us = time_us;
        self.send(&event, &event.id.to_string()).await;
        event
    }

    /// Publishes an already published event again under another JetStream message id, as a
    /// manual replay of a dead letter or a relay retry after the duplicate window would.
    pub async fn republish(&self, event: &OutgoingEvent) {
        self.send(event, &format!("again-{}", event.id)).await;
    }

    async fn send(&self, event: &OutgoingEvent, msg_id: &str) {
        let mut headers = event.headers();
        headers.insert(HEADER_MSG_ID, msg_id);
        self.js
            .publish_with_headers(event.subject.clone(), headers, event.payload.clone().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    /// Waits until every stream has been applied up to its last event analytics receives.
    pub async fn caught_up(&mut self) {
        let mut expected = Vec::new();
        for subscription in &ANALYTICS {
            let mut stream = self.js.get_stream(subscription.stream.name).await.unwrap();
            let mut last = 0;
            if subscription.filter_subjects.is_empty() {
                last = stream.info().await.unwrap().state.last_sequence;
            }
            for subject in subscription.filter_subjects {
                last = last.max(stream.get_last_raw_message_by_subject(subject).await.map_or(0, |m| m.sequence));
            }
            expected.push(last);
        }
        let client = self.client.clone();
        flywheel_testing::eventually(Duration::from_secs(30), || {
            let mut client = client.clone();
            let expected = expected.clone();
            async move {
                let status = client.get_projection_status(GetProjectionStatusRequest {}).await.ok()?.into_inner();
                let done = status.streams.iter().zip(&expected).all(|(s, want)| s.last_applied_sequence >= *want && s.pending == 0);
                done.then_some(())
            }
        })
        .await;
    }
}

async fn serve(db: &TestDatabase, nats: &NatsServer, auth: &TestAuth, settings: Settings) -> (RunningService, AnalyticsServiceClient<AuthChannel>) {
    let config = flywheel_testing::config(flywheel_analytics::SERVICE, &db.url(), &nats.url(), auth);
    let bound = flywheel_analytics::build_with(config, settings).await.unwrap();
    let service = RunningService::start(bound, auth);
    let client = AnalyticsServiceClient::new(service.channel_as(Role::Analyst, "analyst-1").await);
    (service, client)
}

pub fn us(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_micros()
}

pub fn ts(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp { seconds: us.div_euclid(1_000_000), nanos: (us.rem_euclid(1_000_000) * 1000) as i32 }
}

pub fn dur(us: i64) -> prost_types::Duration {
    prost_types::Duration { seconds: us / 1_000_000, nanos: 0 }
}

pub fn range(start: i64, end: i64) -> Option<pb::TimeRange> {
    Some(pb::TimeRange { start_time: Some(ts(start)), end_time: Some(ts(end)) })
}

/// SAFETY x LIVING.
pub fn safety_living() -> ScenarioCell {
    ScenarioCell { dimension: 1, perspective: 2 }
}

/// The world of the tests: Guangzhou > Haizhu > Chigang, two sites 1 km apart (A a flagship),
/// one category in SAFETY x LIVING.
pub struct World {
    pub city: String,
    pub district: String,
    pub street: String,
    pub site_a: String,
    pub site_b: String,
    pub category: String,
}

impl World {
    pub fn guangzhou() -> Self {
        World {
            city: "r-gz".into(),
            district: "r-haizhu".into(),
            street: "r-chigang".into(),
            site_a: "s-canton-tower".into(),
            site_b: "s-pazhou".into(),
            category: "c-lighting".into(),
        }
    }

    pub fn path(&self) -> Vec<String> {
        vec![self.city.clone(), self.district.clone(), self.street.clone()]
    }
}

pub async fn registry_world(h: &Harness, at: i64) -> World {
    let w = World::guangzhou();
    let regions = [
        (&w.city, "gz", "Guangzhou", registry::RegionKind::City, vec![]),
        (&w.district, "gz-haizhu", "Haizhu <District>", registry::RegionKind::District, vec![w.city.clone()]),
        (&w.street, "gz-haizhu-chigang", "Chigang", registry::RegionKind::Street, vec![w.city.clone(), w.district.clone()]),
    ];
    for (id, code, name, kind, ancestors) in regions {
        let region = registry::Region {
            id: id.clone(),
            code: code.into(),
            name: name.into(),
            kind: kind as i32,
            parent_id: ancestors.last().cloned().unwrap_or_default(),
            ancestor_ids: ancestors,
            status: registry::Status::Active as i32,
            version: 1,
            ..Default::default()
        };
        h.publish("registry", "flywheel.registry.region.created", id, at, &registry::RegionCreated { region: Some(region) }).await;
    }
    for (id, code, flagship, lng) in [(&w.site_a, "CT", true, 113.3245), (&w.site_b, "PZ", false, 113.3343)] {
        let site = registry::Site {
            id: id.clone(),
            code: code.into(),
            name: format!("Site {code}"),
            region_id: w.street.clone(),
            region_path: w.path(),
            location: Some(GeoPoint { lat: 23.1059, lng }),
            flagship,
            status: registry::Status::Active as i32,
            version: 1,
            create_time: Some(ts(at)),
            ..Default::default()
        };
        h.publish("registry", "flywheel.registry.site.registered", id, at, &registry::SiteRegistered { site: Some(site) }).await;
    }
    let category = registry::Category {
        id: w.category.clone(),
        code: "lighting".into(),
        name: "Lighting".into(),
        cell: Some(safety_living()),
        status: registry::Status::Active as i32,
        version: 1,
        ..Default::default()
    };
    h.publish("registry", "flywheel.registry.category.defined", &w.category, at, &registry::CategoryDefined { category: Some(category) }).await;
    w
}

pub fn ticket(w: &World, id: &str, site: &str) -> dispatch::Ticket {
    dispatch::Ticket {
        id: id.into(),
        site_id: site.into(),
        region_path: w.path(),
        category_id: w.category.clone(),
        cell: Some(safety_living()),
        priority: 2,
        ..Default::default()
    }
}

pub fn report(w: &World, id: &str, site: &str, kind: feedback::ReportKind) -> feedback::Report {
    feedback::Report {
        id: id.into(),
        kind: kind as i32,
        site_id: site.into(),
        region_path: w.path(),
        category_id: w.category.clone(),
        cell: Some(safety_living()),
        ..Default::default()
    }
}

/// Events of one ticket's life, published in order.
pub struct TicketLife<'a> {
    pub h: &'a Harness,
    pub ticket: dispatch::Ticket,
}

impl TicketLife<'_> {
    pub async fn created(&self, at: i64) -> OutgoingEvent {
        let m = dispatch::TicketCreated { ticket: Some(self.ticket.clone()), ..Default::default() };
        self.h.publish("dispatch", "flywheel.dispatch.ticket.created", &self.ticket.id, at, &m).await
    }

    pub async fn accepted(&self, at: i64, ack: i64) {
        let m = dispatch::TicketAccepted {
            ticket: Some(self.ticket.clone()),
            time_to_acknowledge: Some(dur(ack)),
            first_in_cycle: true,
            acknowledged_within_sla: true,
            ..Default::default()
        };
        self.h.publish("dispatch", "flywheel.dispatch.ticket.accepted", &self.ticket.id, at, &m).await;
    }

    pub async fn resolved(&self, at: i64, ttr: i64, within_sla: bool, first_assignment: bool) {
        let m = dispatch::TicketResolved {
            ticket: Some(self.ticket.clone()),
            time_to_resolve: Some(dur(ttr)),
            resolved_within_sla: within_sla,
            first_assignment_resolution: first_assignment,
            resolution_note: "done".into(),
            ..Default::default()
        };
        self.h.publish("dispatch", "flywheel.dispatch.ticket.resolved", &self.ticket.id, at, &m).await;
    }

    pub async fn closed(&self, at: i64) {
        let m = dispatch::TicketClosed { ticket: Some(self.ticket.clone()), ..Default::default() };
        self.h.publish("dispatch", "flywheel.dispatch.ticket.closed", &self.ticket.id, at, &m).await;
    }

    pub async fn reopened(&self, at: i64, previous_resolve: i64) {
        let m = dispatch::TicketReopened {
            ticket: Some(self.ticket.clone()),
            previous_resolve_time: Some(ts(previous_resolve)),
            previous_state: dispatch::TicketState::Resolved as i32,
            ..Default::default()
        };
        self.h.publish("dispatch", "flywheel.dispatch.ticket.reopened", &self.ticket.id, at, &m).await;
    }

    pub async fn cancelled(&self, at: i64) {
        let m = dispatch::TicketCancelled {
            ticket: Some(self.ticket.clone()),
            previous_state: dispatch::TicketState::Reopened as i32,
            ..Default::default()
        };
        self.h.publish("dispatch", "flywheel.dispatch.ticket.cancelled", &self.ticket.id, at, &m).await;
    }

    pub async fn breached(&self, at: i64, clock: dispatch::SlaClock) {
        let m = dispatch::TicketSlaBreached { ticket: Some(self.ticket.clone()), clock: clock as i32, ..Default::default() };
        self.h.publish("dispatch", "flywheel.dispatch.ticket.sla_breached", &self.ticket.id, at, &m).await;
        let m = dispatch::TicketEscalated { ticket: Some(self.ticket.clone()), ..Default::default() };
        self.h.publish("dispatch", "flywheel.dispatch.ticket.escalated", &self.ticket.id, at, &m).await;
    }
}

pub async fn submitted(h: &Harness, r: &feedback::Report, at: i64) -> OutgoingEvent {
    let m = feedback::ReportSubmitted { report: Some(r.clone()) };
    h.publish("feedback", "flywheel.feedback.report.submitted", &r.id, at, &m).await
}

pub async fn rated(h: &Harness, r: &feedback::Report, ticket: &str, at: i64, rating: i32, fixed: feedback::FixedAnswer) {
    let m = feedback::ReportRated {
        report: Some(r.clone()),
        ticket_id: ticket.into(),
        rating,
        fixed: fixed as i32,
        survey_round: 1,
        ..Default::default()
    };
    h.publish("feedback", "flywheel.feedback.report.rated", &r.id, at, &m).await;
}

pub async fn supported(h: &Harness, r: &feedback::Report, at: i64) {
    let m = feedback::ReportSupported { report: Some(r.clone()), support_count: 1, ..Default::default() };
    h.publish("feedback", "flywheel.feedback.report.supported", &r.id, at, &m).await;
}

/// The standard story, starting at `t0`: two tickets at site A (one resolved in time after a
/// 10-minute acknowledgement and closed; one resolved late, reopened, cancelled, with a
/// breach), a complaint and a praise, one rating of 4 with "fixed", one support. Returns the
/// events worth redelivering.
pub async fn story(h: &Harness, w: &World, t0: i64) -> Vec<OutgoingEvent> {
    let complaint = report(w, "rep-1", &w.site_a, feedback::ReportKind::Complaint);
    let praise = report(w, "rep-2", &w.site_b, feedback::ReportKind::Praise);
    let mut again = vec![submitted(h, &complaint, t0).await];
    submitted(h, &praise, t0 + MINUTE).await;

    let one = TicketLife { h, ticket: ticket(w, "t-1", &w.site_a) };
    again.push(one.created(t0 + 2 * MINUTE).await);
    one.accepted(t0 + 12 * MINUTE, 10 * MINUTE).await;
    one.resolved(t0 + 2 * HOUR, 2 * HOUR, true, true).await;
    one.closed(t0 + 3 * HOUR).await;

    let two = TicketLife { h, ticket: ticket(w, "t-2", &w.site_a) };
    two.created(t0 + 5 * MINUTE).await;
    two.accepted(t0 + 35 * MINUTE, 30 * MINUTE).await;
    two.breached(t0 + 4 * HOUR, dispatch::SlaClock::Resolve).await;
    two.resolved(t0 + 5 * HOUR, 5 * HOUR, false, false).await;
    two.reopened(t0 + 6 * HOUR, t0 + 5 * HOUR).await;
    two.cancelled(t0 + 7 * HOUR).await;

    rated(h, &complaint, "t-1", t0 + 3 * HOUR, 4, feedback::FixedAnswer::Yes).await;
    supported(h, &complaint, t0 + 3 * HOUR).await;
    again
}
