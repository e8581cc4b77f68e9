//! Dispatch served on 127.0.0.1:0 with its own nats-server and database, a registry replica
//! seeded through real registry events, and helpers to build requests and read events.
#![allow(dead_code)]

use async_nats::jetstream;
use flywheel_proto::flywheel::common::v1::{Dimension, GeoPoint, Perspective, ScenarioCell};
use flywheel_proto::flywheel::dispatch::v1::dispatch_service_client::DispatchServiceClient;
use flywheel_proto::flywheel::dispatch::v1::*;
use flywheel_proto::flywheel::registry::v1 as registry;
use flywheel_runtime::events::OutgoingEvent;
use flywheel_testing::{eventually, AuthChannel, NatsServer, Role, RunningService, TestAuth, TestDatabase};
use prost::Message;
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(30);
pub type Client = DispatchServiceClient<AuthChannel>;

pub struct Harness {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub auth: TestAuth,
    pub service: Option<RunningService>,
    /// Calls as a dispatcher.
    pub client: Client,
}

/// A dispatch replica trusting `auth`'s key, and a dispatcher's client to it.
pub async fn start(db: &TestDatabase, nats: &NatsServer, auth: &TestAuth) -> (RunningService, Client) {
    let config = flywheel_testing::config(flywheel_dispatch::SERVICE, &db.url(), &nats.url(), auth);
    let service = RunningService::start(flywheel_dispatch::build(config).await.unwrap(), auth);
    let client = DispatchServiceClient::new(service.channel_as(Role::Dispatcher, "dispatcher-1").await);
    (service, client)
}

impl Harness {
    pub async fn start() -> Self {
        let nats = NatsServer::start().await;
        let db = TestDatabase::new();
        let auth = TestAuth::new();
        let (service, client) = start(&db, &nats, &auth).await;
        Self { nats, db, auth, service: Some(service), client }
    }

    /// A client that calls with `token`.
    pub async fn client_with(&self, token: &str) -> Client {
        DispatchServiceClient::new(self.service.as_ref().unwrap().channel_with(token).await)
    }

    /// Stops the service and starts a new one on the same database and NATS.
    pub async fn restart(&mut self) {
        if let Some(s) = self.service.take() {
            s.stop().await.unwrap();
        }
        let (service, client) = start(&self.db, &self.nats, &self.auth).await;
        self.service = Some(service);
        self.client = client;
    }

    /// A JetStream client, with the streams declared (as every service does at start-up).
    pub async fn js(&self) -> jetstream::Context {
        let js = jetstream::new(self.nats.client().await);
        flywheel_runtime::events::streams::ensure_all(&js).await.unwrap();
        js
    }
}

/// The reference district as dispatch learns it from registry events.
pub struct District {
    pub city: String,
    pub district: String,
    pub street: String,
    pub tower: registry::Site,
    pub wetland: registry::Site,
    pub lights: registry::Category,
}

/// Publishes an event as its publisher's outbox relay would.
pub async fn publish(js: &jetstream::Context, service: &str, subject: &str, aggregate: &str, msg: &impl Message) -> OutgoingEvent {
    let event = OutgoingEvent::new(service, subject, aggregate, "corr-test", msg);
    republish(js, &event, &event.id.to_string()).await;
    event
}

/// Publishes `event` again under another JetStream message id: a second delivery of the same
/// event (same ce-id) that JetStream's de-duplication does not catch.
pub async fn republish(js: &jetstream::Context, event: &OutgoingEvent, msg_id: &str) {
    let mut headers = event.headers();
    headers.insert("Nats-Msg-Id", msg_id);
    js.publish_with_headers(event.subject.clone(), headers, event.payload.clone().into()).await.unwrap().await.unwrap();
}

pub fn region(id: &str, kind: registry::RegionKind, parent: &str, ancestors: &[&str]) -> registry::Region {
    registry::Region {
        id: id.into(),
        code: id.into(),
        name: id.into(),
        kind: kind as i32,
        parent_id: parent.into(),
        ancestor_ids: ancestors.iter().map(|a| a.to_string()).collect(),
        status: 1,
        version: 1,
        ..Default::default()
    }
}

pub fn site(id: &str, region_path: &[&str], lat: f64, lng: f64) -> registry::Site {
    registry::Site {
        id: id.into(),
        code: id.into(),
        name: format!("Site {id}"),
        r#type: 1,
        region_id: region_path.last().map(|r| r.to_string()).unwrap_or_default(),
        region_path: region_path.iter().map(|r| r.to_string()).collect(),
        location: Some(GeoPoint { lat, lng }),
        status: 1,
        version: 1,
        ..Default::default()
    }
}

/// A category with the same acknowledge and resolve targets for every priority.
pub fn category(id: &str, acknowledge: Duration, resolve: Duration) -> registry::Category {
    let d = |x: Duration| Some(prost_types::Duration { seconds: x.as_secs() as i64, nanos: x.subsec_nanos() as i32 });
    registry::Category {
        id: id.into(),
        code: id.into(),
        name: format!("Category {id}"),
        cell: Some(ScenarioCell { dimension: Dimension::Assets as i32, perspective: Perspective::Living as i32 }),
        default_priority: 3,
        sla_targets: (1..=4)
            .map(|p| registry::SlaTarget { priority: p, acknowledge_within: d(acknowledge), resolve_within: d(resolve) })
            .collect(),
        required_skills: vec!["electrical".into()],
        status: 1,
        version: 1,
        ..Default::default()
    }
}

pub async fn publish_category(js: &jetstream::Context, c: &registry::Category) {
    let msg = registry::CategoryDefined { category: Some(c.clone()) };
    publish(js, "registry", "flywheel.registry.category.defined", &c.id, &msg).await;
}

/// Seeds the replica with Guangzhou › Haizhu › Chigang, two sites and a category, and waits until
/// dispatch has applied them.
pub async fn district(h: &Harness, sla: (Duration, Duration)) -> District {
    let js = h.js().await;
    let city = region("gz", registry::RegionKind::City, "", &[]);
    let district = region("haizhu", registry::RegionKind::District, "gz", &["gz"]);
    let street = region("chigang", registry::RegionKind::Street, "haizhu", &["gz", "haizhu"]);
    for r in [&city, &district, &street] {
        publish(&js, "registry", "flywheel.registry.region.created", &r.id, &registry::RegionCreated { region: Some(r.clone()) }).await;
    }
    let tower = site("canton-tower", &["gz", "haizhu", "chigang"], 23.106, 113.324);
    let wetland = site("wetland", &["gz", "haizhu"], 23.07, 113.35);
    for s in [&tower, &wetland] {
        publish(&js, "registry", "flywheel.registry.site.registered", &s.id, &registry::SiteRegistered { site: Some(s.clone()) }).await;
    }
    let lights = category("street-light-out", sla.0, sla.1);
    publish_category(&js, &lights).await;
    await_replica(&h.client, &tower.id, &lights.id).await;
    // With two replicas the events are split between them and may land in any order.
    for (site, region) in [(&tower.id, &city.id), (&wetland.id, &district.id), (&tower.id, &street.id)] {
        eventually(WAIT, || {
            let mut c = h.client.clone();
            let probe = WatchTicketsRequest { site_id: site.clone(), region_id: region.clone(), ..Default::default() };
            async move { c.watch_tickets(probe).await.ok().map(drop) }
        })
        .await;
    }
    District { city: city.id, district: district.id, street: street.id, tower, wetland, lights }
}

/// Waits until the replica knows the site and the category: a ticket naming both and an
/// unknown zone is refused for the zone, which is checked after them.
pub async fn await_replica(client: &Client, site_id: &str, category_id: &str) {
    eventually(WAIT, || {
        let mut c = client.clone();
        let mut t = ticket(site_id, category_id);
        t.zone_id = "no-such-zone".into();
        async move {
            let status = c.create_ticket(CreateTicketRequest { ticket: Some(t), request_id: String::new() }).await.unwrap_err();
            (status.code() == tonic::Code::NotFound && status.message().starts_with("zone")).then_some(())
        }
    })
    .await;
}

/// A crew that covers `sites` and `regions`, always on shift (every day around the clock, UTC).
pub fn crew(code: &str, sites: &[&str], regions: &[&str], capacity: i32) -> Crew {
    Crew {
        code: code.into(),
        name: format!("Crew {code}"),
        skills: vec!["electrical".into()],
        coverage: Some(CrewCoverage {
            site_ids: sites.iter().map(|s| s.to_string()).collect(),
            region_ids: regions.iter().map(|s| s.to_string()).collect(),
        }),
        base_location: Some(GeoPoint { lat: 23.1, lng: 113.33 }),
        capacity,
        time_zone: "UTC".into(),
        shifts: (1..=7)
            .map(|d| WeeklyShift { weekday: d, start_minute_of_day: 0, duration: Some(prost_types::Duration { seconds: 86_400, nanos: 0 }) })
            .collect(),
        members: vec![CrewMember { member_id: format!("{code}-lead"), display_name: "Lead".into(), role: 1 }],
        ..Default::default()
    }
}

pub async fn create_crew(client: &mut Client, crew: Crew) -> Crew {
    client.create_crew(CreateCrewRequest { crew: Some(crew), request_id: String::new() }).await.unwrap().into_inner()
}

pub fn ticket(site: &str, category: &str) -> Ticket {
    Ticket {
        site_id: site.into(),
        category_id: category.into(),
        description: "the lamp by the north gate is out".into(),
        origin: Some(TicketOrigin { kind: TicketOriginKind::Manual as i32, ..Default::default() }),
        ..Default::default()
    }
}

pub async fn create_ticket(client: &mut Client, t: Ticket) -> Ticket {
    client.create_ticket(CreateTicketRequest { ticket: Some(t), request_id: String::new() }).await.unwrap().into_inner()
}

pub async fn get(client: &mut Client, id: &str) -> Ticket {
    client.get_ticket(GetTicketRequest { id: id.into(), view: 0 }).await.unwrap().into_inner()
}

pub fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() })
}

pub fn actions(t: &Ticket) -> Vec<TicketAction> {
    t.history.iter().map(|h| TicketAction::try_from(h.action).unwrap()).collect()
}

/// Every event in FLYWHEEL_DISPATCH so far: (subject, ce-subject, body).
pub async fn dispatch_events(js: &jetstream::Context) -> Vec<(String, String, bytes::Bytes)> {
    let Ok(mut stream) = js.get_stream("FLYWHEEL_DISPATCH").await else { return Vec::new() };
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        if let Ok(m) = stream.get_raw_message(seq).await {
            let aggregate = m.headers.get("ce-subject").map(|v| v.as_str().to_owned()).unwrap_or_default();
            out.push((m.subject.to_string(), aggregate, m.payload));
        }
    }
    out
}

/// The events about one ticket, by their last subject segment, once `until` holds.
pub async fn ticket_events(js: &jetstream::Context, ticket_id: &str, until: impl Fn(&[String]) -> bool) -> Vec<String> {
    eventually(WAIT, || async {
        let names: Vec<String> = dispatch_events(js)
            .await
            .into_iter()
            .filter(|(_, agg, _)| agg == ticket_id)
            .map(|(s, _, _)| s.trim_start_matches("flywheel.dispatch.ticket.").to_owned())
            .collect();
        until(&names).then_some(names)
    })
    .await
}

pub fn micros(t: &prost_types::Timestamp) -> i64 {
    t.seconds * 1_000_000 + i64::from(t.nanos) / 1000
}

/// Waits until dispatch's durable consumer on `stream` has acknowledged every event in it.
pub async fn consumed(js: &jetstream::Context, stream: &str) {
    consumed_within(js, stream, WAIT).await
}

pub async fn consumed_within(js: &jetstream::Context, stream: &str, timeout: Duration) {
    eventually(timeout, || async {
        let mut s = js.get_stream(stream).await.ok()?;
        let last = s.info().await.ok()?.state.last_sequence;
        let mut c: jetstream::consumer::PullConsumer = s.get_consumer("dispatch").await.ok()?;
        let info = c.info().await.ok()?;
        (info.ack_floor.stream_sequence >= last && info.num_ack_pending == 0).then_some(())
    })
    .await;
}

/// The ticket once `done` holds for it.
pub async fn until(client: &Client, id: &str, done: impl Fn(&Ticket) -> bool) -> Ticket {
    eventually(WAIT, || {
        let mut c = client.clone();
        let id = id.to_owned();
        let done = &done;
        async move {
            let t = get(&mut c, &id).await;
            done(&t).then_some(t)
        }
    })
    .await
}
