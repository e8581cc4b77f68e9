//! `flywheel nats-auth init`: one NATS user per service and one for tools, each with an NKey and
//! the permissions derived from the code's streams and subscriptions. Writes `<user>.nk` (the
//! seed, mode 0600) for each user and `auth.conf`, an `authorization` block for nats-server to
//! `include`. Existing seeds are kept; `auth.conf` is rewritten from them, so running it again
//! after an upgrade refreshes the permissions without changing anyone's credentials.

use anyhow::Context;
use flywheel_runtime::events::permissions::{self, SERVICES, TOOLS};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

#[derive(clap::Subcommand)]
pub enum NatsAuthCommand {
    /// Creates the missing seeds and (re)writes auth.conf.
    Init {
        /// Where the seeds and auth.conf go.
        #[arg(long, default_value = "deploy/.secrets/nats")]
        dir: PathBuf,
    },
}

pub fn run(command: NatsAuthCommand) -> anyhow::Result<()> {
    let NatsAuthCommand::Init { dir } = command;
    let users = init(&dir)?;
    for (user, public_key, created) in &users {
        println!("{user:<10} {public_key} {}", if *created { "created" } else { "kept" });
    }
    println!("wrote {}", dir.join(AUTH_CONF).display());
    Ok(())
}

const AUTH_CONF: &str = "auth.conf";

/// Writes the seeds that are missing and `auth.conf`; returns each user, its public key and
/// whether its seed was created now.
fn init(dir: &Path) -> anyhow::Result<Vec<(String, String, bool)>> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let mut users = Vec::new();
    let mut blocks = Vec::new();
    for user in SERVICES.into_iter().chain([TOOLS]) {
        let (pair, created) = seed(&dir.join(format!("{user}.nk")))?;
        blocks.push((user.to_owned(), pair.public_key(), permissions::for_user(user)));
        users.push((user.to_owned(), pair.public_key(), created));
    }
    std::fs::write(dir.join(AUTH_CONF), permissions::authorization_config(&blocks))
        .with_context(|| format!("cannot write {}", dir.join(AUTH_CONF).display()))?;
    Ok(users)
}

/// The user key pair whose seed is at `path`, created (readable by the owner only) when missing.
fn seed(path: &Path) -> anyhow::Result<(nkeys::KeyPair, bool)> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let pair = nkeys::KeyPair::from_seed(text.trim())
                .with_context(|| format!("{} does not hold an NKey seed", path.display()))?;
            anyhow::ensure!(
                matches!(pair.key_pair_type(), nkeys::KeyPairType::User),
                "{} holds a seed that is not a user's (SU…)",
                path.display()
            );
            Ok((pair, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let pair = nkeys::KeyPair::new_user();
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            writeln!(file, "{}", pair.seed()?)?;
            Ok((pair, true))
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}
