//! The registry over real gRPC, with a real nats-server and database behind it.

mod common;

use common::*;
use flywheel_proto::flywheel::common::v1::GeoPoint;
use flywheel_proto::flywheel::registry::v1::*;
use std::collections::HashSet;
use tonic::Code;

/// Health and reflection answer without a token.
#[tokio::test]
async fn serves_health_and_reflection() {
    let h = Harness::start().await;
    let channel = h.service.channel().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "flywheel.registry.v1.RegistryService"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest { service: service.into() })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, tonic_health::pb::health_check_response::ServingStatus::Serving);
    }

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    assert!(names.contains(&"flywheel.registry.v1.RegistryService".to_owned()), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health".to_owned()), "{names:?}");
}

#[tokio::test]
async fn metrics_count_rpcs_by_method_and_code() {
    let mut h = Harness::start().await;
    let _ = h.client.get_site(GetSiteRequest { id: "missing".into() }).await;
    let body = reqwest_like_get(h.service.http_addr, "/metrics").await;
    assert!(
        body.lines().any(|l| l.starts_with("grpc_server_handled_total")
            && l.contains("GetSite")
            && l.contains("code=\"NotFound\"")),
        "{body}"
    );
}

/// A plain HTTP/1.1 GET over a TCP socket.
async fn reqwest_like_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn regions_form_a_tree() {
    let mut h = Harness::start().await;
    let (city, district, streets) = h.haizhu().await;
    assert_eq!(streets[0].ancestor_ids, [city.id.clone(), district.id.clone()]);
    assert_eq!(streets[0].version, 1);

    // A street cannot sit under a city; an unknown parent is a bad field.
    let err = h
        .client
        .create_region(CreateRegionRequest {
            region: Some(Region { code: "x".into(), name: "X".into(), kind: RegionKind::Street as i32, parent_id: city.id.clone(), ..Default::default() }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let err = h
        .client
        .create_region(CreateRegionRequest {
            region: Some(Region { code: "y".into(), name: "Y".into(), kind: RegionKind::District as i32, parent_id: "nope".into(), ..Default::default() }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["region.parent_id"]);

    let subtree = h
        .client
        .list_regions(ListRegionsRequest { ancestor_id: city.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(subtree.regions.len(), 3);
    let children = h
        .client
        .list_regions(ListRegionsRequest { parent_id: district.id.clone(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(children.regions.len(), 2);

    // A district with active streets cannot retire; its street can, once.
    let err = h.client.retire_region(RetireRegionRequest { id: district.id.clone(), version: 1, request_id: String::new() }).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let retired = h.client.retire_region(RetireRegionRequest { id: streets[1].id.clone(), version: 1, request_id: String::new() }).await.unwrap().into_inner();
    assert_eq!(retired.status(), Status::Retired);
    let err = h.client.retire_region(RetireRegionRequest { id: streets[1].id.clone(), version: 2, request_id: String::new() }).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("RETIRED"));

    let renamed = h
        .client
        .update_region(UpdateRegionRequest {
            region: Some(Region { id: district.id.clone(), version: 1, name: "Haizhu District".into(), ..Default::default() }),
            update_mask: mask(&["name"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((renamed.name.as_str(), renamed.version), ("Haizhu District", 2));
    let err = h
        .client
        .update_region(UpdateRegionRequest {
            region: Some(Region { id: district.id.clone(), version: 1, name: "Stale".into(), ..Default::default() }),
            update_mask: mask(&["name"]),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
}

#[tokio::test]
async fn site_lifecycle_and_statuses() {
    let mut h = Harness::start().await;
    let (_, district, _) = h.haizhu().await;
    let mut tower = site("canton-tower", &district.id, SiteType::ScenicArea, 23.106, 113.324);
    tower.flagship = true;
    tower.name = "Canton Tower <scenic> & \"area\"".into();
    let tower = h.site(tower).await;
    assert_eq!(tower.version, 1);
    assert_eq!(tower.status(), Status::Active);
    assert_eq!(tower.name, "Canton Tower <scenic> & \"area\"", "stored verbatim");
    assert_eq!(tower.region_path.last(), Some(&district.id));

    let got = h.client.get_site(GetSiteRequest { id: tower.id.clone() }).await.unwrap().into_inner();
    assert_eq!(got, tower);
    let err = h.client.get_site(GetSiteRequest { id: "missing".into() }).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let err = h.client.register_site(RegisterSiteRequest { site: Some(site("canton-tower", &district.id, SiteType::Park, 23.0, 113.0)), request_id: String::new() }).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    let mut bad = site("bad site", "unknown-region", SiteType::Unspecified, 123.0, 113.0);
    bad.name = " ".into();
    let err = h.client.register_site(RegisterSiteRequest { site: Some(bad), request_id: String::new() }).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["site.code", "site.name", "site.type", "site.location.lat"]);
    let err = h.client.register_site(RegisterSiteRequest { site: Some(site("orphan", "unknown-region", SiteType::Park, 23.0, 113.0)), request_id: String::new() }).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["site.region_id"]);
    let err = h.client.register_site(RegisterSiteRequest { site: None, request_id: String::new() }).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["site"]);

    let moved = h
        .client
        .update_site(UpdateSiteRequest {
            site: Some(Site { id: tower.id.clone(), version: 1, location: Some(GeoPoint { lat: 23.1065, lng: 113.3245 }), name: "ignored".into(), ..Default::default() }),
            update_mask: mask(&["location"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(moved.version, 2);
    assert_eq!(moved.name, tower.name, "fields outside the mask are untouched");
    assert_eq!(moved.location.unwrap().lat, 23.1065);

    let err = h
        .client
        .update_site(UpdateSiteRequest { site: Some(Site { id: tower.id.clone(), version: 2, ..Default::default() }), update_mask: mask(&["code"]) })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["update_mask"]);
    let err = h
        .client
        .update_site(UpdateSiteRequest { site: Some(Site { id: tower.id.clone(), version: 1, name: "Old".into(), ..Default::default() }), update_mask: mask(&["name"]) })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Aborted);

    let err = h.client.retire_site(RetireSiteRequest { id: tower.id.clone(), version: 1, ..Default::default() }).await.unwrap_err();
    assert_eq!(err.code(), Code::Aborted);
    let retired = h.client.retire_site(RetireSiteRequest { id: tower.id.clone(), version: 2, reason: "contract ended".into(), request_id: "retire-1".into() }).await.unwrap().into_inner();
    assert_eq!(retired.status(), Status::Retired);
    assert!(retired.retire_time.is_some());
    // The same request retried returns the retired site; a new one fails on the state.
    let again = h.client.retire_site(RetireSiteRequest { id: tower.id.clone(), version: 2, reason: "contract ended".into(), request_id: "retire-1".into() }).await.unwrap().into_inner();
    assert_eq!(again, retired);
    let err = h.client.retire_site(RetireSiteRequest { id: tower.id.clone(), version: 3, ..Default::default() }).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(err.message().contains("RETIRED"), "{}", err.message());
}

#[tokio::test]
async fn a_retried_create_returns_the_first_site() {
    let mut h = Harness::start().await;
    let (_, district, _) = h.haizhu().await;
    let request = RegisterSiteRequest {
        site: Some(site("wetland", &district.id, SiteType::Park, 23.07, 113.35)),
        request_id: "req-42".into(),
    };
    let first = h.client.register_site(request.clone()).await.unwrap().into_inner();
    let second = h.client.register_site(request).await.unwrap().into_inner();
    assert_eq!(first, second);
    let all = h.client.list_sites(ListSitesRequest::default()).await.unwrap().into_inner();
    assert_eq!(all.sites.len(), 1);
}

#[tokio::test]
async fn site_filters_and_pagination() {
    let mut h = Harness::start().await;
    let (city, district, streets) = h.haizhu().await;
    let other_district = h.region("gz-tianhe", "Tianhe", RegionKind::District, &city.id).await;
    let mut tower = site("canton-tower", &streets[0].id, SiteType::ScenicArea, 23.106, 113.324);
    tower.flagship = true;
    h.site(tower).await;
    h.site(site("wetland", &district.id, SiteType::Park, 23.07, 113.35)).await;
    h.site(site("canton-fair", &streets[1].id, SiteType::ExhibitionVenue, 23.10, 113.37)).await;
    for i in 0..7 {
        h.site(site(&format!("street-{i}"), &streets[0].id, SiteType::StreetSegment, 23.105 + i as f64 * 0.001, 113.30)).await;
    }
    h.site(site("tianhe-sports", &other_district.id, SiteType::SportsVenue, 23.14, 113.32)).await;

    let reader = h.client.clone();
    let list = |req: ListSitesRequest| {
        let mut client = reader.clone();
        async move { client.list_sites(req).await.unwrap().into_inner() }
    };
    let codes = |r: &ListSitesResponse| r.sites.iter().map(|s| s.code.clone()).collect::<HashSet<_>>();

    assert_eq!(list(ListSitesRequest { region_id: district.id.clone(), ..Default::default() }).await.sites.len(), 10);
    assert_eq!(list(ListSitesRequest { region_id: streets[1].id.clone(), ..Default::default() }).await.sites.len(), 1);
    assert_eq!(list(ListSitesRequest { region_id: city.id.clone(), ..Default::default() }).await.sites.len(), 11);
    assert_eq!(
        codes(&list(ListSitesRequest { r#type: SiteType::Park as i32, ..Default::default() }).await),
        HashSet::from(["wetland".to_owned()])
    );
    assert_eq!(
        codes(&list(ListSitesRequest { flagship: Some(true), ..Default::default() }).await),
        HashSet::from(["canton-tower".to_owned()])
    );
    assert_eq!(list(ListSitesRequest { flagship: Some(false), ..Default::default() }).await.sites.len(), 10);

    // Within 3 km of the tower: the tower and the street segments, not the wetland (~4.7 km)
    // nor the fair (~4.7 km) nor Tianhe (~3.8 km).
    let near = list(ListSitesRequest {
        within: Some(Circle { center: Some(GeoPoint { lat: 23.106, lng: 113.324 }), radius_m: 3_000.0 }),
        ..Default::default()
    })
    .await;
    let expected: HashSet<String> = std::iter::once("canton-tower".to_owned()).chain((0..7).map(|i| format!("street-{i}"))).collect();
    assert_eq!(codes(&near), expected);
    let err = h
        .client
        .list_sites(ListSitesRequest { within: Some(Circle { center: Some(GeoPoint { lat: 95.0, lng: 0.0 }), radius_m: -1.0 }), ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["within.center.lat", "within.radius_m"]);

    // Pages of 3 over the district: every site once, the last page has no token.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = list(ListSitesRequest { region_id: district.id.clone(), page_size: 3, page_token: token.clone(), ..Default::default() }).await;
        pages += 1;
        assert!(page.sites.len() <= 3);
        seen.extend(page.sites.iter().map(|s| s.id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 4);
    assert_eq!(seen.len(), 10);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 10);

    // A street (no child regions) pages its own sites the same way, in id order.
    let first = list(ListSitesRequest { region_id: streets[0].id.clone(), page_size: 5, ..Default::default() }).await;
    let rest = list(ListSitesRequest { region_id: streets[0].id.clone(), page_size: 5, page_token: first.next_page_token, ..Default::default() }).await;
    let ids: Vec<String> = first.sites.iter().chain(&rest.sites).map(|s| s.id.clone()).collect();
    assert_eq!((first.sites.len(), rest.sites.len(), rest.next_page_token.as_str()), (5, 3, ""));
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");

    // A radius search paginates too.
    let first = list(ListSitesRequest {
        within: Some(Circle { center: Some(GeoPoint { lat: 23.106, lng: 113.324 }), radius_m: 3_000.0 }),
        page_size: 5,
        ..Default::default()
    })
    .await;
    assert_eq!(first.sites.len(), 5);
    let rest = list(ListSitesRequest {
        within: Some(Circle { center: Some(GeoPoint { lat: 23.106, lng: 113.324 }), radius_m: 3_000.0 }),
        page_size: 5,
        page_token: first.next_page_token.clone(),
        ..Default::default()
    })
    .await;
    assert_eq!(rest.sites.len(), 3);
    assert!(rest.next_page_token.is_empty());

    // A token is bound to its filters.
    let err = h
        .client
        .list_sites(ListSitesRequest { page_token: first.next_page_token, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["page_token"]);

    // Status filter after a retirement.
    let wetland = list(ListSitesRequest { r#type: SiteType::Park as i32, ..Default::default() }).await.sites.remove(0);
    h.client.retire_site(RetireSiteRequest { id: wetland.id, version: 1, ..Default::default() }).await.unwrap();
    assert_eq!(list(ListSitesRequest { status: Status::Retired as i32, ..Default::default() }).await.sites.len(), 1);
    assert_eq!(list(ListSitesRequest { status: Status::Active as i32, ..Default::default() }).await.sites.len(), 10);
}

#[tokio::test]
async fn zones_and_assets_belong_to_sites() {
    let mut h = Harness::start().await;
    let (_, district, _) = h.haizhu().await;
    let tower = h.site(site("canton-tower", &district.id, SiteType::ScenicArea, 23.106, 113.324)).await;
    let other = h.site(site("wetland", &district.id, SiteType::Park, 23.07, 113.35)).await;

    let zone = h
        .client
        .create_zone(CreateZoneRequest {
            zone: Some(Zone { site_id: tower.id.clone(), code: "north-gate".into(), name: "North gate plaza".into(), ..Default::default() }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let err = h
        .client
        .create_zone(CreateZoneRequest { zone: Some(Zone { site_id: tower.id.clone(), code: "north-gate".into(), name: "Again".into(), ..Default::default() }), request_id: String::new() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    let light = h
        .client
        .register_asset(RegisterAssetRequest {
            asset: Some(Asset { site_id: tower.id.clone(), zone_id: zone.id.clone(), tag: "SL-0001".into(), kind: "street_light".into(), ..Default::default() }),
            request_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(light.zone_id, zone.id);
    let err = h
        .client
        .register_asset(RegisterAssetRequest {
            asset: Some(Asset { site_id: other.id.clone(), zone_id: zone.id.clone(), tag: "P-1".into(), kind: "pump".into(), ..Default::default() }),
            request_id: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&err), ["asset.zone_id"]);

    let listed = h.client.list_assets(ListAssetsRequest { zone_id: zone.id.clone(), ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(listed.assets, std::slice::from_ref(&light));
    let updated = h
        .client
        .update_asset(UpdateAssetRequest { asset: Some(Asset { id: light.id.clone(), version: 1, name: "Gate light".into(), ..Default::default() }), update_mask: mask(&["name"]) })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((updated.name.as_str(), updated.kind.as_str()), ("Gate light", "street_light"));
    h.client.retire_asset(RetireAssetRequest { id: light.id.clone(), version: 2, request_id: String::new() }).await.unwrap();
    h.client.retire_zone(RetireZoneRequest { id: zone.id.clone(), version: 1, request_id: String::new() }).await.unwrap();
    let zones = h.client.list_zones(ListZonesRequest { site_id: tower.id.clone(), status: Status::Active as i32, ..Default::default() }).await.unwrap().into_inner();
    assert!(zones.zones.is_empty());

    // A retired site takes no new zones.
    h.client.retire_site(RetireSiteRequest { id: other.id.clone(), version: 1, ..Default::default() }).await.unwrap();
    let err = h
        .client
        .create_zone(CreateZoneRequest { zone: Some(Zone { site_id: other.id.clone(), code: "z".into(), name: "Z".into(), ..Default::default() }), request_id: String::new() })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn the_catalog_classifies_work() {
    let mut h = Harness::start().await;
    let light = h.client.define_category(DefineCategoryRequest { category: Some(category("street-light-out")), request_id: String::new() }).await.unwrap().into_inner();
    assert_eq!(light.sla_targets.len(), 4);
    assert_eq!(light.required_skills, ["electrical"]);

    let mut bad = category("bad");
    bad.sla_targets.pop();
    bad.cell = None;
    let err = h.client.define_category(DefineCategoryRequest { category: Some(bad), request_id: String::new() }).await.unwrap_err();
    assert_eq!(violated_fields(&err), ["category.cell", "category.sla_targets"]);

    let mut litter = category("litter-in-park");
    litter.cell = Some(flywheel_proto::flywheel::common::v1::ScenarioCell { dimension: 2, perspective: 3 });
    h.client.define_category(DefineCategoryRequest { category: Some(litter), request_id: String::new() }).await.unwrap();
    let image = h.client.list_categories(ListCategoriesRequest { dimension: 2, ..Default::default() }).await.unwrap().into_inner();
    assert_eq!(image.categories.len(), 1);
    assert_eq!(image.categories[0].code, "litter-in-park");

    let changed = h
        .client
        .update_category(UpdateCategoryRequest {
            category: Some(Category { id: light.id.clone(), version: 1, default_priority: 2, ..Default::default() }),
            update_mask: mask(&["default_priority"]),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.default_priority, 2);
    assert_eq!(changed.sla_targets, light.sla_targets);
    h.client.retire_category(RetireCategoryRequest { id: light.id.clone(), version: 2, request_id: String::new() }).await.unwrap();
    let err = h.client.retire_category(RetireCategoryRequest { id: light.id, version: 3, request_id: String::new() }).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}
