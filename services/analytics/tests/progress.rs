//! Each stream's progress: every applied event counts once, and the latest event time stays the
//! latest whatever order the events come in (SQLite, or PostgreSQL with FLYWHEEL_TEST_POSTGRES).

use flywheel_analytics::migration::Migrator;
use flywheel_analytics::store;
use flywheel_analytics::store::batch::Changes;
use flywheel_runtime::db::connect_and_migrate;
use flywheel_testing::TestDatabase;

#[tokio::test]
async fn progress_counts_every_event_and_keeps_the_latest_time() {
    let database = TestDatabase::new();
    let db = connect_and_migrate::<Migrator>(&database.url()).await.unwrap();
    // Batches fold their events in memory and add to what is stored.
    let batches: [&[(&str, i64)]; 3] = [
        &[("FLYWHEEL_DISPATCH", 200), ("FLYWHEEL_DISPATCH", 100)],
        &[("FLYWHEEL_FEEDBACK", 50)],
        &[("FLYWHEEL_DISPATCH", 300), ("FLYWHEEL_FEEDBACK", 40), ("FLYWHEEL_DISPATCH", 250)],
    ];
    for batch in batches {
        let mut changes = Changes::default();
        for (stream, time_us) in batch {
            changes.count(stream, *time_us);
        }
        changes.write(&db, chrono_tz::UTC).await.unwrap();
    }
    let mut progress: Vec<(String, i64, i64)> =
        store::progress(&db).await.unwrap().into_iter().map(|p| (p.stream, p.events_applied, p.last_event_us)).collect();
    progress.sort();
    assert_eq!(progress, [("FLYWHEEL_DISPATCH".to_owned(), 4, 300), ("FLYWHEEL_FEEDBACK".to_owned(), 2, 50)]);
    assert_eq!(store::as_of_us(&db).await.unwrap(), Some(300));
}
