//! Many concurrent calls on one connection: a real server on 127.0.0.1:0 whose concurrency limit
//! is far below what the client sends at once.

use flywheel_runtime::config::ServiceInfo;
use flywheel_testing::TestAuth;
use futures::stream::{FuturesUnordered, StreamExt};
use std::time::Duration;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const SERVICE: ServiceInfo = ServiceInfo { name: "streams-test", default_grpc_port: 0, default_http_port: 0 };

/// Calls beyond the limit wait for a stream instead of filling the server's buffers with request
/// frames until HTTP/2 closes the connection and fails every call on it.
#[tokio::test]
async fn calls_beyond_the_concurrency_limit_wait_instead_of_failing() {
    let keys = TestAuth::new();
    let mut config = flywheel_testing::config(SERVICE, "sqlite::memory:", "nats://127.0.0.1:4222", &keys);
    config.concurrency_limit = 2;
    let (addr, _stop) = flywheel_testing::serve_health(config).await;

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .timeout(Duration::from_secs(60))
        .connect()
        .await
        .unwrap();
    // Each request is a small DATA frame that the server buffers until a handler reads it; a few
    // thousand of them at once exceed h2's allowance for small frames on one connection.
    let calls: FuturesUnordered<_> = (0..6_000)
        .map(|_| {
            let mut client = HealthClient::new(channel.clone());
            async move { client.check(HealthCheckRequest { service: String::new() }).await.map(|_| ()) }
        })
        .collect();
    let failures: Vec<tonic::Status> = calls.filter_map(|r| async { r.err() }).collect().await;
    assert!(failures.is_empty(), "{} calls failed, the first: {:?}", failures.len(), failures.first());
}
