//! Connections to a running deployment. Every call carries `authorization: Bearer <token>` when a
//! token is given, so the generator works against services that require one.

use anyhow::Context;
use flywheel_proto::flywheel::analytics::v1::analytics_service_client::AnalyticsServiceClient;
use flywheel_proto::flywheel::dispatch::v1::dispatch_service_client::DispatchServiceClient;
use flywheel_proto::flywheel::feedback::v1::feedback_service_client::FeedbackServiceClient;
use flywheel_proto::flywheel::registry::v1::registry_service_client::RegistryServiceClient;
use std::time::Duration;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

#[derive(clap::Args, Clone, Debug)]
pub struct Endpoints {
    /// Registry gRPC address.
    #[arg(long, env = "FLYWHEEL_REGISTRY", default_value = "http://127.0.0.1:50051")]
    pub registry: String,
    /// Dispatch gRPC address.
    #[arg(long, env = "FLYWHEEL_DISPATCH", default_value = "http://127.0.0.1:50052")]
    pub dispatch: String,
    /// Feedback gRPC address.
    #[arg(long, env = "FLYWHEEL_FEEDBACK", default_value = "http://127.0.0.1:50053")]
    pub feedback: String,
    /// Analytics gRPC address.
    #[arg(long, env = "FLYWHEEL_ANALYTICS", default_value = "http://127.0.0.1:50054")]
    pub analytics: String,
    /// Bearer token sent with every call (e.g. from `flywheel auth token`).
    #[arg(long, env = "FLYWHEEL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Adds the bearer token, when there is one, to every request.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;

pub async fn connect(address: &str) -> anyhow::Result<Channel> {
    Endpoint::from_shared(address.to_owned())
        .with_context(|| format!("bad address {address:?}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .tcp_nodelay(true)
        .connect()
        .await
        .with_context(|| format!("cannot reach {address}"))
}

impl Endpoints {
    pub fn bearer(&self) -> anyhow::Result<Bearer> {
        let value = match &self.token {
            Some(t) => Some(format!("Bearer {t}").parse().context("the token is not valid header text")?),
            None => None,
        };
        Ok(Bearer(value))
    }

    pub async fn registry(&self) -> anyhow::Result<RegistryServiceClient<Authed>> {
        Ok(RegistryServiceClient::with_interceptor(connect(&self.registry).await?, self.bearer()?))
    }

    pub async fn dispatch(&self) -> anyhow::Result<DispatchServiceClient<Authed>> {
        Ok(DispatchServiceClient::with_interceptor(connect(&self.dispatch).await?, self.bearer()?))
    }

    pub async fn feedback(&self) -> anyhow::Result<FeedbackServiceClient<Authed>> {
        Ok(FeedbackServiceClient::with_interceptor(connect(&self.feedback).await?, self.bearer()?))
    }

    pub async fn analytics(&self) -> anyhow::Result<AnalyticsServiceClient<Authed>> {
        Ok(AnalyticsServiceClient::with_interceptor(connect(&self.analytics).await?, self.bearer()?))
    }
}
