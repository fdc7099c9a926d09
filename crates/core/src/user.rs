//! Users: one identity graph that UMS, Growth, EngageLab and the native API all read
//! and write. A user has a permanent uid (Growth's CUID, EngageLab's EUID), identities
//! (name → value), properties, contacts, UMS channel bindings, and linked devices
//! (a device's cid is its `registration_id` identity).

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Built-in identity: the app's own user id (unique, priority 1). UMS `userid` is this.
pub const USER_ID: &str = "user_id";
/// Built-in identity: an anonymous id (unique).
pub const ANONYMOUS_ID: &str = "anonymous_id";
/// Built-in identity: device registration ids = cids (many per user).
pub const REGISTRATION_ID: &str = "registration_id";

/// The contact kinds EngageLab knows.
pub const CONTACT_KINDS: [&str; 4] = ["email", "mobile_phone", "landline_phone", "whatsapp_phone"];

/// A user id: positive, permanent, never reused (Growth's CUID, EngageLab's EUID).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Uid(i64);

impl Uid {
    /// The uid a store handed out (stores give positive numbers only).
    pub const fn new(raw: i64) -> Self {
        Uid(raw)
    }

    /// Parses a uid a client sent: a positive decimal number.
    pub fn parse(s: &str) -> Option<Self> {
        s.parse().ok().and_then(Self::positive)
    }

    /// A uid a client sent as a number, if positive.
    pub fn positive(raw: i64) -> Option<Self> {
        (raw > 0).then_some(Uid(raw))
    }

    /// The number.
    pub const fn get(self) -> i64 {
        self.0
    }

    /// The uid after this one.
    pub const fn next(self) -> Self {
        Uid(self.0 + 1)
    }
}

impl std::fmt::Display for Uid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Uid> for serde_json::Value {
    fn from(u: Uid) -> Self {
        u.0.into()
    }
}

/// An identity name of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityName {
    /// The name.
    pub name: String,
    /// Whether a user has at most one value (and a value at most one user).
    pub unique: bool,
    /// Resolution priority, 1 first.
    pub priority: u32,
}

impl IdentityName {
    /// The built-in names every app has.
    pub fn builtins() -> [IdentityName; 3] {
        [
            IdentityName {
                name: USER_ID.into(),
                unique: true,
                priority: 1,
            },
            IdentityName {
                name: ANONYMOUS_ID.into(),
                unique: true,
                priority: 2,
            },
            IdentityName {
                name: REGISTRATION_ID.into(),
                unique: false,
                priority: 3,
            },
        ]
    }

    /// Validates a new custom name: 1–64 of `[A-Za-z0-9_]`, not a built-in, priority ≥ 1.
    pub fn custom(name: &str, unique: bool, priority: u32) -> Result<Self, Error> {
        if name.is_empty() {
            return Err(Error::empty("name"));
        }
        if name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(Error::invalid("name"));
        }
        if Self::builtins().iter().any(|b| b.name == name) {
            return Err(Error::AlreadyExists("identity name".into()));
        }
        if priority == 0 {
            return Err(Error::invalid("priority"));
        }
        Ok(IdentityName {
            name: name.into(),
            unique,
            priority,
        })
    }

    /// Resolution order: `user_id`, `anonymous_id`, `registration_id`, then custom
    /// names by priority (then name).
    pub fn resolution_key(&self) -> (u8, u32, String) {
        match self.name.as_str() {
            USER_ID => (0, 0, String::new()),
            ANONYMOUS_ID => (1, 0, String::new()),
            REGISTRATION_ID => (2, 0, String::new()),
            _ => (3, self.priority, self.name.clone()),
        }
    }
}

/// Longest identity value.
pub const IDENTITY_VALUE_MAX: usize = 256;

/// Validates an identity value.
pub fn validate_identity_value(v: &str) -> Result<(), Error> {
    if v.is_empty() {
        Err(Error::empty("identity value"))
    } else if v.chars().count() > IDENTITY_VALUE_MAX {
        Err(Error::over_limit("identity value"))
    } else {
        Ok(())
    }
}

/// A stored user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Permanent id.
    pub uid: Uid,
    /// Identities: (name, value), sorted.
    pub identities: Vec<(String, String)>,
    /// Properties.
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Contacts: (kind, value).
    pub contacts: Vec<(String, String)>,
    /// UMS bindings: (field, bind id, value), sorted.
    pub bindings: Vec<(String, String, String)>,
}

impl User {
    /// Values of one identity name.
    pub fn identity(&self, name: &str) -> Vec<&str> {
        self.identities
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The devices linked to the user.
    pub fn registration_ids(&self) -> Vec<&str> {
        self.identity(REGISTRATION_ID)
    }
}

/// Identify-or-create a user (native API).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Identify {
    /// Identities to resolve by and attach: (name, value).
    pub identities: Vec<(String, String)>,
    /// Properties merged in.
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Contacts set: (kind, value).
    pub contacts: Vec<(String, String)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_names() {
        assert!(IdentityName::custom("phone", true, 1).is_ok());
        assert!(IdentityName::custom("user_id", true, 1).is_err());
        assert!(IdentityName::custom("a b", true, 1).is_err());
        assert!(IdentityName::custom("x", true, 0).is_err());
        let mut names = [
            IdentityName::custom("b", true, 2).expect("b"),
            IdentityName::builtins()[2].clone(),
            IdentityName::custom("a", true, 1).expect("a"),
            IdentityName::builtins()[0].clone(),
        ];
        names.sort_by_key(IdentityName::resolution_key);
        let order: Vec<&str> = names.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(order, ["user_id", "registration_id", "a", "b"]);
    }
}
