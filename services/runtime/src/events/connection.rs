//! How a service connects to NATS: named after itself, authenticated with its NKey when one is
//! configured (`NATS_NKEY_SEED_FILE`), and receiving replies under its own inbox prefix — the
//! only one its NATS permissions let it subscribe to ([`super::permissions`]).

use crate::config::{Config, ConfigError};
use async_nats::ConnectOptions;

/// A user's NKey seed (its private key), read from a file.
#[derive(Clone)]
pub struct NkeySeed {
    seed: String,
    public_key: String,
}

impl NkeySeed {
    /// Reads and checks a user seed (`SU…`) from `path`; errors name `variable`.
    pub fn read(variable: &'static str, path: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: String| ConfigError { variable, value: path.to_owned(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
        let seed = text.trim().to_owned();
        let pair = nkeys::KeyPair::from_seed(&seed).map_err(|e| invalid(format!("not an NKey seed: {e}")))?;
        if !matches!(pair.key_pair_type(), nkeys::KeyPairType::User) {
            return Err(invalid("not a user NKey seed (SU…)".to_owned()));
        }
        Ok(Self { public_key: pair.public_key(), seed })
    }

    /// The public key (`U…`) the server's configuration names.
    pub fn public_key(&self) -> &str {
        &self.public_key
    }
}

// The seed stays out of logs and panics.
impl std::fmt::Debug for NkeySeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NkeySeed").field("public_key", &self.public_key).finish_non_exhaustive()
    }
}

/// The connection options of `config`'s service.
pub fn options(config: &Config) -> ConnectOptions {
    let name = config.service.name;
    let options = ConnectOptions::new()
        .name(format!("flywheel-{name}"))
        .custom_inbox_prefix(super::permissions::inbox_prefix(name));
    match &config.nats_nkey_seed {
        Some(seed) => options.nkey(seed.seed.clone()),
        None => options,
    }
}
