//! `flywheel nats-auth init` against a real nats-server started from the configuration it writes:
//! the four services, each connected as its own user, do their whole job (the demo district and
//! resident reports flow through every stream and consumer), and each user is refused what its
//! permissions leave out.

use async_nats::jetstream;
use flywheel_runtime::config::ServiceInfo;
use flywheel_runtime::events::connection::NkeySeed;
use flywheel_runtime::events::permissions::inbox_prefix;
use flywheel_runtime::events::{streams, subscriptions};
use flywheel_runtime::auth::Role;
use flywheel_testing::{NatsServer, RunningService, TestAuth, TestDatabase, eventually};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn nats_auth_init(dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_flywheel"))
        .args(["nats-auth", "init", "--dir"])
        .arg(dir)
        .output()
        .expect("run flywheel");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

/// A server that knows only the generated users.
async fn nats_with_users(dir: &Path) -> NatsServer {
    NatsServer::start_with_config(&read(&dir.join("auth.conf"))).await
}

/// A connection as `user`, recording the errors the server reports to it.
async fn connect_as(nats: &NatsServer, dir: &Path, user: &str) -> (async_nats::Client, Arc<Mutex<Vec<String>>>) {
    let seed = NkeySeed::read("NATS_NKEY_SEED_FILE", &dir.join(format!("{user}.nk")).display().to_string()).unwrap();
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = errors.clone();
    let client = async_nats::ConnectOptions::new()
        .nkey(read(&dir.join(format!("{user}.nk"))).trim().to_owned())
        .custom_inbox_prefix(inbox_prefix(user))
        .event_callback(move |event| {
            let sink = sink.clone();
            async move {
                if let async_nats::Event::ServerError(error) = event {
                    sink.lock().unwrap().push(error.to_string().to_lowercase());
                }
            }
        })
        .connect(nats.url())
        .await
        .unwrap_or_else(|e| panic!("{user} ({}) cannot connect: {e}", seed.public_key()));
    (client, errors)
}

/// Waits until the server has reported a permissions violation naming `subject`.
async fn violation(errors: &Arc<Mutex<Vec<String>>>, kind: &str, subject: &str) {
    let wanted = format!("permissions violation for {kind} to \"{}\"", subject.to_lowercase());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !errors.lock().unwrap().iter().any(|e| e.contains(&wanted)) {
        assert!(tokio::time::Instant::now() < deadline, "no {wanted:?} among {:?}", errors.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn init_writes_private_seeds_once_and_the_same_configuration_again() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nats");
    let first = nats_auth_init(&out);
    assert_eq!(first.matches("created").count(), 5, "{first}");
    let seeds: Vec<String> = ["registry", "dispatch", "feedback", "analytics", "tools"]
        .iter()
        .map(|user| {
            let path = out.join(format!("{user}.nk"));
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "{user}");
            read(&path)
        })
        .collect();
    assert!(seeds.iter().all(|s| s.starts_with("SU")));
    let conf = read(&out.join("auth.conf"));
    assert_eq!(conf.matches("nkey: \"U").count(), 5);

    let second = nats_auth_init(&out);
    assert_eq!(second.matches("kept").count(), 5, "{second}");
    assert_eq!(read(&out.join("registry.nk")), seeds[0]);
    assert_eq!(read(&out.join("auth.conf")), conf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_service_does_its_whole_job_as_its_own_nats_user() {
    let dir = tempfile::tempdir().unwrap();
    nats_auth_init(dir.path());
    let nats = nats_with_users(dir.path()).await;

    let dbs: Vec<TestDatabase> = (0..4).map(|_| TestDatabase::new()).collect();
    let auth = TestAuth::new();
    let config = |service: ServiceInfo, db: &TestDatabase| {
        assert!(flywheel_runtime::events::permissions::SERVICES.contains(&service.name));
        let mut config = flywheel_testing::config(service, &db.url(), &nats.url(), &auth);
        let seed = dir.path().join(format!("{}.nk", service.name)).display().to_string();
        config.nats_nkey_seed = Some(NkeySeed::read("NATS_NKEY_SEED_FILE", &seed).unwrap());
        config
    };
    let registry = RunningService::start(flywheel_registry::build(config(flywheel_registry::SERVICE, &dbs[0])).await.unwrap(), &auth);
    let dispatch = RunningService::start(flywheel_dispatch::build(config(flywheel_dispatch::SERVICE, &dbs[1])).await.unwrap(), &auth);
    let feedback = RunningService::start(flywheel_feedback::build(config(flywheel_feedback::SERVICE, &dbs[2])).await.unwrap(), &auth);
    let analytics = RunningService::start(flywheel_analytics::build(config(flywheel_analytics::SERVICE, &dbs[3])).await.unwrap(), &auth);

    // The demo district and resident reports: registry events feed dispatch's and feedback's
    // replicas, reports become tickets, and analytics projects all of it.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_flywheel"))
        .args(["demo", "load", "--reports", "5"])
        .env("FLYWHEEL_TOKEN", auth.token(Role::Admin, "demo"))
        .args(["--registry", &format!("http://{}", registry.grpc_addr)])
        .args(["--dispatch", &format!("http://{}", dispatch.grpc_addr)])
        .args(["--feedback", &format!("http://{}", feedback.grpc_addr)])
        .args(["--analytics", &format!("http://{}", analytics.grpc_addr)])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "demo load: {}", String::from_utf8_lossy(&output.stderr));

    // Every durable consumer received events and acknowledged all of them; none was dead-lettered.
    let (tools, _) = connect_as(&nats, dir.path(), "tools").await;
    let js = jetstream::new(tools);
    for subscription in subscriptions::ALL {
        let (stream, durable) = (subscription.stream.name, subscription.durable());
        eventually(Duration::from_secs(60), || {
            let js = js.clone();
            async move {
                let info = js.get_stream(stream).await.ok()?.consumer_info(durable).await.ok()?;
                (info.delivered.stream_sequence > 0 && info.num_pending == 0 && info.num_ack_pending == 0).then_some(())
            }
        })
        .await;
    }
    let tickets = js.get_stream(streams::DISPATCH.name).await.unwrap().info().await.unwrap().state.messages;
    assert!(tickets >= 5, "dispatch published its ticket events: {tickets}");
    let dead = js.get_stream(streams::DEADLETTER.name).await.unwrap().info().await.unwrap().state.messages;
    assert_eq!(dead, 0);

    for service in [registry, dispatch, feedback, analytics] {
        service.stop().await.unwrap();
    }
    // Analytics' rebuild replays every stream it reads through consumers the server names.
    let mut progress = Vec::new();
    flywheel_analytics::rebuild::run(&config(flywheel_analytics::SERVICE, &dbs[3]), &mut progress).await.unwrap();
    let progress = String::from_utf8(progress).unwrap();
    assert!(progress.contains("FLYWHEEL_DISPATCH: replaying") && progress.ends_with("rebuild committed\n"), "{progress}");
}

#[tokio::test]
async fn each_user_is_refused_what_it_does_not_need() {
    let dir = tempfile::tempdir().unwrap();
    nats_auth_init(dir.path());
    let nats = nats_with_users(dir.path()).await;

    // Anyone else is not let in.
    let stranger = async_nats::ConnectOptions::new()
        .nkey(nkeys::KeyPair::new_user().seed().unwrap())
        .connect(nats.url())
        .await;
    assert!(stranger.is_err(), "an unknown NKey must not connect");

    // The registry publishes its own events, and nobody else's.
    let (registry, errors) = connect_as(&nats, dir.path(), "registry").await;
    let js = jetstream::new(registry.clone());
    streams::ensure_owned(&js, "registry").await.unwrap();
    js.publish("flywheel.registry.site.registered", "ok".into()).await.unwrap().await.unwrap();
    registry.publish("flywheel.dispatch.ticket.created", "forged".into()).await.unwrap();
    violation(&errors, "publish", "flywheel.dispatch.ticket.created").await;
    // Nor may it change a stream it does not own, or consume one.
    registry.publish("$JS.API.STREAM.UPDATE.FLYWHEEL_DISPATCH", "{}".into()).await.unwrap();
    violation(&errors, "publish", "$JS.API.STREAM.UPDATE.FLYWHEEL_DISPATCH").await;
    let short = jetstream::ContextBuilder::new().timeout(Duration::from_secs(1)).build(registry.clone());
    assert!(short.get_stream(streams::DISPATCH.name).await.is_err(), "the registry reads no stream");
    violation(&errors, "publish", "$JS.API.STREAM.INFO.FLYWHEEL_DISPATCH").await;

    // Feedback reads the dispatch stream through its own durable only: not dispatch's durable
    // on the registry stream, not a stream it does not read, not other users' inboxes.
    let (feedback, errors) = connect_as(&nats, dir.path(), "feedback").await;
    let short = jetstream::ContextBuilder::new().timeout(Duration::from_secs(1)).build(feedback.clone());
    streams::ensure_exists(&short, &streams::DISPATCH).await.expect("feedback may create the stream it reads");
    feedback.publish("$JS.API.CONSUMER.MSG.NEXT.FLYWHEEL_REGISTRY.dispatch", "1".into()).await.unwrap();
    violation(&errors, "publish", "$JS.API.CONSUMER.MSG.NEXT.FLYWHEEL_REGISTRY.dispatch").await;
    streams::ensure_owned(&short, "feedback").await.unwrap();
    let own = short.get_stream(streams::FEEDBACK.name).await.unwrap();
    let durable = jetstream::consumer::pull::Config { durable_name: Some("feedback".into()), ..Default::default() };
    assert!(own.get_or_create_consumer("feedback", durable).await.is_err(), "feedback does not consume its own stream");
    violation(&errors, "publish", "$JS.API.CONSUMER.INFO.FLYWHEEL_FEEDBACK.feedback").await;
    let _snoop = feedback.subscribe("_INBOX.>").await.unwrap();
    violation(&errors, "subscription", "_INBOX.>").await;
    let _tap = feedback.subscribe("flywheel.dispatch.>").await.unwrap();
    violation(&errors, "subscription", "flywheel.dispatch.>").await;

    // Analytics, which publishes nothing, and tools publish no events.
    for user in ["analytics", "tools"] {
        let (client, errors) = connect_as(&nats, dir.path(), user).await;
        client.publish("flywheel.feedback.report.submitted", "forged".into()).await.unwrap();
        violation(&errors, "publish", "flywheel.feedback.report.submitted").await;
    }
}
