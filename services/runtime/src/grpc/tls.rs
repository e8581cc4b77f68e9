//! TLS for gRPC: the server's certificate (and, for mutual TLS, the CA its clients' certificates
//! must chain to), and the client side — a CA to trust and an optional client certificate — for
//! the health check, the CLI and tests. Certificates and keys are PEM, read once at start-up.

use crate::config::ConfigError;
use std::time::Duration;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig};

/// `GRPC_TLS_CERT_FILE` + `GRPC_TLS_KEY_FILE`, and `GRPC_TLS_CLIENT_CA_FILE` for mutual TLS.
#[derive(Clone)]
pub struct ServerTls {
    identity: Identity,
    /// When set, every client must present a certificate signed by this CA.
    client_ca: Option<Certificate>,
}

impl ServerTls {
    pub fn new(cert_pem: impl AsRef<[u8]>, key_pem: impl AsRef<[u8]>) -> Self {
        Self { identity: Identity::from_pem(cert_pem, key_pem), client_ca: None }
    }

    /// Requires client certificates signed by `ca_pem` (mutual TLS).
    pub fn require_client_certificates(mut self, ca_pem: impl AsRef<[u8]>) -> Self {
        self.client_ca = Some(Certificate::from_pem(ca_pem));
        self
    }

    pub fn is_mutual(&self) -> bool {
        self.client_ca.is_some()
    }

    /// Reads the server variables; `None` when TLS is off (neither certificate nor key set).
    pub fn from_lookup(get: impl Fn(&'static str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let (cert, key) = match (get("GRPC_TLS_CERT_FILE"), get("GRPC_TLS_KEY_FILE")) {
            (None, None) => {
                return match get("GRPC_TLS_CLIENT_CA_FILE") {
                    Some(path) => Err(config_error(
                        "GRPC_TLS_CLIENT_CA_FILE",
                        &path,
                        "client certificates need TLS: set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE too",
                    )),
                    None => Ok(None),
                };
            }
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => return Err(config_error("GRPC_TLS_KEY_FILE", "", "required with GRPC_TLS_CERT_FILE")),
            (None, Some(_)) => return Err(config_error("GRPC_TLS_CERT_FILE", "", "required with GRPC_TLS_KEY_FILE")),
        };
        let tls = Self::new(
            read_pem("GRPC_TLS_CERT_FILE", &cert, CERTIFICATE)?,
            read_pem("GRPC_TLS_KEY_FILE", &key, PRIVATE_KEY)?,
        );
        Ok(Some(match get("GRPC_TLS_CLIENT_CA_FILE") {
            Some(ca) => tls.require_client_certificates(read_pem("GRPC_TLS_CLIENT_CA_FILE", &ca, CERTIFICATE)?),
            None => tls,
        }))
    }

    pub(crate) fn server_config(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new().identity(self.identity.clone()).timeout(HANDSHAKE_TIMEOUT);
        match &self.client_ca {
            Some(ca) => config.client_ca_root(ca.clone()),
            None => config,
        }
    }
}

// The private key stays out of logs and panics.
impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").field("mutual", &self.is_mutual()).finish_non_exhaustive()
    }
}

/// How a client reaches a TLS server: `GRPC_TLS_CA_FILE` (the CA to trust) and, where the server
/// asks for one, `GRPC_TLS_CLIENT_CERT_FILE` + `GRPC_TLS_CLIENT_KEY_FILE`.
#[derive(Clone)]
pub struct ClientTls {
    ca: Certificate,
    identity: Option<Identity>,
}

impl ClientTls {
    /// Trusts servers whose certificate chains to `ca_pem`.
    pub fn new(ca_pem: impl AsRef<[u8]>) -> Self {
        Self { ca: Certificate::from_pem(ca_pem), identity: None }
    }

    /// Presents this certificate to servers that require one.
    pub fn with_identity(mut self, cert_pem: impl AsRef<[u8]>, key_pem: impl AsRef<[u8]>) -> Self {
        self.identity = Some(Identity::from_pem(cert_pem, key_pem));
        self
    }

    /// Reads the client variables; `None` when `GRPC_TLS_CA_FILE` is not set (plaintext).
    pub fn from_lookup(get: impl Fn(&'static str) -> Option<String>) -> Result<Option<Self>, ConfigError> {
        let cert = get("GRPC_TLS_CLIENT_CERT_FILE");
        let key = get("GRPC_TLS_CLIENT_KEY_FILE");
        let Some(ca) = get("GRPC_TLS_CA_FILE") else {
            return match cert.or(key) {
                Some(path) => Err(config_error(
                    "GRPC_TLS_CA_FILE",
                    "",
                    format!("a client certificate ({path}) needs TLS: set the CA to trust"),
                )),
                None => Ok(None),
            };
        };
        let tls = Self::new(read_pem("GRPC_TLS_CA_FILE", &ca, CERTIFICATE)?);
        match (cert, key) {
            (None, None) => Ok(Some(tls)),
            (Some(cert), Some(key)) => Ok(Some(tls.with_identity(
                read_pem("GRPC_TLS_CLIENT_CERT_FILE", &cert, CERTIFICATE)?,
                read_pem("GRPC_TLS_CLIENT_KEY_FILE", &key, PRIVATE_KEY)?,
            ))),
            (Some(_), None) => Err(config_error("GRPC_TLS_CLIENT_KEY_FILE", "", "required with GRPC_TLS_CLIENT_CERT_FILE")),
            (None, Some(_)) => Err(config_error("GRPC_TLS_CLIENT_CERT_FILE", "", "required with GRPC_TLS_CLIENT_KEY_FILE")),
        }
    }

    /// An endpoint for `https://{authority}`; the server's certificate must name `authority`'s host.
    pub fn endpoint(&self, authority: &str) -> Result<Endpoint, tonic::transport::Error> {
        let mut config = ClientTlsConfig::new().ca_certificate(self.ca.clone());
        if let Some(identity) = &self.identity {
            config = config.identity(identity.clone());
        }
        Endpoint::from_shared(format!("https://{authority}"))?.tls_config(config)
    }
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls").field("client_certificate", &self.identity.is_some()).finish_non_exhaustive()
    }
}

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

const CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----";
const PRIVATE_KEY: &str = "PRIVATE KEY-----";

/// Reads a PEM file, checking it holds what the variable promises.
fn read_pem(variable: &'static str, path: &str, marker: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| config_error(variable, path, e.to_string()))?;
    if !text.contains(marker) {
        return Err(config_error(variable, path, format!("not a PEM file with {marker}")));
    }
    Ok(text)
}

fn config_error(variable: &'static str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError { variable, value: value.to_owned(), reason: reason.into() }
}
