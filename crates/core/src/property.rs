//! Device property selector leaves: `{"property": {"name", "op", "value"}}` over the
//! device fields named bare (`app_version`, `os`, `created_at`…) and the free-form
//! properties named `properties.<key>`. Validated when parsed; evaluated by
//! [`Property::matches`], which the audience index is held to.
//!
//! Text compares in version order ([`compare_versions`]): `1.10.0 > 1.9.2`. A device
//! that lacks the field matches no comparison (`ne` included) and matches
//! `exists: false`.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Error;

/// Longest custom property key a selector may name, in bytes.
pub const PROPERTY_KEY_MAX: usize = 128;
/// Longest text value a leaf may compare with, in characters.
pub const TEXT_MAX_CHARS: usize = 256;
/// Most values an `in` list may hold.
pub const IN_LIST_MAX: usize = 1_000;

/// A field a property leaf names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Field {
    /// App version (text).
    AppVersion,
    /// OS version (text).
    Os,
    /// Package name (text).
    PackageName,
    /// Device model (text).
    PhoneModel,
    /// Client app id (text).
    ClientAppId,
    /// Notification switch (boolean, always present).
    NotificationSwitch,
    /// Registration time, ms (number, always present).
    CreatedAt,
    /// Last login time, ms (number, always present).
    LastLoginTime,
    /// Distinct login days in the last 100 days as of now (number, always present).
    LoginFreq,
    /// `properties.<key>`: a free-form property (text or number).
    Custom(String),
}

/// The names of the device fields a leaf may name (free-form properties aside).
pub const DEVICE_FIELDS: [&str; 9] = [
    "app_version",
    "os",
    "package_name",
    "phone_model",
    "client_app_id",
    "notification_switch",
    "created_at",
    "last_login_time",
    "login_freq",
];

/// The text device fields, in the order the index keeps them.
pub const TEXT_FIELDS: [Field; 5] = [
    Field::AppVersion,
    Field::Os,
    Field::PackageName,
    Field::PhoneModel,
    Field::ClientAppId,
];

/// What type of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Text, compared in version order.
    Text,
    /// A number.
    Number,
    /// A boolean.
    Bool,
    /// A free-form property: text or number, by the value compared with.
    Any,
}

impl Field {
    /// Parses a leaf's `name`.
    pub fn parse(name: &str) -> Result<Field, Error> {
        Ok(match name {
            "app_version" => Field::AppVersion,
            "os" => Field::Os,
            "package_name" => Field::PackageName,
            "phone_model" => Field::PhoneModel,
            "client_app_id" => Field::ClientAppId,
            "notification_switch" => Field::NotificationSwitch,
            "created_at" => Field::CreatedAt,
            "last_login_time" => Field::LastLoginTime,
            "login_freq" => Field::LoginFreq,
            other => match other.strip_prefix("properties.") {
                Some(key) if !key.is_empty() && key.len() <= PROPERTY_KEY_MAX => {
                    Field::Custom(key.to_owned())
                }
                _ => return Err(Error::Invalid("property.name".into())),
            },
        })
    }

    /// The leaf's `name`.
    pub fn name(&self) -> String {
        match self {
            Field::AppVersion => "app_version".into(),
            Field::Os => "os".into(),
            Field::PackageName => "package_name".into(),
            Field::PhoneModel => "phone_model".into(),
            Field::ClientAppId => "client_app_id".into(),
            Field::NotificationSwitch => "notification_switch".into(),
            Field::CreatedAt => "created_at".into(),
            Field::LastLoginTime => "last_login_time".into(),
            Field::LoginFreq => "login_freq".into(),
            Field::Custom(k) => format!("properties.{k}"),
        }
    }

    /// Its type.
    pub fn kind(&self) -> FieldType {
        match self {
            Field::AppVersion
            | Field::Os
            | Field::PackageName
            | Field::PhoneModel
            | Field::ClientAppId => FieldType::Text,
            Field::NotificationSwitch => FieldType::Bool,
            Field::CreatedAt | Field::LastLoginTime | Field::LoginFreq => FieldType::Number,
            Field::Custom(_) => FieldType::Any,
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal.
    Eq,
    /// Present and different.
    Ne,
    /// Less than.
    Lt,
    /// At most.
    Lte,
    /// Greater than.
    Gt,
    /// At least.
    Gte,
    /// Equal to one of a list.
    In,
    /// Present (`true`) or absent (`false`).
    Exists,
    /// Text starting with.
    Prefix,
}

impl Op {
    /// Every op.
    pub const ALL: [Op; 9] = [
        Op::Eq,
        Op::Ne,
        Op::Lt,
        Op::Lte,
        Op::Gt,
        Op::Gte,
        Op::In,
        Op::Exists,
        Op::Prefix,
    ];

    /// Whether an ordering answers the comparison (`Eq`…`Gte` only).
    pub fn accepts(self, ord: Ordering) -> bool {
        match self {
            Op::Eq => ord == Ordering::Equal,
            Op::Ne => ord != Ordering::Equal,
            Op::Lt => ord == Ordering::Less,
            Op::Lte => ord != Ordering::Greater,
            Op::Gt => ord == Ordering::Greater,
            Op::Gte => ord != Ordering::Less,
            Op::In | Op::Exists | Op::Prefix => false,
        }
    }
}

/// A finite number with a total order (JSON has no NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

impl Eq for Num {}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Num {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl std::hash::Hash for Num {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // -0.0 and 0.0 compare equal under `==` but not under `total_cmp`: normalise.
        (self.0 + 0.0).to_bits().hash(state);
    }
}

impl Num {
    /// A JSON number as a `Num`.
    pub fn of(v: &Value) -> Option<Num> {
        v.as_f64().filter(|f| f.is_finite()).map(|f| Num(f + 0.0))
    }
}

/// One value a leaf compares with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// Text.
    Text(String),
    /// A number.
    Number(Num),
    /// A boolean.
    Bool(bool),
}

/// A field's value on one device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seen<'a> {
    /// Text.
    Text(&'a str),
    /// A number.
    Number(f64),
    /// A boolean.
    Bool(bool),
    /// Present with a value no leaf compares with (`null` is absent; objects, arrays
    /// and booleans of free-form properties are this).
    Other,
}

/// What a leaf compares a field with, validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Operand {
    /// `eq`…`gte`, `prefix`: one value.
    One(Scalar),
    /// `in`: a list.
    List(Vec<Scalar>),
    /// `exists`.
    Exists(bool),
}

/// A validated property leaf.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "PropertyWire", into = "PropertyWire")]
pub struct Property {
    /// The field.
    pub field: Field,
    /// The comparison.
    pub op: Op,
    /// The value(s).
    pub operand: Operand,
}

/// The JSON form of a property leaf.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PropertyWire {
    name: String,
    op: Op,
    value: Value,
}

impl TryFrom<PropertyWire> for Property {
    type Error = Error;
    fn try_from(w: PropertyWire) -> Result<Self, Error> {
        Property::new(Field::parse(&w.name)?, w.op, &w.value)
    }
}

impl From<Property> for PropertyWire {
    fn from(p: Property) -> Self {
        let scalar = |s: &Scalar| match s {
            Scalar::Text(t) => Value::from(t.clone()),
            Scalar::Number(n) => Value::from(n.0),
            Scalar::Bool(b) => Value::from(*b),
        };
        PropertyWire {
            name: p.field.name(),
            op: p.op,
            value: match &p.operand {
                Operand::One(s) => scalar(s),
                Operand::List(xs) => Value::Array(xs.iter().map(scalar).collect()),
                Operand::Exists(b) => Value::Bool(*b),
            },
        }
    }
}

impl Property {
    /// Validates a leaf: the op must suit the field's type and the value the op.
    pub fn new(field: Field, op: Op, value: &Value) -> Result<Property, Error> {
        let kind = field.kind();
        let bad_op = || Error::Invalid(format!("property.op for {}", field.name()));
        let bad_value = || Error::TypeError(format!("property.value for {}", field.name()));
        let scalar = |v: &Value| -> Result<Scalar, Error> {
            match (kind, v) {
                (FieldType::Text | FieldType::Any, Value::String(s)) => {
                    if s.chars().count() > TEXT_MAX_CHARS {
                        return Err(Error::SizeOverLimit("property.value".into()));
                    }
                    Ok(Scalar::Text(s.clone()))
                }
                (FieldType::Number | FieldType::Any, Value::Number(_)) => {
                    Num::of(v).map(Scalar::Number).ok_or_else(bad_value)
                }
                (FieldType::Bool, Value::Bool(b)) => Ok(Scalar::Bool(*b)),
                _ => Err(bad_value()),
            }
        };
        let operand = match op {
            Op::Exists => Operand::Exists(value.as_bool().ok_or_else(bad_value)?),
            Op::In => {
                let xs = value.as_array().ok_or_else(bad_value)?;
                if xs.len() > IN_LIST_MAX {
                    return Err(Error::SizeOverLimit("property.value".into()));
                }
                Operand::List(xs.iter().map(scalar).collect::<Result<_, _>>()?)
            }
            Op::Prefix => match kind {
                FieldType::Text | FieldType::Any => match value {
                    Value::String(_) => Operand::One(scalar(value)?),
                    _ => return Err(bad_value()),
                },
                _ => return Err(bad_op()),
            },
            Op::Lt | Op::Lte | Op::Gt | Op::Gte if kind == FieldType::Bool => return Err(bad_op()),
            Op::Eq | Op::Ne | Op::Lt | Op::Lte | Op::Gt | Op::Gte => Operand::One(scalar(value)?),
        };
        Ok(Property { field, op, operand })
    }

    /// Whether a device whose field reads `seen` (`None`: it lacks the field) matches.
    pub fn matches(&self, seen: Option<Seen<'_>>) -> bool {
        match (&self.operand, seen) {
            (Operand::Exists(want), seen) => seen.is_some() == *want,
            (_, None) => false,
            (Operand::One(x), Some(seen)) => self.compare(x, seen),
            (Operand::List(xs), Some(seen)) => xs.iter().any(|x| equal(x, seen)),
        }
    }

    fn compare(&self, x: &Scalar, seen: Seen<'_>) -> bool {
        match (x, seen) {
            (Scalar::Text(want), Seen::Text(have)) if self.op == Op::Prefix => {
                have.starts_with(want.as_str())
            }
            _ if self.op == Op::Prefix => false,
            (Scalar::Text(want), Seen::Text(have)) => self.op.accepts(compare_versions(have, want)),
            (Scalar::Number(want), Seen::Number(have)) => {
                self.op.accepts(Num(have + 0.0).cmp(want))
            }
            (Scalar::Bool(want), Seen::Bool(have)) => self.op.accepts(have.cmp(want)),
            // A value of another type is not comparable: no comparison matches.
            _ => false,
        }
    }
}

/// Whether `seen` equals `x` (an `in` list's test).
fn equal(x: &Scalar, seen: Seen<'_>) -> bool {
    match (x, seen) {
        (Scalar::Text(a), Seen::Text(b)) => a == b,
        (Scalar::Number(a), Seen::Number(b)) => *a == Num(b + 0.0),
        (Scalar::Bool(a), Seen::Bool(b)) => *a == b,
        _ => false,
    }
}

/// A free-form property's value as a leaf sees it: `None` for absent or `null`.
pub fn seen_json(v: Option<&Value>) -> Option<Seen<'_>> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(Seen::Text(s)),
        Value::Number(_) => Some(Num::of(v?).map_or(Seen::Other, |n| Seen::Number(n.0))),
        _ => Some(Seen::Other),
    }
}

/// The version order every text field compares in. Both strings are split into runs of
/// ASCII digits and runs of anything else; runs compare pairwise, digits numerically
/// (leading zeros aside), other runs bytewise, and a digit run sorts before another
/// run. When one string runs out first it is the smaller (`1.10 < 1.10.0`). Strings
/// equal so far (`01` and `1`) are told apart bytewise, so the order is total and
/// agrees with `eq`. Thus `1.9.2 < 1.10.0 < 2.0`, `1.0 < 1.0-beta`, `9 < v1`.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (Runs(a.as_bytes()), Runs(b.as_bytes()));
    loop {
        let ord = match (x.next(), y.next()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some((true, p)), Some((true, q))) => {
                let (p, q) = (trim_zeros(p), trim_zeros(q));
                p.len().cmp(&q.len()).then_with(|| p.cmp(q))
            }
            (Some((true, _)), Some((false, _))) => Ordering::Less,
            (Some((false, _)), Some((true, _))) => Ordering::Greater,
            (Some((false, p)), Some((false, q))) => p.cmp(q),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
}

fn trim_zeros(d: &[u8]) -> &[u8] {
    let start = d.iter().position(|c| *c != b'0').unwrap_or(d.len());
    &d[start..]
}

/// The runs of a version string: (is digits, bytes).
struct Runs<'a>(&'a [u8]);

impl<'a> Iterator for Runs<'a> {
    type Item = (bool, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        let first = self.0.first()?;
        let digits = first.is_ascii_digit();
        let end = self
            .0
            .iter()
            .position(|c| c.is_ascii_digit() != digits)
            .unwrap_or(self.0.len());
        let (run, rest) = self.0.split_at(end);
        self.0 = rest;
        Some((digits, run))
    }
}

/// A string ordered in version order ([`compare_versions`]), for sorted maps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(pub Box<str>);

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_versions(&self.0, &other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn version_order() {
        let sorted = [
            "", "0", "01", "1", "1.0", "1.0-beta", "1.2", "1.9.2", "1.10", "1.10.0", "2.0", "10",
            "v1",
        ];
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(compare_versions(a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    fn leaf(v: serde_json::Value) -> Result<Property, String> {
        serde_json::from_value(v).map_err(|e| e.to_string())
    }

    #[test]
    fn parse_and_validate() {
        let p = leaf(json!({"name": "app_version", "op": "gte", "value": "1.10.0"})).expect("ok");
        assert!(p.matches(Some(Seen::Text("1.10.0"))));
        assert!(p.matches(Some(Seen::Text("2"))));
        assert!(!p.matches(Some(Seen::Text("1.9.2"))));
        assert!(!p.matches(None));
        let ne = leaf(json!({"name": "os", "op": "ne", "value": "13"})).expect("ok");
        assert!(!ne.matches(None) && ne.matches(Some(Seen::Text("14"))));
        let gone = leaf(json!({"name": "os", "op": "exists", "value": false})).expect("ok");
        assert!(gone.matches(None) && !gone.matches(Some(Seen::Text(""))));
        let n =
            leaf(json!({"name": "properties.level", "op": "in", "value": [3, "x"]})).expect("ok");
        assert!(n.matches(Some(Seen::Number(3.0))) && n.matches(Some(Seen::Text("x"))));
        assert!(!n.matches(Some(Seen::Text("3"))));
        for (bad, says) in [
            (
                json!({"name": "colour", "op": "eq", "value": "x"}),
                "property.name",
            ),
            (
                json!({"name": "properties.", "op": "eq", "value": "x"}),
                "property.name",
            ),
            (
                json!({"name": "notification_switch", "op": "gt", "value": true}),
                "op",
            ),
            (
                json!({"name": "created_at", "op": "prefix", "value": "1"}),
                "op",
            ),
            (
                json!({"name": "created_at", "op": "eq", "value": "1"}),
                "value",
            ),
            (
                json!({"name": "app_version", "op": "eq", "value": 1}),
                "value",
            ),
            (
                json!({"name": "app_version", "op": "in", "value": "1"}),
                "value",
            ),
            (
                json!({"name": "app_version", "op": "exists", "value": "yes"}),
                "value",
            ),
            (
                json!({"name": "properties.x", "op": "eq", "value": true}),
                "value",
            ),
            (json!({"name": "os", "op": "near", "value": "1"}), "near"),
            (json!({"name": "os", "op": "eq", "value": "1", "x": 1}), "x"),
        ] {
            let e = leaf(bad.clone()).expect_err("refused");
            assert!(e.contains(says), "{bad}: {e}");
        }
        let back = serde_json::to_value(&p).expect("json");
        assert_eq!(
            back,
            json!({"name": "app_version", "op": "gte", "value": "1.10.0"})
        );
    }
}
