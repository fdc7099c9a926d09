//! Jiguang UMS user bindings: fields, bind ids, and one user's changes.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Bind id valid for every channel.
pub const BIND_ALL: &str = "all";
/// Users per UMS request.
pub const USERS_PER_REQUEST: usize = 1000;
/// Longest UMS userid.
pub const USERID_MAX: usize = 64;
/// Longest UMS tag, in bytes.
pub const TAG_MAX_BYTES: usize = 40;

/// What a bind id of a field must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindKind {
    /// `all` or a channel key (tags, phone, email).
    AllOrChannel,
    /// A sender code of this kind (app registration ids, official accounts…).
    Sender(SenderKind),
    /// Only `all` (DingTalk, WeCom).
    AllOnly,
}

/// A UMS sender's channel kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SenderKind {
    /// An app (JPush registration ids).
    App,
    /// WeChat official account.
    Wechatoa,
    /// WeChat mini-program.
    Wechatmp,
    /// Alipay life.
    Alipaylife,
}

impl SenderKind {
    /// Every kind.
    pub const ALL: [SenderKind; 4] = [
        SenderKind::App,
        SenderKind::Wechatoa,
        SenderKind::Wechatmp,
        SenderKind::Alipaylife,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SenderKind::App => "app",
            SenderKind::Wechatoa => "wechatoa",
            SenderKind::Wechatmp => "wechatmp",
            SenderKind::Alipaylife => "alipaylife",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A bindable field of a UMS user; serialised as its wire name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UmsField {
    /// Tags: many per bind id.
    Tag,
    /// Phone: one per bind id.
    Phone,
    /// Email: one per bind id.
    Email,
    /// App registration ids: many per sender.
    App,
    /// WeChat official account openid: one per sender.
    Wechatoa,
    /// WeChat mini-program openid: one per sender.
    Wechatmp,
    /// Alipay life user id: one per sender.
    Alipaylife,
    /// DingTalk user id: one.
    Dingtalkcc,
    /// WeCom user id: one.
    Wechatwk,
    /// WeCom linked-corp user ids `CorpId/userid`: many.
    WechatwkLinkedcorp,
}

impl UmsField {
    /// Every field.
    pub const ALL: [UmsField; 10] = [
        UmsField::Tag,
        UmsField::Phone,
        UmsField::Email,
        UmsField::App,
        UmsField::Wechatoa,
        UmsField::Wechatmp,
        UmsField::Alipaylife,
        UmsField::Dingtalkcc,
        UmsField::Wechatwk,
        UmsField::WechatwkLinkedcorp,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UmsField::Tag => "tag",
            UmsField::Phone => "phone",
            UmsField::Email => "email",
            UmsField::App => "app",
            UmsField::Wechatoa => "wechatoa",
            UmsField::Wechatmp => "wechatmp",
            UmsField::Alipaylife => "alipaylife",
            UmsField::Dingtalkcc => "dingtalkcc",
            UmsField::Wechatwk => "wechatwk",
            UmsField::WechatwkLinkedcorp => "wechatwk_linkedcorp",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Whether a bind id holds many values.
    pub fn multi(self) -> bool {
        matches!(
            self,
            UmsField::Tag | UmsField::App | UmsField::WechatwkLinkedcorp
        )
    }

    /// What its bind ids must be.
    pub fn bind_kind(self) -> BindKind {
        match self {
            UmsField::Tag | UmsField::Phone | UmsField::Email => BindKind::AllOrChannel,
            UmsField::App => BindKind::Sender(SenderKind::App),
            UmsField::Wechatoa => BindKind::Sender(SenderKind::Wechatoa),
            UmsField::Wechatmp => BindKind::Sender(SenderKind::Wechatmp),
            UmsField::Alipaylife => BindKind::Sender(SenderKind::Alipaylife),
            UmsField::Dingtalkcc | UmsField::Wechatwk | UmsField::WechatwkLinkedcorp => {
                BindKind::AllOnly
            }
        }
    }

    /// The contact kind a value under bind id `all` also is (phone and email).
    pub fn contact_kind(self) -> Option<&'static str> {
        match self {
            UmsField::Phone => Some("mobile_phone"),
            UmsField::Email => Some("email"),
            _ => None,
        }
    }

    /// Checks one value of this field.
    pub fn validate(self, value: &str) -> Result<(), Error> {
        if value.is_empty() {
            return Err(Error::empty(self.as_str()));
        }
        let ok = match self {
            UmsField::Tag => value.len() <= TAG_MAX_BYTES,
            UmsField::WechatwkLinkedcorp => value
                .split_once('/')
                .is_some_and(|(c, u)| !c.is_empty() && !u.is_empty()),
            _ => value.chars().count() <= 256,
        };
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(self.as_str()))
        }
    }
}

/// add / set / del.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum UmsVerb {
    /// Replace the values under a bind id (applied first).
    Set,
    /// Add values (many-valued fields only).
    Add,
    /// Remove values (applied last).
    Del,
}

impl UmsVerb {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            UmsVerb::Set => "set",
            UmsVerb::Add => "add",
            UmsVerb::Del => "del",
        }
    }
}

/// One change: `verb` the `values` of `field` under `bind_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UmsChange {
    /// add / set / del.
    pub verb: UmsVerb,
    /// Field.
    pub field: UmsField,
    /// `all`, a channel key, or a sender code.
    pub bind_id: String,
    /// Values.
    pub values: Vec<String>,
}

/// The changes to one user, identified by its UMS userid (= identity `user_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UmsUserChanges {
    /// The userid.
    pub userid: String,
    /// Changes, in the order they apply: set, then add, then del.
    pub changes: Vec<UmsChange>,
}

/// Validates a UMS userid: ≤ 64 characters of `[A-Za-z0-9_@!#$&*+=.|￥]`.
pub fn validate_userid(userid: &str) -> Result<(), Error> {
    if userid.is_empty() {
        return Err(Error::empty("userid"));
    }
    let ok = userid.chars().count() <= USERID_MAX
        && userid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_@!#$&*+=.|￥".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid("userid"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_kind_names() {
        for k in SenderKind::ALL {
            assert_eq!(SenderKind::parse(k.as_str()), Some(k));
            let serde_name = serde_json::to_value(k).ok();
            assert_eq!(
                serde_name.as_ref().and_then(|v| v.as_str()),
                Some(k.as_str())
            );
        }
    }

    #[test]
    fn userids() {
        assert!(validate_userid("a_b@c.d|e￥").is_ok());
        assert!(validate_userid(&"a".repeat(64)).is_ok());
        assert!(validate_userid(&"a".repeat(65)).is_err());
        assert!(validate_userid("a b").is_err());
        assert!(validate_userid("a-b").is_err());
        assert!(validate_userid("").is_err());
    }

    #[test]
    fn values() {
        assert!(UmsField::Tag.validate(&"x".repeat(40)).is_ok());
        assert!(UmsField::Tag.validate(&"x".repeat(41)).is_err());
        assert!(
            UmsField::Tag.validate(&"标".repeat(14)).is_err(),
            "40 bytes, not characters"
        );
        assert!(UmsField::WechatwkLinkedcorp.validate("corp/user").is_ok());
        assert!(UmsField::WechatwkLinkedcorp.validate("corpuser").is_err());
        for f in UmsField::ALL {
            assert_eq!(UmsField::parse(f.as_str()), Some(f));
        }
    }
}
