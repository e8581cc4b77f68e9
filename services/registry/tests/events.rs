//! Every registry change is published once, even when NATS is down while it happens.

mod common;

use common::*;
use flywheel_proto::flywheel::registry::v1::*;
use prost::Message;

#[tokio::test]
async fn each_change_publishes_one_event_with_its_state() {
    let mut h = Harness::start().await;
    let (_, district, _) = h.haizhu().await; // 4 region.created
    let tower = h.site(site("canton-tower", &district.id, SiteType::ScenicArea, 23.106, 113.324)).await;
    h.client
        .update_site(UpdateSiteRequest {
            site: Some(Site { id: tower.id.clone(), version: 1, flagship: true, ..Default::default() }),
            update_mask: mask(&["flagship"]),
        })
        .await
        .unwrap();
    // A failed change publishes nothing.
    let _ = h.client.update_site(UpdateSiteRequest { site: Some(Site { id: tower.id.clone(), version: 1, ..Default::default() }), update_mask: mask(&["flagship"]) }).await.unwrap_err();
    h.client.retire_site(RetireSiteRequest { id: tower.id.clone(), version: 2, reason: "moved".into(), request_id: String::new() }).await.unwrap();
    h.client.define_category(DefineCategoryRequest { category: Some(category("street-light-out")), request_id: "c1".into() }).await.unwrap();
    h.client.define_category(DefineCategoryRequest { category: Some(category("street-light-out")), request_id: "c1".into() }).await.unwrap();

    let events = registry_events(&h.nats, 8).await;
    let subjects: Vec<_> = events.iter().map(|m| m.subject.to_string()).collect();
    assert_eq!(
        subjects,
        [
            "flywheel.registry.region.created",
            "flywheel.registry.region.created",
            "flywheel.registry.region.created",
            "flywheel.registry.region.created",
            "flywheel.registry.site.registered",
            "flywheel.registry.site.updated",
            "flywheel.registry.site.retired",
            "flywheel.registry.category.defined",
        ]
    );
    let updated = SiteUpdated::decode(events[5].payload.clone()).unwrap();
    assert_eq!(updated.changed_fields, ["flagship"]);
    let site = updated.site.unwrap();
    assert!(site.flagship);
    assert_eq!(site.version, 2);
    let retired = SiteRetired::decode(events[6].payload.clone()).unwrap();
    assert_eq!(retired.reason, "moved");
    let headers = events[6].headers.as_ref().unwrap();
    assert_eq!(headers.get("ce-subject").unwrap().as_str(), tower.id);
    assert_eq!(headers.get("ce-type").unwrap().as_str(), "flywheel.registry.site.retired.v1");
}

#[tokio::test]
async fn changes_made_while_nats_is_down_are_published_once_it_returns() {
    let mut h = Harness::start().await;
    let city = h.region("gz", "Guangzhou", RegionKind::City, "").await;
    // Wait until the first event is out, so the stream exists before NATS goes away.
    registry_events(&h.nats, 1).await;

    h.nats.stop();
    // RPCs keep working: the events wait in the outbox.
    let district = h.region("gz-haizhu", "Haizhu", RegionKind::District, &city.id).await;
    let tower = h.site(site("canton-tower", &district.id, SiteType::ScenicArea, 23.106, 113.324)).await;
    h.nats.restart().await;

    let events = registry_events(&h.nats, 3).await;
    let subjects: Vec<_> = events.iter().map(|m| m.subject.to_string()).collect();
    assert_eq!(
        subjects,
        ["flywheel.registry.region.created", "flywheel.registry.region.created", "flywheel.registry.site.registered"]
    );
    let registered = SiteRegistered::decode(events[2].payload.clone()).unwrap();
    assert_eq!(registered.site.unwrap().id, tower.id);
}

#[tokio::test]
async fn a_stopped_service_loses_no_acknowledged_change() {
    let nats = flywheel_testing::NatsServer::start().await;
    let db = flywheel_testing::TestDatabase::new();
    let auth = flywheel_testing::TestAuth::new();
    let config = flywheel_testing::config(flywheel_registry::SERVICE, &db.url(), &nats.url(), &auth);
    let service = flywheel_testing::RunningService::start(flywheel_registry::build(config.clone()).await.unwrap(), &auth);
    let mut client = flywheel_proto::flywheel::registry::v1::registry_service_client::RegistryServiceClient::new(
        service.channel_as(flywheel_testing::Role::SiteManager, "manager-1").await,
    );
    let city = client
        .create_region(CreateRegionRequest {
            region: Some(Region { code: "gz".into(), name: "Guangzhou".into(), kind: RegionKind::City as i32, ..Default::default() }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    service.stop().await.unwrap();

    // Started again on the same database, the region is there.
    let service = flywheel_testing::RunningService::start(flywheel_registry::build(config).await.unwrap(), &auth);
    let mut client = flywheel_proto::flywheel::registry::v1::registry_service_client::RegistryServiceClient::new(
        service.channel_as(flywheel_testing::Role::Analyst, "analyst-1").await,
    );
    let got = client.get_region(GetRegionRequest { id: city.id.clone() }).await.unwrap().into_inner();
    assert_eq!(got, city);
}
