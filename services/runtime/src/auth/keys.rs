//! The signing side, for tools and tests: an Ed25519 key pair written as `jwt-signing-key.pem`
//! (PKCS#8, mode 0600) and `jwks.json` (the public key only), and a minter of tokens.

use super::{Claims, Role};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const SIGNING_KEY_FILE: &str = "jwt-signing-key.pem";
pub const JWKS_FILE: &str = "jwks.json";

/// The two files of a key pair in one directory.
#[derive(Clone, Debug)]
pub struct KeyFiles {
    pub signing_key: PathBuf,
    pub jwks: PathBuf,
}

impl KeyFiles {
    pub fn in_dir(dir: &Path) -> Self {
        Self { signing_key: dir.join(SIGNING_KEY_FILE), jwks: dir.join(JWKS_FILE) }
    }

    /// Generates a key pair into `dir` (created if missing). Existing files are kept, and this
    /// fails, unless `force`.
    pub fn generate(dir: &Path, force: bool) -> anyhow::Result<Self> {
        let files = Self::in_dir(dir);
        if !force {
            for path in [&files.signing_key, &files.jwks] {
                if path.exists() {
                    anyhow::bail!("{} exists; pass --force to replace the keys", path.display());
                }
            }
        }
        std::fs::create_dir_all(dir)?;
        let pem = new_private_pem()?;
        write_private(&files.signing_key, pem.as_bytes())?;
        let minter = TokenMinter::from_pem(pem.as_bytes())?;
        let set = JwkSet { keys: vec![minter.public_jwk()?] };
        std::fs::write(&files.jwks, serde_json::to_vec_pretty(&set)?)?;
        Ok(files)
    }
}

/// A fresh Ed25519 private key as PKCS#8 v1 PEM (without the public key, the form
/// `jsonwebtoken` derives the JWK from).
pub(crate) fn new_private_pem() -> anyhow::Result<String> {
    let key = SigningKey::generate(&mut rand_core::OsRng);
    let bytes = KeypairBytes { secret_key: key.to_bytes(), public_key: None };
    let pem = bytes.to_pkcs8_pem(LineEnding::LF).map_err(|e| anyhow::anyhow!("encode the key: {e}"))?;
    Ok(pem.to_string())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    // A file that existed keeps its old mode through open(); set it explicitly.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    Ok(std::fs::write(path, bytes)?)
}

/// Signs tokens with one private key; its `kid` is the key's RFC 7638 thumbprint, the same as
/// in the `jwks.json` written beside it.
#[derive(Clone)]
pub struct TokenMinter {
    key: EncodingKey,
    kid: String,
    pub issuer: String,
    pub audience: String,
}

impl TokenMinter {
    /// Reads a PKCS#8 PEM private key; issuer and audience default to `flywheel`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Self::from_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    pub fn from_pem(pem: &[u8]) -> anyhow::Result<Self> {
        let key = EncodingKey::from_ed_pem(pem).map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 key: {e}"))?;
        let kid = Jwk::from_encoding_key(&key, Algorithm::EdDSA)?.thumbprint(ThumbprintHash::SHA256)?;
        Ok(Self { key, kid, issuer: "flywheel".to_owned(), audience: "flywheel".to_owned() })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK with `kid`, `alg` and `use`.
    pub fn public_jwk(&self) -> anyhow::Result<Jwk> {
        let mut jwk = Jwk::from_encoding_key(&self.key, Algorithm::EdDSA)?;
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.key_algorithm = Some(KeyAlgorithm::EdDSA);
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(jwk)
    }

    /// Claims for `subject` with `roles`, valid for `ttl` from now.
    pub fn claims(&self, subject: &str, roles: &[Role], ttl: Duration) -> Claims {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: subject.to_owned(),
            exp: now + ttl.as_secs(),
            iat: now,
            roles: roles.to_vec(),
            crew_id: None,
            name: None,
        }
    }

    /// Signs `claims` as they are.
    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(&header, claims, &self.key)?)
    }

    /// A token for `subject` with one role.
    pub fn mint(&self, subject: &str, role: Role, ttl: Duration) -> anyhow::Result<String> {
        self.sign(&self.claims(subject, &[role], ttl))
    }
}
