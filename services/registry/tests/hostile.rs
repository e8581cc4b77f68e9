//! Hostile input to every registry method: nothing panics, nothing answers INTERNAL, and text
//! that is accepted is stored verbatim.

mod common;

use common::*;
use flywheel_proto::flywheel::registry::v1::*;
use flywheel_runtime::auth::Role;
use flywheel_testing::hostile::{self, Target, fuzz_service};

#[tokio::test(flavor = "multi_thread")]
async fn every_method_survives_hostile_requests() {
    let mut h = Harness::start().await;
    let (city, district, streets) = h.haizhu().await;
    let tower = h.site(site("canton-tower", &district.id, SiteType::ScenicArea, 23.1066, 113.3245)).await;
    let lights = h.client.define_category(DefineCategoryRequest { category: Some(category("street-light-out")), request_id: String::new() }).await.unwrap().into_inner();
    let known = vec![city.id, district.id, streets[0].id.clone(), tower.id, lights.id, "canton-tower".into()];
    let target = Target { channel: h.service.channel().await, service: "flywheel.registry.v1.RegistryService", known_ids: known, token: h.service.token(Role::Admin, "fuzz") };
    fuzz_service(&target).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn accepted_names_come_back_verbatim() {
    let mut h = Harness::start().await;
    let (_, district, _) = h.haizhu().await;
    let (mut stored, mut refused) = (0, 0);
    for (i, name) in hostile::strings(60).into_iter().enumerate() {
        let mut s = site(&format!("site-{i}"), &district.id, SiteType::Park, 23.1, 113.3);
        s.name = name.clone();
        match h.client.register_site(RegisterSiteRequest { site: Some(s), request_id: String::new() }).await {
            Ok(created) => {
                let id = created.into_inner().id;
                let read = h.client.get_site(GetSiteRequest { id }).await.unwrap().into_inner();
                assert_eq!(read.name, name, "stored verbatim");
                stored += 1;
            }
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::InvalidArgument, "{name:?}: {status:?}");
                assert_eq!(violated_fields(&status), vec!["site.name".to_owned()], "{name:?}");
                refused += 1;
            }
        }
    }
    assert!(stored > 0 && refused > 0, "both outcomes were exercised: {stored} stored, {refused} refused");
}
