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
        use CredentialKind as K;
        AppCredentials {
            app_id: AppId::generate(),
            getui: GetuiCredentials {
                app_key: random_alnum(22),
                master_secret: K::Getui.new_secret(),
            },
            ums: UmsCredentials {
                access_key: random_hex(12),
                access_secret: K::UmsAccess.new_secret(),
                channel_key: random_hex(12),
                channel_master_secret: K::UmsChannel.new_secret(),
                channel_code: format!("ch_{}", random_alnum(8)),
                app_sender_code: format!("app_{}", random_alnum(8)),
            },
            growth: GrowthCredentials {
                project_id: random_hex(8),
                project_secret: K::Growth.new_secret(),
            },
            engagelab: EngagelabCredentials {
                api_key: random_hex(12),
                api_secret: K::Engagelab.new_secret(),
            },
        }
    }

    /// The (key, secret, kind) triples of every dialect, as every backend stores them
    /// when the app is created.
    pub fn keys(&self) -> [(&str, &str, CredentialKind); 5] {
        [
            (
                &self.getui.app_key,
                &self.getui.master_secret,
                CredentialKind::Getui,
            ),
            (
                &self.ums.access_key,
                &self.ums.access_secret,
                CredentialKind::UmsAccess,
            ),
            (
                &self.ums.channel_key,
                &self.ums.channel_master_secret,
                CredentialKind::UmsChannel,
            ),
            (
                &self.growth.project_id,
                &self.growth.project_secret,
                CredentialKind::Growth,
            ),
            (
                &self.engagelab.api_key,
                &self.engagelab.api_secret,
                CredentialKind::Engagelab,
            ),
        ]
    }
}

/// What a stored key authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CredentialKind {
    /// Getui `appkey` with its master secret; also the native API's Basic pair.
    Getui,
    /// UMS app-wide access key.
    UmsAccess,
    /// UMS channel key.
    UmsChannel,
    /// Growth project id.
    Growth,
    /// EngageLab API key.
    Engagelab,
}

impl CredentialKind {
    const ALL: [CredentialKind; 5] = [
        Self::Getui,
        Self::UmsAccess,
        Self::UmsChannel,
        Self::Growth,
        Self::Engagelab,
    ];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialKind::Getui => "getui",
            CredentialKind::UmsAccess => "ums_access",
            CredentialKind::UmsChannel => "ums_channel",
            CredentialKind::Growth => "growth",
            CredentialKind::Engagelab => "engagelab",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The dialect whose rotation renews this kind of secret.
    pub fn dialect(self) -> KeyDialect {
        match self {
            CredentialKind::Getui => KeyDialect::Getui,
            CredentialKind::UmsAccess | CredentialKind::UmsChannel => KeyDialect::Ums,
            CredentialKind::Growth => KeyDialect::Growth,
            CredentialKind::Engagelab => KeyDialect::Engagelab,
        }
    }

    /// A fresh random secret of this kind (the same shape as at app creation).
    pub fn new_secret(self) -> String {
        match self {
            CredentialKind::Getui => random_alnum(22),
            CredentialKind::Growth => random_hex(16),
            _ => random_hex(12),
        }
    }
}

/// A dialect whose secrets rotate together: `getui` (also the native API), `ums` (the
/// access secret and every channel's master secret), `growth`, `engagelab`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum KeyDialect {
    /// Getui and the native API.
    Getui,
    /// Jiguang UMS.
    Ums,
    /// Jiguang Growth.
    Growth,
    /// EngageLab.
    Engagelab,
}

impl KeyDialect {
    /// Path name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyDialect::Getui => "getui",
            KeyDialect::Ums => "ums",
            KeyDialect::Growth => "growth",
            KeyDialect::Engagelab => "engagelab",
        }
    }

    /// Parses a path name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Getui, Self::Ums, Self::Growth, Self::Engagelab]
            .into_iter()
            .find(|d| d.as_str() == s)
    }

    /// The kinds of key whose secrets a rotation of this dialect renews.
    pub fn kinds(self) -> Vec<CredentialKind> {
        CredentialKind::ALL
            .into_iter()
            .filter(|k| k.dialect() == self)
            .collect()
    }
}

/// The default grace of a rotation: the replaced secrets keep working this long, s.
pub const ROTATION_GRACE_DEFAULT_S: u64 = 86_400;
/// The longest grace a rotation accepts, s (30 days).
pub const ROTATION_GRACE_MAX_S: u64 = 30 * 86_400;

/// One stored secret of a key: the current one (`expires_at` none) or one a rotation
/// replaced, which works until `expires_at`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret {
    /// What the key authenticates.
    pub kind: CredentialKind,
    /// The key id (Basic-auth user, Getui `appkey`); it stays across rotations.
    pub key: String,
    /// The secret.
    pub secret: String,
    /// When the secret was issued, ms.
    pub created_at: i64,
    /// When a replaced secret stops working, ms; `None` for the current one.
    pub expires_at: Option<i64>,
}

impl KeySecret {
    /// Whether the secret still works at `now` (ms).
    pub fn live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

// Secrets never reach logs through Debug.
impl std::fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySecret")
            .field("kind", &self.kind)
            .field("key", &self.key)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Whether `given` is a live secret among `secrets` at `now`: every secret is
/// compared in constant time, and all of them always, so timing tells nothing.
pub fn secret_accepted<'a>(
    secrets: impl IntoIterator<Item = &'a KeySecret>,
    given: &str,
    now: i64,
) -> bool {
    secrets.into_iter().fold(false, |ok, s| {
        ok | (constant_time_eq(given.as_bytes(), s.secret.as_bytes()) & s.live(now))
    })
}

/// An app's display name: 1–128 characters once leading and trailing whitespace is
/// trimmed.
pub fn app_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::empty("name"));
    }
    if name.chars().count() > 128 {
        return Err(Error::over_limit("name"));
    }
    Ok(name.to_owned())
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
        Ok(NewApp {
            name: app_name(name)?,
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
    /// Every stored secret of its keys, current and replaced (the secrets in
    /// `credentials` are those issued at creation, which a rotation replaces).
    pub keys: Vec<KeySecret>,
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

    /// The secrets of the app's Getui key (current and replaced).
    fn getui_keys(&self) -> impl Iterator<Item = &KeySecret> {
        self.keys
            .iter()
            .filter(|k| k.kind == CredentialKind::Getui && k.key == self.credentials.getui.app_key)
    }

    /// Checks the native API's Basic pair `app_key:master_secret` at `now`: the
    /// current master secret or one a rotation replaced whose grace has not ended.
    pub fn verify_getui_basic(&self, user: &str, pass: &str, now: i64) -> bool {
        // Both comparisons always run, so timing does not tell which part was wrong.
        constant_time_eq(user.as_bytes(), self.credentials.getui.app_key.as_bytes())
            & secret_accepted(self.getui_keys(), pass, now)
    }

    /// Checks a Getui auth request at `now`: `sign = hex(sha256(appkey + timestamp +
    /// mastersecret))` for a live master secret, compared in constant time.
    pub fn verify_getui_sign(&self, appkey: &str, timestamp: &str, sign: &str, now: i64) -> bool {
        let app_key = &self.credentials.getui.app_key;
        if !constant_time_eq(appkey.as_bytes(), app_key.as_bytes()) {
            return false;
        }
        let sign = sign.to_ascii_lowercase();
        self.getui_keys().fold(false, |ok, k| {
            let expected = getui_sign(app_key, timestamp, &k.secret);
            ok | (constant_time_eq(expected.as_bytes(), sign.as_bytes()) & k.live(now))
        })
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

    fn app_with_keys(credentials: AppCredentials, created_at: i64) -> App {
        let keys = credentials
            .keys()
            .into_iter()
            .map(|(key, secret, kind)| KeySecret {
                kind,
                key: key.to_owned(),
                secret: secret.to_owned(),
                created_at,
                expires_at: None,
            })
            .collect();
        App {
            name: "a".into(),
            credentials,
            created_at,
            enabled_dt_types: vec![],
            keys,
        }
    }

    #[test]
    fn sign_roundtrip() {
        let app = app_with_keys(AppCredentials::generate(), 0);
        let g = &app.credentials.getui;
        let sign = getui_sign(&g.app_key, "1700000000000", &g.master_secret);
        assert_eq!(sign.len(), 64);
        assert!(app.verify_getui_sign(&g.app_key, "1700000000000", &sign, 0));
        assert!(app.verify_getui_sign(&g.app_key, "1700000000000", &sign.to_uppercase(), 0));
        assert!(!app.verify_getui_sign(&g.app_key, "1700000000001", &sign, 0));
        assert!(!app.verify_getui_sign("other", "1700000000000", &sign, 0));
    }

    #[test]
    fn a_replaced_secret_works_until_its_expiry() {
        let mut app = app_with_keys(AppCredentials::generate(), 0);
        let old = app.credentials.getui.master_secret.clone();
        let key = app.credentials.getui.app_key.clone();
        for k in &mut app.keys {
            if k.kind == CredentialKind::Getui {
                k.expires_at = Some(100);
            }
        }
        app.keys.push(KeySecret {
            kind: CredentialKind::Getui,
            key: key.clone(),
            secret: "new".into(),
            created_at: 50,
            expires_at: None,
        });
        let sign_old = getui_sign(&key, "1", &old);
        let sign_new = getui_sign(&key, "1", "new");
        assert!(app.verify_getui_basic(&key, &old, 99));
        assert!(!app.verify_getui_basic(&key, &old, 100));
        assert!(app.verify_getui_basic(&key, "new", 100));
        assert!(app.verify_getui_sign(&key, "1", &sign_old, 99));
        assert!(!app.verify_getui_sign(&key, "1", &sign_old, 100));
        assert!(app.verify_getui_sign(&key, "1", &sign_new, 1_000));
        assert!(!app.verify_getui_basic("other", "new", 0));
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
