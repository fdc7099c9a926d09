//! Apps (tenants) and their per-dialect credentials.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::device::DtType;
use crate::error::Error;
use crate::ids::{random_alnum, random_hex, AppId};

/// Getui credentials, also the native API's Basic-auth pair.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = GetuiKeys))]
pub struct GetuiCredentials {
    /// `appkey` of Getui auth; the Basic-auth user of the native API.
    pub app_key: String,
    /// Secret of the Getui auth sign; the Basic-auth password of the native API.
    pub master_secret: String,
}

/// Jiguang UMS credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = UmsKeys))]
pub struct UmsCredentials {
    /// App-wide access key.
    pub access_key: String,
    /// App-wide access secret.
    pub access_secret: String,
    /// Default channel key.
    pub channel_key: String,
    /// Default channel master secret.
    pub channel_master_secret: String,
    /// Default channel code.
    pub channel_code: String,
    /// Default APP sender code; the default channel may write its bindings.
    pub app_sender_code: String,
}

/// Jiguang Growth credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = GrowthKeys))]
pub struct GrowthCredentials {
    /// Basic-auth user.
    pub project_id: String,
    /// Basic-auth password.
    pub project_secret: String,
}

/// EngageLab credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = EngagelabKeys))]
pub struct EngagelabCredentials {
    /// Basic-auth user.
    pub api_key: String,
    /// Basic-auth password.
    pub api_secret: String,
}

/// A new app's id and its credentials for every dialect (DESIGN.md §3).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AppCreated))]
pub struct AppCredentials {
    /// The app id (Getui `appId` path segment), 22 alphanumeric characters.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub app_id: AppId,
    /// Getui.
    pub getui: GetuiCredentials,
    /// Jiguang UMS.
    pub ums: UmsCredentials,
    /// Jiguang Growth.
    pub growth: GrowthCredentials,
    /// EngageLab.
    pub engagelab: EngagelabCredentials,
}

// Secrets never reach logs through Debug.
impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

impl AppCredentials {
    /// Fresh random credentials for a new app.
    pub fn generate() -> Self {
        AppCredentials {
            app_id: AppId::generate(),
            getui: GetuiCredentials {
                app_key: random_alnum(22),
                master_secret: random_alnum(22),
            },
            ums: UmsCredentials {
                access_key: random_hex(12),
                access_secret: random_hex(12),
                channel_key: random_hex(12),
                channel_master_secret: random_hex(12),
                channel_code: format!("ch_{}", random_alnum(8)),
                app_sender_code: format!("app_{}", random_alnum(8)),
            },
            growth: GrowthCredentials {
                project_id: random_hex(8),
                project_secret: random_hex(16),
            },
            engagelab: EngagelabCredentials {
                api_key: random_hex(12),
                api_secret: random_hex(12),
            },
        }
    }
}

/// A new app to store.
#[derive(Debug, Clone)]
pub struct NewApp {
    /// Display name.
    pub name: String,
    /// Its credentials.
    pub credentials: AppCredentials,
    /// Creation time, ms.
    pub created_at: i64,
}

impl NewApp {
    /// Validates the name and generates credentials.
    pub fn new(name: &str, now_ms: i64) -> Result<Self, Error> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::empty("name"));
        }
        if name.chars().count() > 128 {
            return Err(Error::over_limit("name"));
        }
        Ok(NewApp {
            name: name.to_owned(),
            credentials: AppCredentials::generate(),
            created_at: now_ms,
        })
    }
}

/// A stored app.
#[derive(Debug, Clone)]
pub struct App {
    /// Display name.
    pub name: String,
    /// Credentials.
    pub credentials: AppCredentials,
    /// Creation time, ms.
    pub created_at: i64,
    /// bind_dt channels enabled beyond the defaults.
    pub enabled_dt_types: Vec<DtType>,
}

impl App {
    /// The app id.
    pub fn id(&self) -> &AppId {
        &self.credentials.app_id
    }

    /// Whether `bind_dt/{t}` may be called.
    pub fn dt_type_enabled(&self, t: DtType) -> bool {
        t.enabled_by_default() || self.enabled_dt_types.contains(&t)
    }

    /// Checks a Getui auth request: `sign = hex(sha256(appkey + timestamp +
    /// mastersecret))`, compared in constant time.
    pub fn verify_getui_sign(&self, appkey: &str, timestamp: &str, sign: &str) -> bool {
        let g = &self.credentials.getui;
        if !constant_time_eq(appkey.as_bytes(), g.app_key.as_bytes()) {
            return false;
        }
        let expected = getui_sign(&g.app_key, timestamp, &g.master_secret);
        constant_time_eq(expected.as_bytes(), sign.to_ascii_lowercase().as_bytes())
    }
}

/// The Getui auth sign for the given parts.
pub fn getui_sign(app_key: &str, timestamp: &str, master_secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(app_key.as_bytes());
    h.update(timestamp.as_bytes());
    h.update(master_secret.as_bytes());
    hex::encode(h.finalize())
}

/// When a token expiring at `expires_at` is recorded, tokens that expired before this
/// instant (two lifetimes earlier) are of no use to anyone and are forgotten.
pub fn tokens_forgotten_before(expires_at: i64) -> i64 {
    expires_at - 2 * crate::limits::GETUI_TOKEN_TTL_MS
}

/// SHA-256 of a bearer token, as stored: the token itself is never kept.
pub fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The user and password of an `Authorization: Basic …` header value.
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    use base64::Engine;
    let encoded = header.trim().strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, pass) = text.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

/// Byte comparison whose time does not depend on where the inputs differ (`subtle`,
/// which keeps the optimiser from short-circuiting it). Lengths are not secret.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn sign_roundtrip() {
        let app = App {
            name: "a".into(),
            credentials: AppCredentials::generate(),
            created_at: 0,
            enabled_dt_types: vec![],
        };
        let g = &app.credentials.getui;
        let sign = getui_sign(&g.app_key, "1700000000000", &g.master_secret);
        assert_eq!(sign.len(), 64);
        assert!(app.verify_getui_sign(&g.app_key, "1700000000000", &sign));
        assert!(app.verify_getui_sign(&g.app_key, "1700000000000", &sign.to_uppercase()));
        assert!(!app.verify_getui_sign(&g.app_key, "1700000000001", &sign));
        assert!(!app.verify_getui_sign("other", "1700000000000", &sign));
    }

    #[test]
    fn known_sign_vector() {
        // `printf keytssecret | sha256sum`
        assert_eq!(
            getui_sign("key", "ts", "secret"),
            "cd6862554d7fc956c8a69088e5ee0884768c68348435ed606aba801cbadcb799"
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let c = AppCredentials::generate();
        let s = format!("{c:?}");
        assert!(!s.contains(&c.getui.master_secret));
    }
}
