//! Where the services are, from flags or the environment; `https://` addresses are reached over
//! TLS with the CA (and client certificate) that `GRPC_TLS_CA_FILE`, `GRPC_TLS_CLIENT_CERT_FILE`
//! and `GRPC_TLS_CLIENT_KEY_FILE` name.

use anyhow::Context;
use flywheel_proto::flywheel::analytics::v1::analytics_service_client::AnalyticsServiceClient;
use flywheel_proto::flywheel::dispatch::v1::dispatch_service_client::DispatchServiceClient;
use flywheel_proto::flywheel::feedback::v1::feedback_service_client::FeedbackServiceClient;
use flywheel_proto::flywheel::registry::v1::registry_service_client::RegistryServiceClient;
use flywheel_runtime::grpc::tls::ClientTls;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

#[derive(clap::Args, Clone, Debug)]
pub struct Endpoints {
    /// Registry gRPC address.
    #[arg(long, env = "FLYWHEEL_REGISTRY", default_value = "http://127.0.0.1:50051", global = true)]
    pub registry: String,
    /// Dispatch gRPC address.
    #[arg(long, env = "FLYWHEEL_DISPATCH", default_value = "http://127.0.0.1:50052", global = true)]
    pub dispatch: String,
    /// Feedback gRPC address.
    #[arg(long, env = "FLYWHEEL_FEEDBACK", default_value = "http://127.0.0.1:50053", global = true)]
    pub feedback: String,
    /// Analytics gRPC address.
    #[arg(long, env = "FLYWHEEL_ANALYTICS", default_value = "http://127.0.0.1:50054", global = true)]
    pub analytics: String,
}

async fn connect(address: &str) -> anyhow::Result<Channel> {
    let endpoint = match address.strip_prefix("https://") {
        Some(authority) => client_tls()?.endpoint(authority),
        None => Endpoint::from_shared(address.to_owned()),
    };
    endpoint
        .with_context(|| format!("bad address {address:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("cannot reach {address}"))
}

/// The CA to trust, and the client certificate to present, for `https://` addresses.
fn client_tls() -> anyhow::Result<ClientTls> {
    ClientTls::from_lookup(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))?
        .context("an https:// address needs GRPC_TLS_CA_FILE (the CA that signed the services' certificates)")
}

impl Endpoints {
    pub async fn registry(&self) -> anyhow::Result<RegistryServiceClient<Channel>> {
        Ok(RegistryServiceClient::new(connect(&self.registry).await?))
    }

    pub async fn dispatch(&self) -> anyhow::Result<DispatchServiceClient<Channel>> {
        Ok(DispatchServiceClient::new(connect(&self.dispatch).await?))
    }

    pub async fn feedback(&self) -> anyhow::Result<FeedbackServiceClient<Channel>> {
        Ok(FeedbackServiceClient::new(connect(&self.feedback).await?))
    }

    pub async fn analytics(&self) -> anyhow::Result<AnalyticsServiceClient<Channel>> {
        Ok(AnalyticsServiceClient::new(connect(&self.analytics).await?))
    }
}
