//! The fixed query mix. Queries 1–8 are expressible as Getui `user/count` conditions;
//! the rest use native selectors.

use roster_core::property::{Field, Op, Property};
use roster_core::{AudienceQuery, PhoneType, RegionCode, Selector, TagName};
use serde_json::{json, Value};

fn region(code: &str) -> Selector {
    Selector::Region(RegionCode::parse(code).unwrap_or_else(|_| panic!("bad region {code}")))
}

fn tag(t: &str) -> Selector {
    Selector::Tag(TagName::parse(t).unwrap_or_else(|_| panic!("bad tag {t}")))
}

fn tags(range: std::ops::Range<u32>) -> Vec<Selector> {
    range.map(|i| tag(&format!("t{i}"))).collect()
}

/// A named query, with its Getui form when it has one.
pub struct Query {
    /// Short name for the table.
    pub name: &'static str,
    /// The query.
    pub query: AudienceQuery,
    /// Getui `user/count` body, if expressible.
    pub getui: Option<Value>,
}

fn getui(selector: Selector, body: Value) -> (AudienceQuery, Option<Value>) {
    // Getui counts leave out blacklisted devices.
    (
        AudienceQuery {
            selector,
            exclude_blacklisted: true,
            exclude_notification_off: false,
        },
        Some(body),
    )
}

fn native(selector: Selector, bl: bool, nf: bool) -> (AudienceQuery, Option<Value>) {
    (
        AudienceQuery {
            selector,
            exclude_blacklisted: bl,
            exclude_notification_off: nf,
        },
        None,
    )
}

fn cond(key: &str, values: Value, opt: &str) -> Value {
    json!({ "key": key, "values": values, "opt_type": opt })
}

/// The mix.
pub fn mix() -> Vec<Query> {
    let android = || Selector::PhoneType(PhoneType::Android);
    let wide: Vec<String> = (100..150).map(|i| format!("t{i}")).collect();
    let list: Vec<(&'static str, (AudienceQuery, Option<Value>))> = vec![
        (
            "android",
            getui(
                Selector::And(vec![android()]),
                json!({"tag": [cond("phone_type", json!(["android"]), "or")]}),
            ),
        ),
        (
            "province 44",
            getui(
                Selector::And(vec![region("44000000")]),
                json!({"tag": [cond("region", json!(["44000000"]), "or")]}),
            ),
        ),
        (
            "tag t0 (top)",
            getui(
                Selector::And(vec![tag("t0")]),
                json!({"tag": [cond("custom_tag", json!(["t0"]), "or")]}),
            ),
        ),
        (
            "tag t500",
            getui(
                Selector::And(vec![tag("t500")]),
                json!({"tag": [cond("custom_tag", json!(["t500"]), "or")]}),
            ),
        ),
        (
            "android∧(BJ∨SH)∧¬t3",
            getui(
                Selector::And(vec![
                    android(),
                    Selector::Or(vec![region("11000000"), region("31000000")]),
                    Selector::Not(Box::new(tag("t3"))),
                ]),
                json!({"tag": [cond("phone_type", json!(["android"]), "and"), cond("region", json!(["11000000", "31000000"]), "or"), cond("custom_tag", json!(["t3"]), "not")]}),
            ),
        ),
        (
            "not t1",
            getui(
                Selector::And(vec![Selector::Not(Box::new(tag("t1")))]),
                json!({"tag": [cond("custom_tag", json!(["t1"]), "not")]}),
            ),
        ),
        (
            "or 50 tags",
            getui(
                Selector::And(vec![Selector::Or(tags(100..150))]),
                json!({"tag": [cond("custom_tag", json!(wide), "or")]}),
            ),
        ),
        (
            "t0 ∧ t1",
            getui(
                Selector::And(vec![Selector::And(vec![tag("t0"), tag("t1")])]),
                json!({"tag": [cond("custom_tag", json!(["t0", "t1"]), "and")]}),
            ),
        ),
        (
            "city 3201 ∧ ios",
            native(
                Selector::And(vec![
                    region("32010000"),
                    Selector::PhoneType(PhoneType::Ios),
                ]),
                false,
                false,
            ),
        ),
        (
            "nested (a∧hw∧¬BJ)∨(ios∧t2)",
            native(
                Selector::Or(vec![
                    Selector::And(vec![
                        android(),
                        Selector::Brand("hw".into()),
                        Selector::Not(Box::new(region("11000000"))),
                    ]),
                    Selector::And(vec![Selector::PhoneType(PhoneType::Ios), tag("t2")]),
                ]),
                true,
                true,
            ),
        ),
        (
            "xm ∧ or(t0..t49)",
            native(
                Selector::And(vec![
                    Selector::Brand("xm".into()),
                    Selector::Or(tags(0..50)),
                ]),
                true,
                false,
            ),
        ),
        (
            "t0 ∧ t2 ∧ app_version ≥ 2.10.0",
            native(
                Selector::And(vec![
                    tag("t0"),
                    tag("t2"),
                    Selector::Property(
                        Property::new(Field::AppVersion, Op::Gte, &json!("2.10.0"))
                            .unwrap_or_else(|e| panic!("bad property leaf: {e}")),
                    ),
                ]),
                true,
                false,
            ),
        ),
        (
            "reachable (all, filters)",
            native(Selector::All(true), true, true),
        ),
    ];
    list.into_iter()
        .map(|(name, (query, getui))| Query { name, query, getui })
        .collect()
}
