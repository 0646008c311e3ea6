//! Edge authentication: a JSON Web Token in the CONNECT password (where MQTT.js and
//! mqttwire put a token), verified at the bridge before any byte reaches the broker. The
//! signature (HS256 with a shared secret, RS256 or ES256 with a PEM public key), `exp` and
//! `nbf` (no leeway) and, when configured, `iss` and `aud` are checked; the user for the
//! topic ACL comes from a claim (`sub` by default), and a claim can be required to equal
//! the client id.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::ConfigError;

/// The signature algorithms accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "UPPERCASE")]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256; the key file holds the shared secret (surrounding whitespace is
    /// not part of it).
    #[value(name = "HS256")]
    Hs256,
    /// RSA PKCS#1 v1.5 with SHA-256; the key file is a PEM public key.
    #[value(name = "RS256")]
    Rs256,
    /// ECDSA P-256 with SHA-256; the key file is a PEM public key.
    #[value(name = "ES256")]
    Es256,
}

/// How tokens are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtSettings {
    /// The key file.
    pub key_file: PathBuf,
    /// The key file is a JWK Set (JSON, as identity providers publish at their
    /// `jwks_uri`): a token's `kid` picks the key, whose `alg` (or else `algorithm`) it
    /// must be signed with.
    pub jwks: bool,
    /// The algorithm tokens must be signed with.
    pub algorithm: JwtAlgorithm,
    /// Required `iss`, if any.
    pub issuer: Option<String>,
    /// Required `aud`, if any.
    pub audience: Option<String>,
    /// The claim that names the user (`%u` in ACL rules).
    pub username_claim: String,
    /// A claim the CONNECT client id must equal, if any.
    pub client_id_claim: Option<String>,
}

/// Checks tokens with a loaded key, which [`JwtVerifier::reload`] replaces (SIGHUP).
pub struct JwtVerifier {
    settings: JwtSettings,
    keys: RwLock<Keys>,
    validation: Validation,
}

/// The loaded key, or the keys of a JWK Set.
enum Keys {
    One(DecodingKey),
    Set(Vec<SetKey>),
}

/// One key of a JWK Set.
struct SetKey {
    kid: Option<String>,
    key: DecodingKey,
    algorithm: Algorithm,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Who a verified token says the client is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user, from the username claim.
    pub user: String,
}

/// Why a token was refused; the message goes to the log, never to the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The CONNECT carried no password.
    #[error("no token in the CONNECT password")]
    Missing,
    /// Signature, expiry, not-before, issuer, audience or format.
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    /// The token names a key (`kid`) the JWK Set does not hold, or none where the set has
    /// several.
    #[error("no key {0:?} in the JWK Set")]
    UnknownKey(Option<String>),
    /// The username claim is missing or not a string.
    #[error("the token has no string claim {0:?}")]
    NoUser(String),
    /// The client id is not the one the token names.
    #[error("client id {client_id:?} is not the token's {claim:?} claim")]
    ClientId {
        /// The CONNECT client id.
        client_id: String,
        /// The claim it must equal.
        claim: String,
    },
}

impl JwtVerifier {
    /// Reads the key file and prepares the checks.
    pub fn load(settings: JwtSettings) -> Result<JwtVerifier, ConfigError> {
        let keys = read_keys(&settings)?;
        let mut validation = Validation::new(settings.algorithm.into());
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        if let Some(issuer) = &settings.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &settings.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        Ok(JwtVerifier {
            settings,
            keys: RwLock::new(keys),
            validation,
        })
    }

    /// Reads the key file again (a rotated key); on error the old key stays.
    pub fn reload(&self) -> Result<(), ConfigError> {
        let keys = read_keys(&self.settings)?;
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;
        Ok(())
    }

    /// The key file, for log lines.
    pub fn key_file(&self) -> &Path {
        &self.settings.key_file
    }

    /// Verifies the token in `password` for a client calling itself `client_id`.
    pub fn verify(&self, password: Option<&[u8]>, client_id: &str) -> Result<Identity, AuthError> {
        let token = password.map(trim).filter(|t| !t.is_empty());
        let token = token.ok_or(AuthError::Missing)?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let data = match &*keys {
            Keys::One(key) => {
                jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation)?
            }
            Keys::Set(set) => {
                let kid = jsonwebtoken::decode_header(token)?.kid;
                let found = match &kid {
                    Some(kid) => set.iter().find(|k| k.kid.as_deref() == Some(kid)),
                    None if set.len() == 1 => set.first(),
                    None => None,
                };
                let found = found.ok_or(AuthError::UnknownKey(kid))?;
                let mut validation = self.validation.clone();
                validation.algorithms = vec![found.algorithm];
                jsonwebtoken::decode::<Map<String, Value>>(token, &found.key, &validation)?
            }
        };
        let claims = data.claims;
        let claim = &self.settings.username_claim;
        let user = match claims.get(claim) {
            Some(Value::String(user)) => user.clone(),
            _ => return Err(AuthError::NoUser(claim.clone())),
        };
        if let Some(claim) = &self.settings.client_id_claim
            && claims.get(claim).and_then(Value::as_str) != Some(client_id)
        {
            return Err(AuthError::ClientId {
                client_id: client_id.to_owned(),
                claim: claim.clone(),
            });
        }
        Ok(Identity { user })
    }
}

impl From<JwtAlgorithm> for Algorithm {
    fn from(algorithm: JwtAlgorithm) -> Algorithm {
        match algorithm {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Es256 => Algorithm::ES256,
        }
    }
}

/// The key (or JWK Set) in the settings' key file.
fn read_keys(settings: &JwtSettings) -> Result<Keys, ConfigError> {
    let bad = |reason: String| ConfigError::JwtKey {
        path: settings.key_file.clone(),
        reason,
    };
    let bytes = std::fs::read(&settings.key_file).map_err(|e| bad(e.to_string()))?;
    if settings.jwks {
        let set: JwkSet = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let kid = jwk.common.key_id.clone();
            let algorithm = match jwk.common.key_algorithm {
                Some(alg) => {
                    Algorithm::try_from(alg).map_err(|e| bad(format!("key {kid:?}: {e}")))?
                }
                None => settings.algorithm.into(),
            };
            if !matches!(
                algorithm,
                Algorithm::HS256 | Algorithm::RS256 | Algorithm::ES256
            ) {
                return Err(bad(format!(
                    "key {kid:?}: {algorithm:?} is not HS256, RS256 or ES256"
                )));
            }
            let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(format!("key {kid:?}: {e}")))?;
            keys.push(SetKey {
                kid,
                key,
                algorithm,
            });
        }
        if keys.is_empty() {
            return Err(bad("the JWK Set holds no key".into()));
        }
        return Ok(Keys::Set(keys));
    }
    Ok(Keys::One(match settings.algorithm {
        JwtAlgorithm::Hs256 => {
            let secret = trim(&bytes);
            if secret.len() < 32 {
                return Err(bad("an HS256 secret must be at least 32 bytes".into()));
            }
            DecodingKey::from_secret(secret).map_err(|e| bad(e.to_string()))?
        }
        JwtAlgorithm::Rs256 => DecodingKey::from_rsa_pem(&bytes).map_err(|e| bad(e.to_string()))?,
        JwtAlgorithm::Es256 => DecodingKey::from_ec_pem(&bytes).map_err(|e| bad(e.to_string()))?,
    }))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}
