//! `flywheel auth`: create the key pair services verify tokens with, and mint tokens.

use flywheel_runtime::auth::{KeyFiles, Role, TokenMinter};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum AuthCommand {
    /// Writes a new Ed25519 key pair: DIR/jwt-signing-key.pem (private, mode 0600) and
    /// DIR/jwks.json (public; point AUTH_JWKS_FILE at it).
    Init {
        #[arg(long)]
        dir: PathBuf,
        /// Replace existing keys (every token signed by the old key stops working).
        #[arg(long)]
        force: bool,
    },
    /// Prints a token signed with the private key.
    Token {
        /// The signing key, e.g. DIR/jwt-signing-key.pem.
        #[arg(long)]
        key: PathBuf,
        /// resident, dispatcher, crew_member, site_manager, analyst, admin or service; repeat
        /// for several.
        #[arg(long = "role", required = true)]
        roles: Vec<Role>,
        /// Who the token names (a person's, crew member's or system's id).
        #[arg(long, default_value = "flywheel-cli")]
        subject: String,
        /// The crew of a crew member (required with --role crew_member).
        #[arg(long)]
        crew_id: Option<String>,
        /// A display name for histories.
        #[arg(long)]
        name: Option<String>,
        /// How long the token is valid: e.g. 90s, 15m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
        #[arg(long, env = "AUTH_ISSUER", default_value = "flywheel")]
        issuer: String,
        #[arg(long, env = "AUTH_AUDIENCE", default_value = "flywheel")]
        audience: String,
    },
}

pub fn run(command: AuthCommand) -> anyhow::Result<()> {
    match command {
        AuthCommand::Init { dir, force } => {
            let files = KeyFiles::generate(&dir, force)?;
            println!("signing key: {}", files.signing_key.display());
            println!("key set:     {} (set AUTH_JWKS_FILE to this path)", files.jwks.display());
            Ok(())
        }
        AuthCommand::Token { key, roles, subject, crew_id, name, ttl, issuer, audience } => {
            if roles.contains(&Role::CrewMember) && crew_id.is_none() {
                anyhow::bail!("--role crew_member needs --crew-id");
            }
            let mut minter = TokenMinter::load(&key)?;
            minter.issuer = issuer;
            minter.audience = audience;
            let mut claims = minter.claims(&subject, &roles, ttl);
            claims.crew_id = crew_id;
            claims.name = name;
            println!("{}", minter.sign(&claims)?);
            Ok(())
        }
    }
}

/// `90s`, `15m`, `1h`, `7d`, or plain seconds.
fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = number.parse().map_err(|_| format!("{text:?}: expected a number and s, m, h or d"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        other => return Err(format!("{text:?}: unknown unit {other:?}; use s, m, h or d")),
    };
    if seconds == 0 {
        return Err("the token must live longer than zero".into());
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use flywheel_runtime::auth::{AuthSettings, Verifier};

    #[test]
    fn ttls_read_with_units() {
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_ttl("120"), Ok(Duration::from_secs(120)));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("0h").is_err());
        assert!(parse_ttl("h").is_err());
    }

    #[test]
    fn init_writes_keys_that_verify_minted_tokens_and_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        run(AuthCommand::Init { dir: dir.path().into(), force: false }).unwrap();
        let files = KeyFiles::in_dir(dir.path());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.signing_key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let jwks = std::fs::read_to_string(&files.jwks).unwrap();
        assert!(!jwks.contains("\"d\""), "the key set holds no private part");

        let err = run(AuthCommand::Init { dir: dir.path().into(), force: false }).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        let before = std::fs::read(&files.signing_key).unwrap();
        run(AuthCommand::Init { dir: dir.path().into(), force: true }).unwrap();
        assert_ne!(std::fs::read(&files.signing_key).unwrap(), before, "--force replaces the keys");

        let settings = AuthSettings { jwks_file: files.jwks.clone(), issuer: "flywheel".into(), audience: "flywheel".into() };
        let token = TokenMinter::load(&files.signing_key).unwrap().mint("ops", Role::Analyst, Duration::from_secs(60)).unwrap();
        assert_eq!(Verifier::load(&settings).unwrap().verify(&token).unwrap().roles, vec![Role::Analyst]);
    }
}
