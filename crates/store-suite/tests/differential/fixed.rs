//! A hand-written sequence that touches every command kind (and most of their refusals)
//! on the main app, which the backends agree on today: it keeps the harness itself
//! exercised while the random test is ignored.

use roster_core::ums::{SenderKind, UmsField, UmsVerb};
use roster_core::{
    limits, AudienceQuery, BadgeOp, DeviceEvent, DeviceKind, DtType, PhoneType, RegionCode,
    Selector,
};

use crate::cmd::{
    placeholder, tag, Advance, AppSel, BindRef, ChanRef, Change, CidRef, Cmd, Dev, DtCid, NameRef,
    SenderRef, Step, FIXED_CIDS, SMALL_TAGS,
};
use crate::harness::DAY;

const MAIN: AppSel = AppSel::Main;

fn c(i: usize) -> CidRef {
    CidRef::Fixed(i)
}

fn dev(cid: Option<CidRef>, phone: Option<PhoneType>) -> Dev {
    Dev {
        cid,
        kind: None,
        phone,
        brand: None,
        region: None,
        switch: None,
        strings: [None; 6],
        props: None,
    }
}

fn change(verb: UmsVerb, field: UmsField, bind: BindRef, values: &[usize]) -> Change {
    Change {
        verb,
        field,
        bind,
        values: values.to_vec(),
    }
}

/// The audience queries the fixed sequence is observed with.
pub fn queries() -> Vec<AudienceQuery> {
    let region = |r: &str| Selector::Region(RegionCode::parse(r).expect("region"));
    let q = |selector, exclude_blacklisted, exclude_notification_off| AudienceQuery {
        selector,
        exclude_blacklisted,
        exclude_notification_off,
    };
    vec![
        q(
            Selector::And(vec![
                Selector::Tag(tag(0)),
                Selector::PhoneType(PhoneType::Android),
            ]),
            false,
            false,
        ),
        q(
            Selector::Or(vec![
                region("11000000"),
                Selector::Alias(roster_core::Alias::parse("al1").expect("alias")),
                Selector::Brand("unknown".into()),
            ]),
            true,
            false,
        ),
        q(
            Selector::Not(Box::new(Selector::Cid(vec![
                placeholder(c(0)),
                placeholder(CidRef::Gen(0)),
                placeholder(CidRef::Missing),
            ]))),
            true,
            true,
        ),
    ]
}

/// The sequence, one step per line of intent.
pub fn steps() -> Vec<Step> {
    use Cmd::*;
    let big_tags = |n: usize| (0..n).map(|i| SMALL_TAGS.len() + i).collect::<Vec<_>>();
    let mut mini = dev(Some(c(0)), None);
    mini.kind = Some(DeviceKind::MiniProgram);
    mini.props = Some(vec![(0, 0), (1, 1)]);
    mini.strings = [Some(0), None, Some(1), None, Some(0), Some(1)];
    let mut generated = dev(None, Some(PhoneType::Ios));
    generated.brand = Some(2);
    generated.region = Some(2);
    generated.switch = Some(false);
    generated.props = Some(vec![(2, 3)]);
    // One command a line: a table reads better than rustfmt's struct layout.
    #[rustfmt::skip]
    let cmds: Vec<(Advance, Cmd)> = vec![
        (Advance::None, UpsertRange { app: MAIN, from: 0, n: FIXED_CIDS }),
        (Advance::Ms, Upsert { app: MAIN, devices: vec![generated, mini] }),
        (Advance::None, Upsert { app: MAIN, devices: vec![dev(Some(c(1)), None), dev(Some(CidRef::Missing), None)] }),
        (Advance::None, Upsert { app: AppSel::Other, devices: vec![dev(Some(CidRef::Missing), Some(PhoneType::Android))] }),
        (Advance::Hour, Event { app: MAIN, cid: c(0), event: DeviceEvent::Login, at: 0 }),
        (Advance::None, Event { app: MAIN, cid: c(1), event: DeviceEvent::Online, at: 0 }),
        (Advance::Day, Event { app: MAIN, cid: c(0), event: DeviceEvent::Login, at: -3 * DAY }),
        (Advance::None, Event { app: MAIN, cid: CidRef::Missing, event: DeviceEvent::Offline, at: 0 }),
        (Advance::None, Blacklist { app: MAIN, cids: vec![c(1), c(2)], on: true }),
        (Advance::None, Blacklist { app: MAIN, cids: vec![c(1), CidRef::Missing], on: false }),
        (Advance::None, Badge { app: MAIN, cids: vec![c(1), CidRef::Gen(0)], op: BadgeOp::Add(5) }),
        (Advance::None, Badge { app: MAIN, cids: vec![c(1)], op: BadgeOp::Sub(8) }),
        (Advance::None, Badge { app: MAIN, cids: vec![c(3), CidRef::Missing], op: BadgeOp::Set(1) }),
        // Refusals of every kind: empty, another app's cid, unknown, not a mini-program.
        (Advance::None, BindDt { app: MAIN, kind: DtType::Wx, entries: vec![
            (DtCid::Ref(c(0)), Some(1)),
            (DtCid::Empty, Some(1)),
            (DtCid::Ref(CidRef::Missing), Some(1)),
            (DtCid::Ref(CidRef::Gen(2)), Some(1)),
            (DtCid::Ref(c(1)), Some(1)),
        ] }),
        (Advance::None, BindDt { app: MAIN, kind: DtType::Hw, entries: vec![(DtCid::Ref(CidRef::Gen(0)), Some(2))] }),
        (Advance::None, BindDt { app: MAIN, kind: DtType::Wx, entries: vec![(DtCid::Ref(c(0)), None)] }),
        (Advance::None, BindAliases { app: MAIN, pairs: (0..FIXED_CIDS).map(|i| (c(i), 0)).collect() }),
        (Advance::None, BindAliases { app: MAIN, pairs: (0..10).map(|i| (c(i), 0)).collect() }),
        (Advance::None, BindAliases { app: MAIN, pairs: vec![(c(10), 0)] }),
        (Advance::None, BindAliases { app: MAIN, pairs: vec![(c(0), 1), (c(10), 0), (CidRef::Gen(0), 2)] }),
        (Advance::None, BindAliases { app: MAIN, pairs: vec![(c(11), 2), (CidRef::Missing, 2)] }),
        (Advance::None, UnbindAliases { app: MAIN, pairs: vec![(c(1), 0), (c(0), 0)] }),
        (Advance::None, UnbindAliases { app: MAIN, pairs: vec![(c(2), 0), (CidRef::Missing, 0)] }),
        (Advance::None, UnbindAlias { app: MAIN, alias: 0 }),
        (Advance::None, ReplaceTags { app: MAIN, cid: c(0), tags: vec![1, 0, 1] }),
        (Advance::None, ReplaceTags { app: MAIN, cid: c(1), tags: big_tags(100) }),
        (Advance::None, AddTag { app: MAIN, tag: 2, cids: vec![c(1), c(0), CidRef::Missing] }),
        (Advance::None, AddTag { app: MAIN, tag: SMALL_TAGS.len() + 5, cids: vec![c(1)] }),
        (Advance::None, ReplaceTags { app: MAIN, cid: c(2), tags: big_tags(101) }),
        (Advance::None, ReplaceTags { app: MAIN, cid: CidRef::Missing, tags: vec![0] }),
        (Advance::None, RemoveTag { app: MAIN, tag: 1, cids: vec![c(0), CidRef::Missing] }),
        (Advance::None, SetDtTypes { app: MAIN, types: vec![DtType::Hw, DtType::Xm] }),
        (Advance::None, CreateChannel { app: MAIN, code: 0 }),
        (Advance::None, CreateChannel { app: MAIN, code: 3 }),
        (Advance::None, CreateSender { app: MAIN, code: SenderRef::Code(0), kind: SenderKind::Wechatoa }),
        (Advance::None, CreateSender { app: MAIN, code: SenderRef::Default, kind: SenderKind::App }),
        (Advance::None, Grant { app: MAIN, channel: ChanRef::Created(0), sender: SenderRef::Code(0) }),
        (Advance::None, Grant { app: MAIN, channel: ChanRef::Missing, sender: SenderRef::Code(0) }),
        (Advance::None, Grant { app: MAIN, channel: ChanRef::Default, sender: SenderRef::Code(1) }),
        (Advance::None, Grant { app: MAIN, channel: ChanRef::OtherApps, sender: SenderRef::Default }),
        (Advance::None, CreateName { app: MAIN, name: 0, unique: true, priority: u32::MAX }),
        (Advance::None, CreateName { app: MAIN, name: 0, unique: false, priority: 1 }),
        (Advance::None, CreateName { app: MAIN, name: 1, unique: false, priority: i32::MAX as u32 + 1 }),
        (Advance::Ms, UmsApply { app: MAIN, users: vec![(0, vec![
            change(UmsVerb::Add, UmsField::Tag, BindRef::All, &[0, 1]),
            change(UmsVerb::Set, UmsField::Phone, BindRef::All, &[0]),
            change(UmsVerb::Set, UmsField::Email, BindRef::Channel(0), &[0]),
            change(UmsVerb::Add, UmsField::App, BindRef::DefaultSender, &[2, FIXED_CIDS + 4]),
            change(UmsVerb::Del, UmsField::Tag, BindRef::All, &[0]),
            change(UmsVerb::Set, UmsField::Wechatoa, BindRef::Sender(0), &[1]),
        ])] }),
        // Moving a registration id to another user.
        (Advance::None, UmsApply { app: MAIN, users: vec![
            (0, vec![change(UmsVerb::Set, UmsField::Phone, BindRef::All, &[1])]),
            (1, vec![change(UmsVerb::Set, UmsField::App, BindRef::DefaultSender, &[2])]),
        ] }),
        (Advance::None, UmsDelete { app: MAIN, userids: vec![1, 3] }),
        (Advance::None, Register { app: MAIN, name: NameRef::Custom(0), values: vec![0, 1, 0] }),
        (Advance::None, Register { app: MAIN, name: NameRef::Custom(3), values: vec![0] }),
        (Advance::None, Identify { app: MAIN, identities: vec![(NameRef::AnonymousId, 0)], props: vec![], contacts: vec![] }),
        (Advance::None, Identify {
            app: MAIN,
            identities: vec![(NameRef::AnonymousId, 0), (NameRef::UserId, 0), (NameRef::RegistrationId, 3)],
            props: vec![(0, 0), (1, 2)],
            contacts: vec![(0, 1)],
        }),
        (Advance::None, Identify { app: MAIN, identities: vec![(NameRef::Custom(3), 0)], props: vec![], contacts: vec![] }),
        (Advance::None, Identify { app: MAIN, identities: vec![(NameRef::RegistrationId, FIXED_CIDS + 2)], props: vec![], contacts: vec![] }),
        (Advance::None, InsertToken { app: MAIN, expires: limits::GETUI_TOKEN_TTL_MS }),
        (Advance::None, InsertToken { app: MAIN, expires: 1_000 }),
        (Advance::None, RevokeToken { app: AppSel::Other, token: Some(0) }),
        (Advance::None, RevokeToken { app: MAIN, token: Some(0) }),
        (Advance::None, RevokeToken { app: MAIN, token: None }),
        (Advance::None, CreateApp { app: MAIN }),
        (Advance::Days(101), Upsert { app: MAIN, devices: vec![dev(Some(c(4)), None)] }),
    ];
    cmds.into_iter()
        .map(|(advance, cmd)| Step { advance, cmd })
        .collect()
}
