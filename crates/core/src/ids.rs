//! Id newtypes. Each constructor validates, so an invalid value cannot exist past
//! the edge of the system.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::Error;
use crate::limits;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $param:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `value` and wraps it; the error names the parameter.
            pub fn parse(value: impl Into<String>) -> Result<Self, Error> {
                let value = value.into();
                if value.is_empty() {
                    return Err(Error::empty($param));
                }
                let check: fn(&str) -> Result<(), Error> = $check;
                check(&value)?;
                Ok(Self(value))
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Error;
            fn try_from(value: String) -> Result<Self, Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_id!(
    /// A tenant. Generated ids are 22 alphanumeric characters, like Getui's.
    AppId,
    "appId",
    |v| {
        if v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            Ok(())
        } else {
            Err(Error::invalid("appId"))
        }
    }
);

string_id!(
    /// A device id (Getui cid = EngageLab/UMS registration id). Generated cids are 32
    /// lowercase hex; on import any 1–64 printable ASCII characters except `,` and `/`
    /// (which would break multi-cid paths) are accepted.
    Cid,
    "cid",
    |v| {
        if v.len() <= limits::CID_MAX_LEN
            && v.bytes().all(|b| b.is_ascii_graphic() && b != b',' && b != b'/')
        {
            Ok(())
        } else {
            Err(Error::invalid("cid"))
        }
    }
);

string_id!(
    /// A Getui alias: letters (case-sensitive), digits, `_` and CJK characters,
    /// fewer than 40 characters.
    Alias,
    "alias",
    |v| {
        if v.chars().count() < limits::ALIAS_MAX_CHARS_EXCLUSIVE && v.chars().all(alias_char) {
            Ok(())
        } else {
            Err(Error::invalid("alias"))
        }
    }
);

string_id!(
    /// A custom tag: at most 32 characters, no whitespace.
    TagName,
    "custom_tag",
    |v| {
        if v.chars().any(char::is_whitespace) || v.chars().any(char::is_control) {
            Err(Error::invalid("custom_tag"))
        } else if v.chars().count() > limits::TAG_MAX_CHARS {
            Err(Error::over_limit("custom_tag"))
        } else {
            Ok(())
        }
    }
);

impl TagName {
    /// The shape rules of a cid's whole tag list, as Getui's overwrite states them: at
    /// most 100 tags, no tag twice, at most 512 characters in all.
    pub fn check_list(tags: &[TagName]) -> Result<(), Error> {
        if tags.len() > limits::TAGS_PER_CID {
            return Err(Error::over_limit("custom_tag"));
        }
        let mut seen = std::collections::HashSet::new();
        if !tags.iter().all(|t| seen.insert(t.as_str())) {
            return Err(Error::duplicate("custom_tag"));
        }
        let total: usize = tags.iter().map(|t| t.as_str().chars().count()).sum();
        if total > limits::TAG_TOTAL_CHARS {
            return Err(Error::over_limit("custom_tag"));
        }
        Ok(())
    }
}

string_id!(
    /// A UMS userid, the identity `user_id`: at most 64 of `[A-Za-z0-9_@!#$&*+=.|￥]`.
    UserId,
    "userid",
    crate::ums::validate_userid
);

string_id!(
    /// A value of an identity name: 1–256 characters.
    IdentityValue,
    "identity value",
    crate::user::validate_identity_value
);

fn alias_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || is_cjk(c)
}

/// CJK unified ideographs (basic block, extension A, extensions B–F, compatibility).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2EBEF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

impl AppId {
    /// A fresh random app id.
    pub fn generate() -> Self {
        Self(random_alnum(22))
    }
}

impl Cid {
    /// A fresh random cid: 32 lowercase hex characters.
    pub fn generate() -> Self {
        Self(random_hex(16))
    }
}

/// `n` random alphanumeric characters from the OS-seeded thread RNG.
pub fn random_alnum(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::thread_rng().fill(buf.as_mut_slice());
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_rules() {
        assert!(Alias::parse("user_01").is_ok());
        assert!(Alias::parse("张三_abc").is_ok());
        assert!(Alias::parse("a".repeat(39)).is_ok());
        assert_eq!(Alias::parse("a".repeat(40)), Err(Error::invalid("alias")));
        assert_eq!(Alias::parse("张".repeat(40)), Err(Error::invalid("alias")));
        assert_eq!(Alias::parse(""), Err(Error::empty("alias")));
        for bad in ["a b", "a-b", "a@b", "a.b", "émile", "😀"] {
            assert_eq!(Alias::parse(bad), Err(Error::invalid("alias")), "{bad}");
        }
    }

    #[test]
    fn tag_rules() {
        assert!(TagName::parse("喜爱足球").is_ok());
        assert!(TagName::parse("x".repeat(32)).is_ok());
        assert_eq!(
            TagName::parse("x".repeat(33)),
            Err(Error::over_limit("custom_tag"))
        );
        assert_eq!(TagName::parse("a b"), Err(Error::invalid("custom_tag")));
        assert_eq!(TagName::parse("a\tb"), Err(Error::invalid("custom_tag")));
        assert_eq!(TagName::parse(""), Err(Error::empty("custom_tag")));
    }

    #[test]
    fn cid_rules() {
        let g = Cid::generate();
        assert_eq!(g.as_str().len(), 32);
        assert!(g
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(Cid::parse("x".repeat(64)).is_ok());
        assert_eq!(Cid::parse("x".repeat(65)), Err(Error::invalid("cid")));
        for bad in ["a,b", "a/b", "a b", "ä"] {
            assert_eq!(Cid::parse(bad), Err(Error::invalid("cid")), "{bad}");
        }
    }

    #[test]
    fn app_id_generated_is_valid() {
        let id = AppId::generate();
        assert_eq!(AppId::parse(id.as_str()), Ok(id));
    }
}
