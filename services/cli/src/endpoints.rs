//! Where the services are and how to call them, from flags or the environment; `https://`
//! addresses are reached over TLS with the CA (and client certificate) that `GRPC_TLS_CA_FILE`,
//! `GRPC_TLS_CLIENT_CERT_FILE` and `GRPC_TLS_CLIENT_KEY_FILE` name.

use anyhow::Context;
use flywheel_runtime::auth::{Role, TokenMinter};
use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
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
    /// A bearer token for every call.
    #[arg(long, env = "FLYWHEEL_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// Instead of --token: the Ed25519 signing key (PEM) to mint a short-lived admin token with.
    #[arg(long, env = "FLYWHEEL_SIGNING_KEY", global = true, conflicts_with = "token")]
    pub signing_key: Option<std::path::PathBuf>,
}

/// A channel whose calls carry the CLI's bearer token.
pub type Conn = InterceptedService<Channel, Bearer>;

/// How long a token minted from --signing-key lives.
const MINTED_TTL: Duration = Duration::from_secs(15 * 60);

/// Adds `authorization: Bearer <token>` to every call.
#[derive(Clone)]
pub struct Bearer(AsciiMetadataValue);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.0.clone());
        Ok(request)
    }
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
    /// The token of --token, or one minted for the admin role from --signing-key.
    fn bearer(&self) -> anyhow::Result<Bearer> {
        let token = match (&self.token, &self.signing_key) {
            (Some(token), _) => token.trim().to_owned(),
            (None, Some(key)) => TokenMinter::load(key)?.mint("flywheel-cli", Role::Admin, MINTED_TTL)?,
            (None, None) => anyhow::bail!(
                "no credentials: pass --token (or FLYWHEEL_TOKEN), or --signing-key (or FLYWHEEL_SIGNING_KEY) to mint an admin token"
            ),
        };
        let value = format!("Bearer {token}").parse().context("the token must be visible ASCII")?;
        Ok(Bearer(value))
    }

    async fn conn(&self, address: &str) -> anyhow::Result<Conn> {
        let bearer = self.bearer()?;
        Ok(InterceptedService::new(connect(address).await?, bearer))
    }

    pub async fn registry(&self) -> anyhow::Result<RegistryServiceClient<Conn>> {
        Ok(RegistryServiceClient::new(self.conn(&self.registry).await?))
    }

    pub async fn dispatch(&self) -> anyhow::Result<DispatchServiceClient<Conn>> {
        Ok(DispatchServiceClient::new(self.conn(&self.dispatch).await?))
    }

    pub async fn feedback(&self) -> anyhow::Result<FeedbackServiceClient<Conn>> {
        Ok(FeedbackServiceClient::new(self.conn(&self.feedback).await?))
    }

    pub async fn analytics(&self) -> anyhow::Result<AnalyticsServiceClient<Conn>> {
        Ok(AnalyticsServiceClient::new(self.conn(&self.analytics).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_runtime::auth::{AuthSettings, KeyFiles, Verifier};

    fn endpoints(token: Option<&str>, signing_key: Option<std::path::PathBuf>) -> Endpoints {
        Endpoints {
            registry: String::new(),
            dispatch: String::new(),
            feedback: String::new(),
            analytics: String::new(),
            token: token.map(str::to_owned),
            signing_key,
        }
    }

    #[test]
    fn calls_carry_the_given_token_or_a_minted_admin_token() {
        let err = endpoints(None, None).bearer().err().unwrap();
        assert!(err.to_string().contains("--token"), "{err}");
        assert_eq!(endpoints(Some("abc.def.ghi"), None).bearer().unwrap().0, "Bearer abc.def.ghi");

        let dir = tempfile::tempdir().unwrap();
        let files = KeyFiles::generate(dir.path(), false).unwrap();
        let Bearer(value) = endpoints(None, Some(files.signing_key.clone())).bearer().unwrap();
        let token = value.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        let settings = AuthSettings { jwks_file: files.jwks, issuer: "flywheel".into(), audience: "flywheel".into() };
        let principal = Verifier::load(&settings).unwrap().verify(token).unwrap();
        assert_eq!((principal.subject.as_str(), principal.roles.as_slice()), ("flywheel-cli", [Role::Admin].as_slice()));
    }
}
