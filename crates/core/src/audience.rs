//! Audience selectors: which devices of an app a count or a listing is about.
//!
//! A selector nests `and` / `or` / `not` over leaves on the indexed dimensions. Getui's
//! `user/count` conditions and roster's native selectors both become a [`Selector`].

use serde::{Deserialize, Serialize};

use crate::device::PhoneType;
use crate::error::Error;
use crate::ids::{Alias, Cid, TagName};
use crate::property::{seen_json, Field, Property, Seen};
use crate::segment::SegmentName;

/// Which level of the region hierarchy an 8-digit code names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegionLevel {
    /// `PP000000`: a province, matching every city in it.
    Province,
    /// `PPCC0000`: a city, matching every district in it.
    City,
    /// Any other code: that exact region.
    Exact,
}

/// A validated 8-digit region code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RegionCode(String);

impl RegionCode {
    /// Validates an 8-digit code.
    pub fn parse(code: impl Into<String>) -> Result<Self, Error> {
        let code = code.into();
        crate::device::validate_region(&code)?;
        Ok(RegionCode(code))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Province, city or exact.
    pub fn level(&self) -> RegionLevel {
        if self.0.ends_with("000000") {
            RegionLevel::Province
        } else if self.0.ends_with("0000") {
            RegionLevel::City
        } else {
            RegionLevel::Exact
        }
    }

    /// The 2-digit province prefix.
    pub fn province(&self) -> &str {
        &self.0[..2]
    }

    /// The 4-digit city prefix.
    pub fn city(&self) -> &str {
        &self.0[..4]
    }

    /// Whether a device in region `device_region` is inside this region.
    pub fn contains(&self, device_region: &str) -> bool {
        if device_region.len() != 8 {
            return false;
        }
        match self.level() {
            RegionLevel::Province => device_region[..2] == self.0[..2],
            RegionLevel::City => device_region[..4] == self.0[..4],
            RegionLevel::Exact => device_region == self.0,
        }
    }
}

impl TryFrom<String> for RegionCode {
    type Error = Error;
    fn try_from(v: String) -> Result<Self, Error> {
        RegionCode::parse(v)
    }
}

impl From<RegionCode> for String {
    fn from(v: RegionCode) -> String {
        v.0
    }
}

/// A set of devices, described over the indexed dimensions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Selector {
    /// Every device of the app.
    All(bool),
    /// Devices matching every child (`[]` matches all).
    And(Vec<Selector>),
    /// Devices matching at least one child (`[]` matches none).
    Or(Vec<Selector>),
    /// Devices not matching the child.
    Not(Box<Selector>),
    /// Devices of this OS.
    PhoneType(PhoneType),
    /// Devices in this region (province and city codes match everything inside).
    Region(RegionCode),
    /// Devices carrying this custom tag.
    Tag(TagName),
    /// Devices of this brand (`unknown` for devices without one).
    Brand(String),
    /// Devices bound to this alias.
    Alias(Alias),
    /// These devices.
    Cid(Vec<Cid>),
    /// The crowd of a smart-crowd sub-task, as it was when the sub-task succeeded
    /// (nothing before).
    Crowd(String),
    /// Devices whose property (a device field or `properties.<key>`) compares as asked.
    Property(Property),
    /// The devices of a saved segment, resolved when the selector is evaluated.
    Segment(SegmentName),
}

/// A selector plus the filters every push audience usually wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceQuery {
    /// Which devices.
    pub selector: Selector,
    /// Leave out blacklisted devices (they receive no pushes).
    #[serde(default)]
    pub exclude_blacklisted: bool,
    /// Leave out devices whose system notifications are off.
    #[serde(default)]
    pub exclude_notification_off: bool,
}

/// What a selector needs to know about one device; also the brute-force evaluator
/// that tests hold the index to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFacts<'a> {
    /// The cid.
    pub cid: &'a str,
    /// OS.
    pub phone_type: PhoneType,
    /// Region code, if any.
    pub region: Option<&'a str>,
    /// Tags.
    pub tags: &'a [TagName],
    /// Brand as reported (`unknown` when none).
    pub brand: &'a str,
    /// Bound alias.
    pub alias: Option<&'a str>,
    /// Blacklisted.
    pub blacklisted: bool,
    /// Notification switch.
    pub notification_switch: bool,
    /// App version.
    pub app_version: Option<&'a str>,
    /// OS version.
    pub os: Option<&'a str>,
    /// Package name.
    pub package_name: Option<&'a str>,
    /// Model.
    pub phone_model: Option<&'a str>,
    /// Client app id.
    pub client_app_id: Option<&'a str>,
    /// Registration time, ms.
    pub create_time: i64,
    /// Last login time, ms.
    pub last_login_time: i64,
    /// Distinct login days within the last 100 days as of the evaluation.
    pub login_freq: i64,
    /// Free-form properties.
    pub properties: Option<&'a serde_json::Map<String, serde_json::Value>>,
}

impl<'a> DeviceFacts<'a> {
    /// A device of `cid` with only its OS and brand: no region, tags, alias or optional
    /// fields, not blacklisted, notifications on, times 0 (a base for tests' fixtures).
    pub fn bare(cid: &'a str, phone_type: PhoneType, brand: &'a str) -> Self {
        DeviceFacts {
            cid,
            phone_type,
            region: None,
            tags: &[],
            brand,
            alias: None,
            blacklisted: false,
            notification_switch: true,
            app_version: None,
            os: None,
            package_name: None,
            phone_model: None,
            client_app_id: None,
            create_time: 0,
            last_login_time: 0,
            login_freq: 0,
            properties: None,
        }
    }

    /// The value of a property field, `None` when the device lacks it.
    pub fn seen(&self, field: &Field) -> Option<Seen<'_>> {
        let number = |n: i64| Some(Seen::Number(n as f64));
        match field {
            Field::AppVersion => self.app_version.map(Seen::Text),
            Field::Os => self.os.map(Seen::Text),
            Field::PackageName => self.package_name.map(Seen::Text),
            Field::PhoneModel => self.phone_model.map(Seen::Text),
            Field::ClientAppId => self.client_app_id.map(Seen::Text),
            Field::NotificationSwitch => Some(Seen::Bool(self.notification_switch)),
            Field::CreatedAt => number(self.create_time),
            Field::LastLoginTime => number(self.last_login_time),
            Field::LoginFreq => number(self.login_freq),
            Field::Custom(key) => seen_json(self.properties.and_then(|p| p.get(key))),
        }
    }
}

impl Selector {
    /// Whether one device matches, evaluated directly.
    pub fn matches(&self, d: &DeviceFacts<'_>) -> bool {
        match self {
            Selector::All(all) => *all,
            Selector::And(xs) => xs.iter().all(|x| x.matches(d)),
            Selector::Or(xs) => xs.iter().any(|x| x.matches(d)),
            Selector::Not(x) => !x.matches(d),
            Selector::PhoneType(p) => d.phone_type == *p,
            Selector::Region(r) => d.region.is_some_and(|dr| r.contains(dr)),
            Selector::Tag(t) => d.tags.contains(t),
            Selector::Brand(b) => d.brand == b,
            Selector::Alias(a) => d.alias == Some(a.as_str()),
            Selector::Cid(cs) => cs.iter().any(|c| c.as_str() == d.cid),
            // Membership is stored with the crowd, not among a device's facts.
            Selector::Crowd(_) => false,
            Selector::Property(p) => p.matches(d.seen(&p.field)),
            // Segments are expanded (`crate::segment::expand`) before evaluation.
            Selector::Segment(_) => false,
        }
    }
}

impl AudienceQuery {
    /// Whether one device is in the audience, evaluated directly.
    pub fn matches(&self, d: &DeviceFacts<'_>) -> bool {
        let excluded = (self.exclude_blacklisted && d.blacklisted)
            || (self.exclude_notification_off && !d.notification_switch);
        !excluded && self.selector.matches(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_levels() {
        let p = RegionCode::parse("11000000").expect("code");
        let c = RegionCode::parse("11010000").expect("code");
        let e = RegionCode::parse("11010500").expect("code");
        assert_eq!(
            (p.level(), c.level(), e.level()),
            (RegionLevel::Province, RegionLevel::City, RegionLevel::Exact)
        );
        assert!(p.contains("11010500") && p.contains("11000000") && !p.contains("12010000"));
        assert!(c.contains("11010500") && !c.contains("11020000") && !c.contains("11000000"));
        assert!(e.contains("11010500") && !e.contains("11010600"));
        assert!(RegionCode::parse("1101").is_err());
    }

    #[test]
    fn selector_json_shape() {
        let s: Selector = serde_json::from_str(
            r#"{"and":[{"phone_type":"android"},{"or":[{"region":"11000000"},{"region":"31000000"}]},{"not":{"tag":"x"}}]}"#,
        )
        .expect("parse");
        let Selector::And(parts) = &s else {
            panic!("and")
        };
        assert_eq!(parts.len(), 3);
        assert!(serde_json::from_str::<Selector>(r#"{"region":"110"}"#).is_err());
        assert!(serde_json::from_str::<Selector>(r#"{"tag":"a b"}"#).is_err());
        assert!(serde_json::from_str::<Selector>(r#"{"cid":["a","b"]}"#).is_ok());
    }
}
