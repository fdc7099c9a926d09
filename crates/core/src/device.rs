//! The device model and the commands that change it.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ids::{Alias, Cid, TagName};
use crate::limits;

/// Operating system of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PhoneType {
    /// Android.
    Android,
    /// iOS.
    Ios,
}

impl PhoneType {
    /// Getui's numeric form: 1 android, 2 ios.
    pub fn getui_code(self) -> i64 {
        match self {
            PhoneType::Android => 1,
            PhoneType::Ios => 2,
        }
    }

    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            PhoneType::Android => "android",
            PhoneType::Ios => "ios",
        }
    }

    /// Parses `android` / `ios`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "android" => Some(PhoneType::Android),
            "ios" => Some(PhoneType::Ios),
            _ => None,
        }
    }
}

/// What kind of client a cid belongs to: `app` (the push SDK) or `mini_program` (a
/// WeChat mini-program user, bound by Getui `bind_dt/wx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// An app with the push SDK (the default).
    #[default]
    App,
    /// A WeChat mini-program user; Getui `bind_dt/wx` binds its openid.
    MiniProgram,
}

impl DeviceKind {
    /// Stored/wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::App => "app",
            DeviceKind::MiniProgram => "mini_program",
        }
    }

    /// Parses the stored/wire name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "app" => Some(DeviceKind::App),
            "mini_program" => Some(DeviceKind::MiniProgram),
            _ => None,
        }
    }
}

/// A vendor channel Getui `bind_dt` binds tokens of (`wx` is always enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DtType {
    /// WeChat mini-program (enabled by default).
    Wx,
    /// Huawei.
    Hw,
    /// Huawei quick apps.
    Hwq,
    /// Honor.
    Ho,
    /// Xiaomi.
    Xm,
    /// OPPO.
    Op,
    /// OPPO overseas.
    Opg,
    /// VIVO.
    Vv,
    /// Meizu.
    Mz,
    /// Google FCM.
    Fcm,
    /// Smartisan.
    St,
    /// Sony.
    Sn,
    /// Apple.
    Ios,
}

impl DtType {
    /// Every type, in the order the Getui document lists them.
    pub const ALL: [DtType; 13] = [
        DtType::Wx,
        DtType::Hw,
        DtType::Hwq,
        DtType::Ho,
        DtType::Xm,
        DtType::Op,
        DtType::Opg,
        DtType::Vv,
        DtType::Mz,
        DtType::Fcm,
        DtType::St,
        DtType::Sn,
        DtType::Ios,
    ];

    /// The path segment Getui uses.
    pub fn as_str(self) -> &'static str {
        match self {
            DtType::Wx => "wx",
            DtType::Hw => "hw",
            DtType::Hwq => "hwq",
            DtType::Ho => "ho",
            DtType::Xm => "xm",
            DtType::Op => "op",
            DtType::Opg => "opg",
            DtType::Vv => "vv",
            DtType::Mz => "mz",
            DtType::Fcm => "fcm",
            DtType::St => "st",
            DtType::Sn => "sn",
            DtType::Ios => "ios",
        }
    }

    /// Parses a path segment.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// Whether the type is on without an admin call.
    pub fn enabled_by_default(self) -> bool {
        self == DtType::Wx
    }

    /// The `brand` Getui reports for a device whose token came from this channel:
    /// the vendor token prefix (`iphone` for Apple); `None` for mini-programs.
    pub fn brand(self) -> Option<&'static str> {
        match self {
            DtType::Wx => None,
            DtType::Ios => Some("iphone"),
            other => Some(other.as_str()),
        }
    }
}

/// A device as stored; its JSON form is how the change log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Its id.
    pub cid: Cid,
    /// App or mini-program.
    pub kind: DeviceKind,
    /// Operating system.
    pub phone_type: PhoneType,
    /// Vendor brand prefix (`hw`, `xm`, `iphone`…), if known.
    pub brand: Option<String>,
    /// Device model.
    pub phone_model: Option<String>,
    /// Package name of the app.
    pub package_name: Option<String>,
    /// Client app id.
    pub client_app_id: Option<String>,
    /// Vendor push token (or mini-program openid).
    pub device_token: Option<String>,
    /// Channel the token was bound through, when bound by `bind_dt`.
    pub device_token_type: Option<DtType>,
    /// Whether system notifications are on.
    pub notification_switch: bool,
    /// 8-digit region code.
    pub region: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// OS version.
    pub os: Option<String>,
    /// Free-form properties (a JSON object).
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Whether the cid is currently online.
    pub online: bool,
    /// First login (registration) time, ms.
    pub create_time: i64,
    /// Last login time, ms.
    pub last_login_time: i64,
    /// Distinct login days within the last 100 days (filled on read).
    #[serde(skip)]
    pub login_freq: i64,
    /// iOS badge.
    pub badge: i64,
    /// Blacklisted devices receive no pushes.
    pub blacklisted: bool,
    /// Bound alias, if any.
    pub alias: Option<Alias>,
    /// Custom tags, sorted.
    pub tags: Vec<TagName>,
}

impl Device {
    /// Brand as Getui reports it: the stored brand, else `unknown`.
    pub fn getui_brand(&self) -> &str {
        self.brand.as_deref().unwrap_or("unknown")
    }

    /// The facts a selector is evaluated on.
    pub fn facts(&self) -> crate::DeviceFacts<'_> {
        crate::DeviceFacts {
            cid: self.cid.as_str(),
            phone_type: self.phone_type,
            region: self.region.as_deref(),
            tags: &self.tags,
            brand: self.getui_brand(),
            alias: self.alias.as_ref().map(Alias::as_str),
            blacklisted: self.blacklisted,
            notification_switch: self.notification_switch,
            app_version: self.app_version.as_deref(),
            os: self.os.as_deref(),
            package_name: self.package_name.as_deref(),
            phone_model: self.phone_model.as_deref(),
            client_app_id: self.client_app_id.as_deref(),
            create_time: self.create_time,
            last_login_time: self.last_login_time,
            login_freq: self.login_freq,
            properties: Some(&self.properties),
        }
    }
}

/// Insert or update one device. `None` fields keep their stored value on update.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DeviceUpsert {
    /// Given or generated cid.
    pub cid: Option<Cid>,
    /// App or mini-program (defaults to app on insert).
    pub kind: Option<DeviceKind>,
    /// Operating system (required).
    pub phone_type: Option<PhoneType>,
    /// Brand.
    pub brand: Option<String>,
    /// Model.
    pub phone_model: Option<String>,
    /// Package name.
    pub package_name: Option<String>,
    /// Client app id.
    pub client_app_id: Option<String>,
    /// Vendor token.
    pub device_token: Option<String>,
    /// Notification switch (defaults to on).
    pub notification_switch: Option<bool>,
    /// 8-digit region code.
    pub region: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// OS version.
    pub os: Option<String>,
    /// Properties merged into the stored ones.
    pub properties: Option<serde_json::Map<String, serde_json::Value>>,
    /// Registration time, ms, as a migrated device brings it (else now on insert).
    pub create_time: Option<i64>,
    /// Last login time, ms, as a migrated device brings it (else its registration).
    pub last_login_time: Option<i64>,
}

/// Validates an 8-digit region code (`PP000000` province, `PPCC0000` city).
pub fn validate_region(code: &str) -> Result<(), Error> {
    if code.len() == 8 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Error::invalid("region"))
    }
}

/// A device event: `online`, `offline`, or `login` (counts towards `login_freq`, sets
/// `last_login_time`, and brings the cid online).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceEvent {
    /// The cid connected.
    Online,
    /// The cid disconnected.
    Offline,
    /// The app was opened: counts towards `login_freq`, sets `last_login_time`, and
    /// brings the cid online.
    Login,
}

/// A Getui badge operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadgeOp {
    /// `N`: set.
    Set(i64),
    /// `+N`: add.
    Add(i64),
    /// `-N`: subtract, never below 0.
    Sub(i64),
}

impl BadgeOp {
    /// Parses `"+N"`, `"-N"` or `"N"`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        let (ctor, digits): (fn(i64) -> BadgeOp, &str) = match s.as_bytes().first() {
            Some(b'+') => (BadgeOp::Add, &s[1..]),
            Some(b'-') => (BadgeOp::Sub, &s[1..]),
            Some(_) => (BadgeOp::Set, s),
            None => return Err(Error::empty("badge")),
        };
        if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid("badge"));
        }
        let n: i64 = digits.parse().map_err(|_| Error::invalid("badge"))?;
        if n > limits::BADGE_MAX {
            return Err(Error::invalid("badge"));
        }
        Ok(ctor(n))
    }

    /// Applies the operation to a current value, clamped to `0..=BADGE_MAX`.
    pub fn apply(self, current: i64) -> i64 {
        let v = match self {
            BadgeOp::Set(n) => n,
            BadgeOp::Add(n) => current.saturating_add(n),
            BadgeOp::Sub(n) => current.saturating_sub(n),
        };
        v.clamp(0, limits::BADGE_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badge_ops() {
        assert_eq!(BadgeOp::parse("5"), Ok(BadgeOp::Set(5)));
        assert_eq!(BadgeOp::parse("+3"), Ok(BadgeOp::Add(3)));
        assert_eq!(BadgeOp::parse("-8"), Ok(BadgeOp::Sub(8)));
        assert_eq!(BadgeOp::parse("-8").map(|o| o.apply(5)), Ok(0));
        assert_eq!(BadgeOp::parse("+2").map(|o| o.apply(5)), Ok(7));
        assert_eq!(BadgeOp::parse("0").map(|o| o.apply(5)), Ok(0));
        for bad in ["", "+", "-", "a", "1.5", "++1", "9999999999", "+-1"] {
            assert!(BadgeOp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn regions() {
        assert!(validate_region("11000000").is_ok());
        assert!(validate_region("1100000").is_err());
        assert!(validate_region("1100000a").is_err());
    }

    /// The serde names (what the native API reads and writes) are the `as_str` names.
    #[test]
    fn serde_names_are_the_wire_names() {
        fn name(v: impl Serialize) -> Option<String> {
            serde_json::to_value(v).ok()?.as_str().map(str::to_owned)
        }
        for t in DtType::ALL {
            assert_eq!(name(t).as_deref(), Some(t.as_str()));
        }
        for p in [PhoneType::Android, PhoneType::Ios] {
            assert_eq!(name(p).as_deref(), Some(p.as_str()));
        }
        for k in [DeviceKind::App, DeviceKind::MiniProgram] {
            assert_eq!(name(k).as_deref(), Some(k.as_str()));
        }
    }

    #[test]
    fn dt_types_roundtrip() {
        for t in DtType::ALL {
            assert_eq!(DtType::parse(t.as_str()), Some(t));
        }
        assert_eq!(DtType::parse("WX"), None);
        assert!(DtType::Wx.enabled_by_default());
        assert!(!DtType::Hw.enabled_by_default());
    }
}
