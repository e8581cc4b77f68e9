//! A caller's deadline is honoured on the server: a call still waiting for the database when
//! its deadline passes is stopped, and nothing of it is written afterwards.

mod common;

use common::*;
use flywheel_proto::flywheel::registry::v1::*;
use sea_orm::{ConnectionTrait, DbBackend};
use std::time::{Duration, Instant};
use tonic::Code;

#[tokio::test(flavor = "multi_thread")]
async fn a_call_past_its_deadline_stops_and_writes_nothing() {
    let mut h = Harness::start().await;
    let (_, district, _) = h.haizhu().await;

    // Another writer holds the database for longer than the caller will wait.
    let other = sea_orm::Database::connect(h.db.url()).await.unwrap();
    let blocker = flywheel_runtime::db::begin_write(&other).await.unwrap();
    if other.get_database_backend() == DbBackend::Postgres {
        blocker.execute_unprepared("LOCK TABLE site IN ACCESS EXCLUSIVE MODE").await.unwrap();
    }
    let mut call = tonic::Request::new(RegisterSiteRequest {
        site: Some(site("late-site", &district.id, SiteType::Park, 23.1, 113.3)),
        request_id: String::new(),
    });
    call.set_timeout(Duration::from_millis(300));
    let started = Instant::now();
    let status = h.client.register_site(call).await.unwrap_err();
    assert!(matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "answered after {:?}", started.elapsed());

    // Release the database; a handler that had not stopped would now commit.
    blocker.rollback().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sites = h.client.list_sites(ListSitesRequest::default()).await.unwrap().into_inner().sites;
    assert!(sites.iter().all(|s| s.code != "late-site"), "the timed-out call wrote its site");
}
