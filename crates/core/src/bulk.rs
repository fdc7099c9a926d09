//! Bulk import and export: the NDJSON line of a device, as export writes it and import
//! reads it, and the mapping of a vendor's CSV export onto it (`docs/import-export.md`).
//!
//! Export writes every field, so a file exported from one app and imported into an
//! empty one reproduces every read. Import reads the same line with each field
//! optional: an absent field keeps a known device's value (a new device gets the
//! default), `null` clears it. Shape rules are checked here, through the core's
//! validating types; the rules that depend on stored state (the alias cap) are
//! decided by [`crate::rules::ImportDevices`].

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::device::validate_region;
use crate::error::Error;
use crate::ids::{Alias, Cid, TagName};
use crate::ums::{validate_userid, BindKind, UmsField, BIND_ALL};
use crate::user::{validate_identity_value, User, CONTACT_KINDS, USER_ID};
use crate::{limits, Device, DeviceKind, DtType, PhoneType};

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const EPOCH_FROM_CE: i64 = 719_163;

/// A CST day number (as `device_login_days` keeps it) as `YYYY-MM-DD`.
pub fn day_text(day: i64) -> String {
    i32::try_from(day + EPOCH_FROM_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .map_or_else(|| day.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

/// Parses a `YYYY-MM-DD` login day into its CST day number.
pub fn parse_day(s: &str) -> Option<i64> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(i64::from(chrono::Datelike::num_days_from_ce(&d)) - EPOCH_FROM_CE)
}

/// A login day on the wire: `YYYY-MM-DD` (China Standard Time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LoginDay(pub i64);

impl Serialize for LoginDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&day_text(self.0))
    }
}

impl<'de> Deserialize<'de> for LoginDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        parse_day(&s)
            .map(LoginDay)
            .ok_or_else(|| serde::de::Error::custom("login_days: a day is YYYY-MM-DD"))
    }
}

/// Present (possibly `null`) rather than absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// One device line of an import. Every field but `cid` may be absent (keep the stored
/// value; a new device gets the default); nullable ones may be `null` (clear).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceLine {
    /// The device.
    pub cid: Option<Cid>,
    /// `app` or `mini_program`.
    pub kind: Option<DeviceKind>,
    /// `android` or `ios`; required for a new device.
    pub phone_type: Option<PhoneType>,
    /// Vendor brand prefix.
    #[serde(default, deserialize_with = "present")]
    pub brand: Option<Option<String>>,
    /// Model.
    #[serde(default, deserialize_with = "present")]
    pub phone_model: Option<Option<String>>,
    /// Package name.
    #[serde(default, deserialize_with = "present")]
    pub package_name: Option<Option<String>>,
    /// Client app id.
    #[serde(default, deserialize_with = "present")]
    pub client_app_id: Option<Option<String>>,
    /// Vendor push token.
    #[serde(default, deserialize_with = "present")]
    pub device_token: Option<Option<String>>,
    /// The bind_dt channel the token came through.
    #[serde(default, deserialize_with = "present")]
    pub device_token_type: Option<Option<DtType>>,
    /// Notification switch.
    pub notification_switch: Option<bool>,
    /// 8-digit region code.
    #[serde(default, deserialize_with = "present")]
    pub region: Option<Option<String>>,
    /// App version.
    #[serde(default, deserialize_with = "present")]
    pub app_version: Option<Option<String>>,
    /// OS version.
    #[serde(default, deserialize_with = "present")]
    pub os: Option<Option<String>>,
    /// Properties: replace the stored ones.
    pub properties: Option<Map<String, Value>>,
    /// Online.
    pub online: Option<bool>,
    /// Registration time, ms.
    pub create_time: Option<i64>,
    /// Last login time, ms.
    pub last_login_time: Option<i64>,
    /// iOS badge.
    pub badge: Option<i64>,
    /// Blacklisted.
    pub blacklisted: Option<bool>,
    /// Alias (`null`: none).
    #[serde(default, deserialize_with = "present")]
    pub alias: Option<Option<Alias>>,
    /// Custom tags: replace the stored ones.
    pub tags: Option<Vec<TagName>>,
    /// Login days (CST `YYYY-MM-DD`): added to the stored ones.
    pub login_days: Option<Vec<LoginDay>>,
    /// `login_freq` as export writes it: derived from `login_days`, so it is ignored.
    #[serde(default, rename = "login_freq")]
    pub _login_freq: Option<Value>,
}

impl DeviceLine {
    /// Reads one NDJSON line and checks its shape at `now` (ms).
    pub fn parse(line: &str, now: i64) -> Result<DeviceLine, Error> {
        let d: DeviceLine =
            serde_json::from_str(line).map_err(|e| Error::invalid(format!("the line ({e})")))?;
        d.checked(now)
    }

    /// Checks the shape rules of a line: texts at most [`limits::DEVICE_TEXT_MAX`]
    /// characters, the region, the times (positive, not after `now`, last login not
    /// before registration), the badge; `cid` is required.
    pub fn checked(mut self, now: i64) -> Result<DeviceLine, Error> {
        if self.cid.is_none() {
            return Err(Error::empty("cid"));
        }
        for (name, v) in [
            ("brand", &self.brand),
            ("phone_model", &self.phone_model),
            ("package_name", &self.package_name),
            ("client_app_id", &self.client_app_id),
            ("device_token", &self.device_token),
            ("app_version", &self.app_version),
            ("os", &self.os),
        ] {
            if let Some(Some(s)) = v {
                if s.chars().count() > limits::DEVICE_TEXT_MAX {
                    return Err(Error::over_limit(name));
                }
            }
        }
        if let Some(Some(r)) = &self.region {
            validate_region(r)?;
        }
        for (name, t) in [
            ("create_time", self.create_time),
            ("last_login_time", self.last_login_time),
        ] {
            if t.is_some_and(|t| t <= 0 || t > now) {
                return Err(Error::invalid(name));
            }
        }
        if let (Some(c), Some(l)) = (self.create_time, self.last_login_time) {
            if l < c {
                return Err(Error::invalid("last_login_time"));
            }
        }
        if self
            .badge
            .is_some_and(|b| !(0..=limits::BADGE_MAX).contains(&b))
        {
            return Err(Error::invalid("badge"));
        }
        if let Some(days) = &mut self.login_days {
            days.sort_unstable();
            days.dedup();
        }
        Ok(self)
    }
}

/// One device as export writes it: every stored fact, `login_freq` as of the export
/// and the login days it is derived from.
#[derive(Debug, Serialize)]
pub struct DeviceExport<'a> {
    cid: &'a str,
    kind: DeviceKind,
    phone_type: PhoneType,
    brand: &'a Option<String>,
    phone_model: &'a Option<String>,
    package_name: &'a Option<String>,
    client_app_id: &'a Option<String>,
    device_token: &'a Option<String>,
    device_token_type: Option<DtType>,
    notification_switch: bool,
    region: &'a Option<String>,
    app_version: &'a Option<String>,
    os: &'a Option<String>,
    properties: &'a Map<String, Value>,
    online: bool,
    create_time: i64,
    last_login_time: i64,
    login_freq: i64,
    badge: i64,
    blacklisted: bool,
    alias: Option<&'a str>,
    tags: &'a [TagName],
    login_days: Vec<LoginDay>,
}

/// A device and its stored login days (CST day numbers, ascending), as export reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedDevice {
    /// Every stored fact (`login_freq` derived at the export's `now`).
    pub device: Device,
    /// The stored login days.
    pub login_days: Vec<i64>,
}

impl ExportedDevice {
    /// The NDJSON shape.
    pub fn line(&self) -> DeviceExport<'_> {
        let d = &self.device;
        DeviceExport {
            cid: d.cid.as_str(),
            kind: d.kind,
            phone_type: d.phone_type,
            brand: &d.brand,
            phone_model: &d.phone_model,
            package_name: &d.package_name,
            client_app_id: &d.client_app_id,
            device_token: &d.device_token,
            device_token_type: d.device_token_type,
            notification_switch: d.notification_switch,
            region: &d.region,
            app_version: &d.app_version,
            os: &d.os,
            properties: &d.properties,
            online: d.online,
            create_time: d.create_time,
            last_login_time: d.last_login_time,
            login_freq: d.login_freq,
            badge: d.badge,
            blacklisted: d.blacklisted,
            alias: d.alias.as_ref().map(Alias::as_str),
            tags: &d.tags,
            login_days: self.login_days.iter().copied().map(LoginDay).collect(),
        }
    }

    /// Appends the NDJSON line (with its newline) to `out`.
    pub fn write_ndjson(&self, out: &mut Vec<u8>) {
        // Serialising owned, well-formed values into a Vec cannot fail.
        if serde_json::to_writer(&mut *out, &self.line()).is_ok() {
            out.push(b'\n');
        }
    }

    /// The CSV columns, in [`CSV_DEVICE_HEADER`]'s order: lists (tags, login days)
    /// space-separated, properties as JSON text, absent values empty.
    pub fn csv_record(&self) -> [String; 23] {
        let d = &self.device;
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let join = |it: &mut dyn Iterator<Item = String>| it.collect::<Vec<_>>().join(" ");
        [
            d.cid.to_string(),
            d.kind.as_str().into(),
            d.phone_type.as_str().into(),
            opt(&d.brand),
            opt(&d.phone_model),
            opt(&d.package_name),
            opt(&d.client_app_id),
            opt(&d.device_token),
            d.device_token_type
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            d.notification_switch.to_string(),
            opt(&d.region),
            opt(&d.app_version),
            opt(&d.os),
            Value::Object(d.properties.clone()).to_string(),
            d.online.to_string(),
            d.create_time.to_string(),
            d.last_login_time.to_string(),
            d.login_freq.to_string(),
            d.badge.to_string(),
            d.blacklisted.to_string(),
            d.alias
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            join(&mut d.tags.iter().map(ToString::to_string)),
            join(&mut self.login_days.iter().map(|x| day_text(*x))),
        ]
    }
}

/// The header of a device CSV export.
pub const CSV_DEVICE_HEADER: [&str; 23] = [
    "cid",
    "kind",
    "phone_type",
    "brand",
    "phone_model",
    "package_name",
    "client_app_id",
    "device_token",
    "device_token_type",
    "notification_switch",
    "region",
    "app_version",
    "os",
    "properties",
    "online",
    "create_time",
    "last_login_time",
    "login_freq",
    "badge",
    "blacklisted",
    "alias",
    "tags",
    "login_days",
];

/// The columns of a Getui-style device CSV import (`cid` required, the others optional,
/// in any order; other columns are refused).
pub const GETUI_CSV_COLUMNS: [&str; 6] = ["cid", "alias", "tags", "brand", "region", "phone_type"];

/// Maps one row of a Getui-style CSV (`header` names each cell) onto a device line:
/// `tags` are separated by whitespace (a tag never contains any), an empty cell is an
/// absent field, and a row without `phone_type` is `ios` when its brand is `iphone`
/// (Getui's brand of Apple devices), else `android`.
pub fn getui_csv_line(header: &[String], row: &[String], now: i64) -> Result<DeviceLine, Error> {
    let mut line = DeviceLine::default();
    let mut phone_type = None;
    for (name, cell) in header.iter().zip(row) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        let text = || Some(Some(cell.to_owned()));
        match name.as_str() {
            "cid" => line.cid = Some(Cid::parse(cell)?),
            "alias" => line.alias = Some(Some(Alias::parse(cell)?)),
            "tags" => {
                line.tags = Some(
                    cell.split_whitespace()
                        .map(TagName::parse)
                        .collect::<Result<_, _>>()?,
                );
            }
            "brand" => line.brand = text(),
            "region" => line.region = text(),
            "phone_type" => {
                phone_type =
                    Some(PhoneType::parse(cell).ok_or_else(|| Error::invalid("phone_type"))?);
            }
            other => return Err(Error::invalid(format!("column {other}"))),
        }
    }
    let apple = matches!(&line.brand, Some(Some(b)) if b == "iphone");
    line.phone_type = Some(phone_type.unwrap_or(if apple {
        PhoneType::Ios
    } else {
        PhoneType::Android
    }));
    line.checked(now)
}

/// One UMS binding of a user line: a value of a field under a bind id (`all`, a
/// channel key or a sender code of the app).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingLine {
    /// The UMS field (`tag`, `app`, `wechatoa`…).
    pub field: UmsField,
    /// The bind id.
    pub bind_id: String,
    /// The bound value.
    pub value: String,
}

/// One user line, as export writes it and import reads it: everything a user holds
/// but its uid (which the store assigns). Import matches the user by its identities,
/// as native identify does, attaches them, merges the properties, sets the contacts
/// and adds the bindings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLine {
    /// Identity name → values (at least one value in all).
    #[serde(default)]
    pub identities: BTreeMap<String, Vec<String>>,
    /// Properties.
    #[serde(default)]
    pub properties: Map<String, Value>,
    /// Contact kind → value.
    #[serde(default)]
    pub contacts: BTreeMap<String, String>,
    /// UMS bindings (phone and email under `all` are contacts, listed there).
    #[serde(default)]
    pub bindings: Vec<BindingLine>,
}

impl UserLine {
    /// Reads one NDJSON line and checks its shape.
    pub fn parse(line: &str) -> Result<UserLine, Error> {
        let u: UserLine =
            serde_json::from_str(line).map_err(|e| Error::invalid(format!("the line ({e})")))?;
        u.checked()
    }

    /// Checks the shape: at least one identity, identity values, contact kinds,
    /// binding values and the kind of their bind ids (the app's channels and senders
    /// are checked by [`crate::rules::ImportUsers`]).
    pub fn checked(mut self) -> Result<UserLine, Error> {
        if self.identities.values().all(Vec::is_empty) {
            return Err(Error::empty("identities"));
        }
        for (name, values) in &mut self.identities {
            for v in values.iter() {
                validate_identity_value(v)
                    .map_err(|_| Error::invalid(format!("identities.{name}")))?;
            }
            values.sort();
            values.dedup();
        }
        for (kind, v) in &self.contacts {
            if !CONTACT_KINDS.contains(&kind.as_str()) {
                return Err(Error::invalid(format!("contacts.{kind}")));
            }
            validate_identity_value(v).map_err(|_| Error::invalid(format!("contacts.{kind}")))?;
        }
        for b in &self.bindings {
            b.field.validate(&b.value)?;
            let all = b.bind_id == BIND_ALL;
            let ok = match b.field.bind_kind() {
                BindKind::AllOnly => all,
                BindKind::AllOrChannel => !b.bind_id.is_empty(),
                BindKind::Sender(_) => !all && !b.bind_id.is_empty(),
            };
            if !ok {
                return Err(Error::invalid(format!("bind_id of {}", b.field.as_str())));
            }
        }
        self.bindings.sort();
        self.bindings.dedup();
        Ok(self)
    }

    /// Identities as (name, value) pairs.
    pub fn identity_pairs(&self) -> Vec<(String, String)> {
        self.identities
            .iter()
            .flat_map(|(n, vs)| vs.iter().map(move |v| (n.clone(), v.clone())))
            .collect()
    }

    /// The NDJSON line of a stored user.
    pub fn of(u: &User) -> UserLine {
        let mut identities: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (n, v) in &u.identities {
            identities.entry(n.clone()).or_default().push(v.clone());
        }
        let bindings = u
            .bindings
            .iter()
            .filter_map(|(f, b, v)| {
                Some(BindingLine {
                    field: UmsField::parse(f)?,
                    bind_id: b.clone(),
                    value: v.clone(),
                })
            })
            .collect();
        UserLine {
            identities,
            properties: u.properties.clone(),
            contacts: u.contacts.iter().cloned().collect(),
            bindings,
        }
        .sorted()
    }

    fn sorted(mut self) -> Self {
        for v in self.identities.values_mut() {
            v.sort();
        }
        self.bindings.sort();
        self
    }

    /// Appends the NDJSON line (with its newline) to `out`.
    pub fn write_ndjson(&self, out: &mut Vec<u8>) {
        // Serialising owned, well-formed values into a Vec cannot fail.
        if serde_json::to_writer(&mut *out, self).is_ok() {
            out.push(b'\n');
        }
    }

    /// The CSV columns, in [`CSV_USER_HEADER`]'s order, each a JSON text.
    pub fn csv_record(&self) -> [String; 4] {
        let json = |v: Result<String, serde_json::Error>| v.unwrap_or_default();
        [
            json(serde_json::to_string(&self.identities)),
            json(serde_json::to_string(&self.properties)),
            json(serde_json::to_string(&self.contacts)),
            json(serde_json::to_string(&self.bindings)),
        ]
    }
}

/// The header of a user CSV export (each cell a JSON text of the NDJSON field).
pub const CSV_USER_HEADER: [&str; 4] = ["identities", "properties", "contacts", "bindings"];

/// The `userid` column of a UMS-style CSV import.
pub const UMS_CSV_USERID: &str = "userid";

/// Maps one row of a UMS-style CSV (`header` names each cell) onto a user line. The
/// columns: `userid` (required: the UMS userid, identity `user_id`), then any number
/// of binding columns named `<field>:<bind_id>` (`tag:all`, `phone:all`,
/// `app:<sender code>`, `wechatoa:<sender code>`…) or a bare `<field>` for bind id
/// `all`. A cell holds the bound values separated by whitespace (one value for the
/// single-valued fields); an empty cell binds nothing.
pub fn ums_csv_line(header: &[String], row: &[String]) -> Result<UserLine, Error> {
    let mut line = UserLine::default();
    for (name, cell) in header.iter().zip(row) {
        let cell = cell.trim();
        if cell.is_empty() {
            continue;
        }
        if name == UMS_CSV_USERID {
            validate_userid(cell)?;
            line.identities
                .insert(USER_ID.to_owned(), vec![cell.to_owned()]);
            continue;
        }
        let (f, bind_id) = name.split_once(':').unwrap_or((name.as_str(), BIND_ALL));
        let field = UmsField::parse(f).ok_or_else(|| Error::invalid(format!("column {name}")))?;
        let values: Vec<&str> = if field.multi() {
            cell.split_whitespace().collect()
        } else {
            vec![cell]
        };
        for v in values {
            line.bindings.push(BindingLine {
                field,
                bind_id: bind_id.to_owned(),
                value: v.to_owned(),
            });
        }
    }
    if !line.identities.contains_key(USER_ID) {
        return Err(Error::empty(UMS_CSV_USERID));
    }
    line.checked()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip() {
        assert_eq!(day_text(0), "1970-01-01");
        for d in [0, 1, 20_000, 20_787] {
            assert_eq!(parse_day(&day_text(d)), Some(d));
        }
        assert_eq!(parse_day("2026-13-01"), None);
    }

    #[test]
    fn lines_keep_absent_and_clear_null() {
        let now = 2_000_000_000_000;
        let d = DeviceLine::parse(r#"{"cid":"a","brand":null,"region":"11000000"}"#, now)
            .expect("valid");
        assert_eq!(d.brand, Some(None));
        assert_eq!(d.phone_model, None);
        assert_eq!(d.region, Some(Some("11000000".into())));
        for bad in [
            r#"{"cid":"a","nope":1}"#,
            r#"{"brand":"x"}"#,
            r#"{"cid":"a","region":"1"}"#,
            r#"{"cid":"a","create_time":5,"last_login_time":4}"#,
            r#"{"cid":"a","login_days":["2026-1-1x"]}"#,
            r#"{"cid":"a b"}"#,
            "not json",
        ] {
            assert!(DeviceLine::parse(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn getui_rows() {
        let header: Vec<String> = ["cid", "alias", "tags", "brand", "region"]
            .map(String::from)
            .into();
        let row: Vec<String> = ["c1", "al", "a b  c", "iphone", ""]
            .map(String::from)
            .into();
        let d = getui_csv_line(&header, &row, 1).expect("valid");
        assert_eq!(d.phone_type, Some(PhoneType::Ios));
        assert_eq!(d.tags.map(|t| t.len()), Some(3));
        assert_eq!(d.region, None);
    }

    #[test]
    fn user_lines() {
        let u = UserLine::parse(
            r#"{"identities":{"user_id":["b","a","a"]},"bindings":[{"field":"tag","bind_id":"all","value":"t"}]}"#,
        )
        .expect("valid");
        assert_eq!(u.identities["user_id"], ["a", "b"]);
        for bad in [
            r#"{"identities":{}}"#,
            r#"{"identities":{"user_id":[""]}}"#,
            r#"{"identities":{"user_id":["a"]},"contacts":{"fax":"1"}}"#,
            r#"{"identities":{"user_id":["a"]},"bindings":[{"field":"wechatoa","bind_id":"all","value":"o"}]}"#,
            r#"{"identities":{"user_id":["a"]},"bindings":[{"field":"dingtalkcc","bind_id":"x","value":"o"}]}"#,
            r#"{"identities":{"user_id":["a"]},"uid":3}"#,
        ] {
            assert!(UserLine::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ums_rows() {
        let header: Vec<String> = ["userid", "tag:all", "phone", "app:s1"]
            .map(String::from)
            .into();
        let row: Vec<String> = ["alice", "a  b", "138", "c1 c2"].map(String::from).into();
        let u = ums_csv_line(&header, &row).expect("valid");
        assert_eq!(u.identities[USER_ID], ["alice"]);
        assert_eq!(u.bindings.len(), 5);
        assert!(u
            .bindings
            .iter()
            .any(|b| b.field == UmsField::Phone && b.bind_id == BIND_ALL));
        let row: Vec<String> = ["", "a", "", ""].map(String::from).into();
        assert!(ums_csv_line(&header, &row).is_err());
        let bad: Vec<String> = ["userid", "fax"].map(String::from).into();
        let row: Vec<String> = ["alice", "1"].map(String::from).into();
        assert!(ums_csv_line(&bad, &row).is_err());
    }
}
