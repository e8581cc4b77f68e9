//! A registry served on 127.0.0.1:0 with its own nats-server and database, and helpers to build
//! requests and read events.
#![allow(dead_code)]

use async_nats::jetstream::{self, consumer::pull};
use flywheel_proto::flywheel::common::v1::{Dimension, GeoPoint, Perspective, ScenarioCell};
use flywheel_proto::flywheel::registry::v1::registry_service_client::RegistryServiceClient;
use flywheel_proto::flywheel::registry::v1::*;
use flywheel_testing::{AuthChannel, NatsServer, Role, RunningService, TestAuth, TestDatabase};
use futures::StreamExt;
use std::time::Duration;

pub struct Harness {
    pub nats: NatsServer,
    pub db: TestDatabase,
    pub service: RunningService,
    /// Calls as a site manager, who may read and write.
    pub client: RegistryServiceClient<AuthChannel>,
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// A registry with more configuration, e.g. a rate limit.
    pub async fn start_with(vars: &[(&str, &str)]) -> Self {
        let nats = NatsServer::start().await;
        let db = TestDatabase::new();
        let auth = TestAuth::new();
        let config = flywheel_testing::config_with(flywheel_registry::SERVICE, &db.url(), &nats.url(), &auth, vars);
        let service = RunningService::start(flywheel_registry::build(config).await.unwrap(), &auth);
        let client = RegistryServiceClient::new(service.channel_as(Role::SiteManager, "manager-1").await);
        Self { nats, db, service, client }
    }

    /// A client that calls as `subject` in `role`.
    pub async fn client_as(&self, role: Role, subject: &str) -> RegistryServiceClient<AuthChannel> {
        RegistryServiceClient::new(self.service.channel_as(role, subject).await)
    }

    /// Haizhu: a city, a district and two streets. Returns (city, district, [streets]).
    pub async fn haizhu(&mut self) -> (Region, Region, Vec<Region>) {
        let city = self.region("gz", "Guangzhou", RegionKind::City, "").await;
        let district = self.region("gz-haizhu", "Haizhu", RegionKind::District, &city.id).await;
        let mut streets = Vec::new();
        for (code, name) in [("gz-haizhu-chigang", "Chigang"), ("gz-haizhu-pazhou", "Pazhou")] {
            streets.push(self.region(code, name, RegionKind::Street, &district.id).await);
        }
        (city, district, streets)
    }

    pub async fn region(&mut self, code: &str, name: &str, kind: RegionKind, parent: &str) -> Region {
        self.client
            .create_region(CreateRegionRequest {
                region: Some(Region {
                    code: code.into(),
                    name: name.into(),
                    kind: kind as i32,
                    parent_id: parent.into(),
                    ..Default::default()
                }),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn site(&mut self, site: Site) -> Site {
        self.client
            .register_site(RegisterSiteRequest { site: Some(site), request_id: String::new() })
            .await
            .unwrap()
            .into_inner()
    }
}

pub fn site(code: &str, region_id: &str, kind: SiteType, lat: f64, lng: f64) -> Site {
    Site {
        code: code.into(),
        name: format!("Site {code}"),
        r#type: kind as i32,
        region_id: region_id.into(),
        location: Some(GeoPoint { lat, lng }),
        service_radius_m: 300.0,
        ..Default::default()
    }
}

pub fn category(code: &str) -> Category {
    Category {
        code: code.into(),
        name: format!("Category {code}"),
        cell: Some(ScenarioCell { dimension: Dimension::Assets as i32, perspective: Perspective::Living as i32 }),
        default_priority: 3,
        sla_targets: (1..=4)
            .map(|p| SlaTarget {
                priority: p,
                acknowledge_within: Some(prost_types::Duration { seconds: 900 * p as i64, nanos: 0 }),
                resolve_within: Some(prost_types::Duration { seconds: 4 * 3600 * p as i64, nanos: 0 }),
            })
            .collect(),
        required_skills: vec!["electrical".into()],
        ..Default::default()
    }
}

pub fn mask(paths: &[&str]) -> Option<prost_types::FieldMask> {
    Some(prost_types::FieldMask { paths: paths.iter().map(|p| p.to_string()).collect() })
}

/// The field names of an INVALID_ARGUMENT status's BadRequest details.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    tonic_types::StatusExt::get_error_details(status)
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}

/// Every message in the registry stream, waiting until `expect` have arrived and then making
/// sure no more follow.
pub async fn registry_events(nats: &NatsServer, expect: usize) -> Vec<jetstream::Message> {
    let js = jetstream::new(nats.client().await);
    let stream = flywheel_testing::eventually(Duration::from_secs(20), || {
        let js = js.clone();
        async move { js.get_stream("FLYWHEEL_REGISTRY").await.ok() }
    })
    .await;
    let consumer = stream.create_consumer(pull::Config::default()).await.unwrap();
    let mut messages = consumer.messages().await.unwrap();
    let mut got = Vec::new();
    while got.len() < expect {
        let m = tokio::time::timeout(Duration::from_secs(20), messages.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {expect} events arrived", got.len()))
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
