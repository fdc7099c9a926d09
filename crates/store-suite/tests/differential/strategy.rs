//! Strategies for the commands of `cmd`: weighted towards commands that collide (the
//! same few cids, aliases, tags, userids and identity values) and reach the caps.

use proptest::prelude::*;
use roster_core::ums::{SenderKind, UmsField, UmsVerb};
use roster_core::{
    limits, AudienceQuery, BadgeOp, DeviceEvent, DeviceKind, DtType, PhoneType, RegionCode,
    Selector,
};

use crate::cmd::{
    placeholder, tag, Advance, AppSel, BindRef, ChanRef, Change, CidRef, Cmd, Dev, DtCid, NameRef,
    SenderRef, Step, ALIASES, BRANDS, FIXED_CIDS, NAMES, PRIORITIES, PROP_KEYS, REGIONS,
    SMALL_TAGS, USERIDS,
};

fn app() -> impl Strategy<Value = AppSel> {
    prop_oneof![40 => Just(AppSel::Main), 3 => Just(AppSel::Other), 1 => Just(AppSel::Unknown)]
}

fn cid_ref() -> impl Strategy<Value = CidRef> {
    prop_oneof![
        24 => (0..FIXED_CIDS).prop_map(CidRef::Fixed),
        2 => (0..3usize).prop_map(CidRef::Gen),
        1 => Just(CidRef::Missing),
    ]
}

fn cids() -> impl Strategy<Value = Vec<CidRef>> {
    prop::collection::vec(cid_ref(), 0..4)
}

fn phone() -> impl Strategy<Value = PhoneType> {
    prop_oneof![Just(PhoneType::Android), Just(PhoneType::Ios)]
}

fn dt_type() -> impl Strategy<Value = DtType> {
    prop::sample::select(DtType::ALL.to_vec())
}

fn dev() -> impl Strategy<Value = Dev> {
    (
        prop_oneof![6 => cid_ref().prop_map(Some), 1 => Just(None)],
        prop::option::of(prop_oneof![
            Just(DeviceKind::App),
            Just(DeviceKind::MiniProgram)
        ]),
        prop_oneof![9 => phone().prop_map(Some), 1 => Just(None)],
        prop::option::of(0..BRANDS.len()),
        prop::option::of(0..REGIONS.len()),
        prop::option::of(any::<bool>()),
        prop::array::uniform6(prop::option::weighted(0.2, 0..2u8)),
        prop::option::of(prop::collection::vec((0..PROP_KEYS.len(), 0..4u8), 0..3)),
    )
        .prop_map(
            |(cid, kind, phone, brand, region, switch, strings, props)| Dev {
                cid,
                kind,
                phone,
                brand,
                region,
                switch,
                strings,
                props,
            },
        )
}

fn badge() -> impl Strategy<Value = BadgeOp> {
    let n = prop::sample::select(vec![0, 1, 5, limits::BADGE_MAX]);
    prop_oneof![
        n.clone().prop_map(BadgeOp::Set),
        n.clone().prop_map(BadgeOp::Add),
        n.prop_map(BadgeOp::Sub),
    ]
}

fn event() -> impl Strategy<Value = (DeviceEvent, i64)> {
    const DAY: i64 = 86_400_000;
    (
        prop_oneof![
            1 => Just(DeviceEvent::Online),
            1 => Just(DeviceEvent::Offline),
            2 => Just(DeviceEvent::Login)
        ],
        prop::sample::select(vec![0, 1, 3_600_000, DAY, -DAY, -3 * DAY, -150 * DAY]),
    )
}

fn tags() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        4 => prop::collection::vec(0..SMALL_TAGS.len(), 0..4),
        // The hundred-tag cap: 98 to 102 big tags, sometimes with small ones.
        1 => (98..=102usize, prop::collection::vec(0..SMALL_TAGS.len(), 0..2)).prop_map(
            |(n, small)| (0..n).map(|i| SMALL_TAGS.len() + i).chain(small).collect()
        ),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(CidRef, usize)>> {
    prop_oneof![
        3 => prop::collection::vec((cid_ref(), 0..ALIASES.len()), 0..4),
        // Every fixed cid onto one alias: over the cap once more than ten exist.
        2 => (0..ALIASES.len(), 0..4usize, 9..=FIXED_CIDS).prop_map(|(a, from, n)| {
            (from..(from + n).min(FIXED_CIDS)).map(|i| (CidRef::Fixed(i), a)).collect()
        }),
    ]
}

fn sender_ref() -> impl Strategy<Value = SenderRef> {
    prop_oneof![1 => Just(SenderRef::Default), 3 => (0..2usize).prop_map(SenderRef::Code)]
}

fn sender_kind() -> impl Strategy<Value = SenderKind> {
    prop::sample::select(vec![
        SenderKind::App,
        SenderKind::Wechatoa,
        SenderKind::Wechatmp,
        SenderKind::Alipaylife,
    ])
}

fn name_ref() -> impl Strategy<Value = NameRef> {
    prop_oneof![
        2 => Just(NameRef::UserId),
        1 => Just(NameRef::AnonymousId),
        2 => Just(NameRef::RegistrationId),
        2 => (0..NAMES.len()).prop_map(NameRef::Custom),
    ]
}

/// A change that the UMS dialect would let through: `add` only on many-valued fields,
/// one value per bind id on the others, bind ids of the field's kind.
fn change() -> impl Strategy<Value = Change> {
    (
        prop::sample::select(UmsField::ALL.to_vec()),
        0..3u8,
        0..3usize,
        prop::collection::vec(0..(FIXED_CIDS + 5), 1..3),
    )
        .prop_map(|(field, verb, bind, mut values)| {
            let verb = match verb {
                0 => UmsVerb::Set,
                1 if field.multi() => UmsVerb::Add,
                1 => UmsVerb::Set,
                _ => UmsVerb::Del,
            };
            if !field.multi() {
                values.truncate(1);
            }
            let bind = match field {
                UmsField::Tag | UmsField::Phone | UmsField::Email => match bind {
                    0 => BindRef::All,
                    1 => BindRef::DefaultChannel,
                    _ => BindRef::Channel(0),
                },
                UmsField::App => match bind {
                    0 | 1 => BindRef::DefaultSender,
                    _ => BindRef::Sender(0),
                },
                UmsField::Wechatoa | UmsField::Wechatmp | UmsField::Alipaylife => {
                    BindRef::Sender(bind % 2)
                }
                UmsField::Dingtalkcc | UmsField::Wechatwk | UmsField::WechatwkLinkedcorp => {
                    BindRef::All
                }
            };
            Change {
                verb,
                field,
                bind,
                values,
            }
        })
}

fn cmd() -> impl Strategy<Value = Cmd> {
    prop_oneof![
        1 => app().prop_map(|app| Cmd::CreateApp { app }),
        2 => (app(), prop::sample::select(vec![-1, 0, 1, 1_000, limits::GETUI_TOKEN_TTL_MS]))
            .prop_map(|(app, expires)| Cmd::InsertToken { app, expires }),
        1 => (app(), prop::option::weighted(0.8, 0..3usize))
            .prop_map(|(app, token)| Cmd::RevokeToken { app, token }),
        8 => (app(), prop::collection::vec(dev(), 0..4))
            .prop_map(|(app, devices)| Cmd::Upsert { app, devices }),
        4 => (
            app(),
            prop_oneof![(0..FIXED_CIDS, 1..=FIXED_CIDS), Just((0, FIXED_CIDS))]
        )
            .prop_map(|(app, (from, n))| Cmd::UpsertRange { app, from, n }),
        3 => (app(), cid_ref(), event())
            .prop_map(|(app, cid, (event, at))| Cmd::Event { app, cid, event, at }),
        2 => (app(), cids(), any::<bool>())
            .prop_map(|(app, cids, on)| Cmd::Blacklist { app, cids, on }),
        2 => (app(), cids(), badge()).prop_map(|(app, cids, op)| Cmd::Badge { app, cids, op }),
        3 => (
            app(),
            dt_type(),
            prop::collection::vec(
                (
                    prop_oneof![1 => Just(DtCid::Empty), 8 => cid_ref().prop_map(DtCid::Ref)],
                    prop::option::of(0..3u8),
                ),
                0..4,
            ),
        )
            .prop_map(|(app, kind, entries)| Cmd::BindDt { app, kind, entries }),
        4 => (app(), pairs()).prop_map(|(app, pairs)| Cmd::BindAliases { app, pairs }),
        2 => (app(), pairs()).prop_map(|(app, pairs)| Cmd::UnbindAliases { app, pairs }),
        1 => (app(), 0..ALIASES.len()).prop_map(|(app, alias)| Cmd::UnbindAlias { app, alias }),
        3 => (app(), cid_ref(), tags())
            .prop_map(|(app, cid, tags)| Cmd::ReplaceTags { app, cid, tags }),
        3 => (app(), 0..SMALL_TAGS.len() + 2, cids())
            .prop_map(|(app, tag, cids)| Cmd::AddTag { app, tag, cids }),
        2 => (app(), 0..SMALL_TAGS.len() + 2, cids())
            .prop_map(|(app, tag, cids)| Cmd::RemoveTag { app, tag, cids }),
        1 => (app(), prop::collection::vec(dt_type(), 0..4))
            .prop_map(|(app, types)| Cmd::SetDtTypes { app, types }),
        2 => (app(), 0..4usize).prop_map(|(app, code)| Cmd::CreateChannel { app, code }),
        1 => (app(), sender_ref(), sender_kind())
            .prop_map(|(app, code, kind)| Cmd::CreateSender { app, code, kind }),
        3 => (
            app(),
            prop_oneof![
                1 => Just(ChanRef::Default),
                3 => (0..2usize).prop_map(ChanRef::Created),
                1 => Just(ChanRef::OtherApps),
                1 => Just(ChanRef::Missing)
            ],
            sender_ref(),
        )
            .prop_map(|(app, channel, sender)| Cmd::Grant { app, channel, sender }),
        3 => (app(), 0..NAMES.len() - 1, any::<bool>(), prop::sample::select(PRIORITIES.to_vec()))
            .prop_map(|(app, name, unique, priority)| Cmd::CreateName { app, name, unique, priority }),
        4 => (
            app(),
            prop::collection::vec(
                (0..USERIDS.len() - 1, prop::collection::vec(change(), 0..4)),
                1..3,
            ),
        )
            .prop_map(|(app, users)| Cmd::UmsApply { app, users }),
        1 => (app(), prop::collection::vec(0..USERIDS.len(), 1..3))
            .prop_map(|(app, userids)| Cmd::UmsDelete { app, userids }),
        2 => (app(), name_ref(), prop::collection::vec(0..(FIXED_CIDS + 5), 1..4))
            .prop_map(|(app, name, values)| Cmd::Register { app, name, values }),
        4 => (
            app(),
            prop::collection::vec((name_ref(), 0..(FIXED_CIDS + 5)), 1..4),
            prop::collection::vec((0..PROP_KEYS.len(), 0..4u8), 0..3),
            prop::collection::vec((0..roster_core::user::CONTACT_KINDS.len(), 0..2u8), 0..2),
        )
            .prop_map(|(app, identities, props, contacts)| Cmd::Identify {
                app,
                identities,
                props,
                contacts
            }),
        2 => (app(), cid_ref()).prop_map(|(app, cid)| Cmd::DeleteDevice { app, cid }),
        1 => (app(), 0..6usize).prop_map(|(app, user)| Cmd::DeleteUser { app, user }),
        2 => (app(), cid_ref(), tags(), prop::collection::vec(0..SMALL_TAGS.len() + 2, 0..3))
            .prop_map(|(app, cid, add, remove)| Cmd::EditTags { app, cid, add, remove }),
    ]
}

fn advance() -> impl Strategy<Value = Advance> {
    prop_oneof![
        6 => Just(Advance::None),
        2 => Just(Advance::Ms),
        1 => Just(Advance::Hour),
        2 => Just(Advance::Day),
        1 => prop::sample::select(vec![30i64, 101]).prop_map(Advance::Days),
    ]
}

/// Up to 30 steps; half of the sequences start with every fixed cid registered, so
/// that the cids commands name exist and aliases can reach their cap.
pub fn steps() -> impl Strategy<Value = Vec<Step>> {
    (any::<bool>(), prop::collection::vec(step(), 1..=30)).prop_map(|(register, mut steps)| {
        if register {
            let cmd = Cmd::UpsertRange {
                app: AppSel::Main,
                from: 0,
                n: FIXED_CIDS,
            };
            steps.insert(
                0,
                Step {
                    advance: Advance::None,
                    cmd,
                },
            );
        }
        steps
    })
}

/// A step: a clock move and a command.
fn step() -> impl Strategy<Value = Step> {
    (advance(), cmd())
        .prop_map(|(advance, cmd)| Step { advance, cmd })
        .prop_filter("left out by ROSTER_DIFF_SKIP", |s| !skipped(s))
}

fn selector() -> impl Strategy<Value = Selector> {
    let leaf = prop_oneof![
        phone().prop_map(Selector::PhoneType),
        prop::sample::select(REGIONS.to_vec())
            .prop_map(|r| Selector::Region(RegionCode::parse(r).expect("region"))),
        (0..SMALL_TAGS.len() + 2).prop_map(|i| Selector::Tag(tag(i))),
        prop::sample::select(vec!["hw", "xm", "iphone", "unknown"])
            .prop_map(|b| Selector::Brand(b.to_owned())),
        prop::sample::select(ALIASES.to_vec())
            .prop_map(|a| { Selector::Alias(roster_core::Alias::parse(a).expect("alias")) }),
        prop::collection::vec(cid_ref(), 0..4)
            .prop_map(|v| Selector::Cid(v.into_iter().map(placeholder).collect())),
        any::<bool>().prop_map(Selector::All),
        property().prop_map(Selector::Property),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Selector::And),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Selector::Or),
            inner.prop_map(|x| Selector::Not(Box::new(x))),
        ]
    })
}

/// A property leaf on any field with any op, over values the devices carry (the
/// invalid combinations are dropped).
fn property() -> impl Strategy<Value = roster_core::property::Property> {
    use roster_core::property::{Field, Op, Property};
    use serde_json::{json, Value};
    let names: Vec<String> = roster_core::property::DEVICE_FIELDS
        .iter()
        .map(|f| (*f).to_owned())
        .chain(PROP_KEYS.iter().map(|k| format!("properties.{k}")))
        .collect();
    let names = prop::sample::select(names);
    let ops = prop::sample::select(Op::ALL.to_vec());
    let scalar = prop::sample::select(vec![
        json!("1.0.0"),
        json!("1.0.1"),
        json!("1.0."),
        json!("os1"),
        json!("model0"),
        json!("pkg"),
        json!("client1"),
        json!("x"),
        json!(0),
        json!(1),
        json!(2),
        json!(1_700_000_000_000_i64),
        json!(true),
        json!(false),
    ]);
    let value = prop_oneof![
        3 => scalar.clone(),
        1 => prop::collection::vec(scalar, 0..3).prop_map(Value::Array),
    ];
    (names, ops, value).prop_filter_map("valid leaves only", |(name, op, value)| {
        Property::new(Field::parse(&name).ok()?, op, &value).ok()
    })
}

/// An audience query whose `Selector::Cid` leaves hold placeholders.
pub fn query() -> impl Strategy<Value = AudienceQuery> {
    (selector(), any::<bool>(), any::<bool>()).prop_map(|(selector, b, n)| AudienceQuery {
        selector,
        exclude_blacklisted: b,
        exclude_notification_off: n,
    })
}

/// Whether `ROSTER_DIFF_SKIP` (comma-separated kinds) leaves the step out.
fn skipped(step: &Step) -> bool {
    let Ok(skip) = std::env::var("ROSTER_DIFF_SKIP") else {
        return false;
    };
    let kinds = step.kinds();
    skip.split(',')
        .map(str::trim)
        .any(|s| kinds.iter().any(|k| k == s))
}
