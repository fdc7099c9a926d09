//! Apps and their settings: creation, bind_dt channels, UMS channels, senders, grants,
//! identity names.

use super::*;
use crate::rules::reads::{GetUmsConfig, IdentityNames};
use crate::rules::{
    plan, AppFacts, CreateIdentityName, CreateUmsChannel, CreateUmsSender, GrantUmsSender, Secret,
    SetDtTypes,
};
use crate::ums::SenderKind;
use crate::user::IdentityName;
use crate::DtType;

fn channel(key: &str, code: &str) -> CreateUmsChannel {
    CreateUmsChannel {
        key: key.into(),
        secret: format!("{key}-secret"),
        code: code.into(),
        now: 0,
    }
}

fn sender(code: &str, kind: SenderKind) -> CreateUmsSender {
    CreateUmsSender {
        code: code.into(),
        kind,
    }
}

fn grant(channel_key: &str, sender_code: &str) -> GrantUmsSender {
    GrantUmsSender {
        channel_key: channel_key.into(),
        sender_code: sender_code.into(),
    }
}

fn custom(name: &str, unique: bool, priority: u32) -> CreateIdentityName {
    CreateIdentityName {
        name: IdentityName::custom(name, unique, priority).expect("identity name"),
    }
}

fn order(reg: &mut Bench) -> Vec<String> {
    reg.read(&IdentityNames)
        .into_iter()
        .map(|n| n.name)
        .collect()
}

#[test]
fn a_new_app_has_its_default_channel_authorised_for_its_app_sender() {
    // DESIGN §3: `app create` returns the UMS channel_key, channel_code and
    // app_sender_code; "The app's default UMS channel is authorised for its default APP
    // sender."
    let mut state = State::default();
    let new = NewApp::new("demo", NOW).expect("name");
    let rule = CreateApp { app: new.clone() };
    assert!(rule.needs(&state).app);
    state.app = Some(None);
    let done = plan(&rule, &mut state).expect("create");
    let c = &new.credentials.ums;
    assert_eq!(
        done.mutations,
        [
            Mutation::AppCreated {
                name: "demo".into(),
                created_at: NOW,
            },
            Mutation::UmsChannelCreated {
                channel_key: c.channel_key.clone(),
                code: c.channel_code.clone(),
            },
            Mutation::UmsSenderCreated {
                code: c.app_sender_code.clone(),
                kind: SenderKind::App,
            },
            Mutation::UmsSenderGranted {
                channel_key: c.channel_key.clone(),
                sender_code: c.app_sender_code.clone(),
            },
        ]
    );
    // The credentials travel as a secret, never inside a mutation (which is logged).
    assert_eq!(
        done.secrets,
        [Secret::App(Box::new(new.credentials.clone()))]
    );
    let logged = format!("{:?}", done.mutations);
    for secret in [
        &new.credentials.getui.master_secret,
        &c.access_secret,
        &c.channel_master_secret,
        &new.credentials.growth.project_secret,
        &new.credentials.engagelab.api_secret,
    ] {
        assert!(!logged.contains(secret.as_str()));
    }
    // The planned state is a complete new app.
    let facts = state.app.clone().flatten().expect("app");
    assert_eq!((facts.next_ordinal, facts.enabled_dt_types), (0, vec![]));
    assert_eq!(
        state.identity_names.as_deref(),
        Some(&IdentityName::builtins()[..])
    );
}

#[test]
fn creating_an_app_twice_is_already_exists() {
    let mut reg = Bench::new();
    let err = reg.refused(&CreateApp {
        app: NewApp::new("again", NOW).expect("name"),
    });
    assert_eq!(err, Error::AlreadyExists("app".into()));
}

#[test]
fn a_new_app_reads_back_its_ums_config_and_builtin_identity_names() {
    let mut reg = Bench::new();
    let ums = reg.read(&GetUmsConfig);
    assert_eq!(ums.channels.len(), 1);
    assert_eq!(ums.senders.len(), 1);
    assert_eq!(ums.senders[0].1, SenderKind::App);
    assert_eq!(
        ums.grants,
        [(ums.channels[0].0.clone(), ums.senders[0].0.clone())]
    );
    // DESIGN §1: built in `user_id` (unique, priority 1), `anonymous_id` (unique),
    // `registration_id` (many).
    let names = reg.read(&IdentityNames);
    assert_eq!(names, IdentityName::builtins());
    assert!(names[0].unique && names[0].priority == 1);
    assert!(names[1].unique && !names[2].unique);
}

#[test]
fn set_dt_types_replaces_the_enabled_channels() {
    // Getui bind_dt: "默认仅支持小程序通道用户。若有其他厂商通道需要使用,请点击右侧"技术咨询"了解
    // 详情。"; docs/getui.md: vendor types "are enabled per app".
    let mut reg = Bench::new();
    let muts = reg.muts(&SetDtTypes {
        types: vec![DtType::Hw, DtType::Xm],
    });
    assert_eq!(
        muts,
        [Mutation::DtTypesSet {
            types: vec![DtType::Hw, DtType::Xm],
        }]
    );
    let facts = reg.state().app.flatten().expect("app");
    assert_eq!(facts.enabled_dt_types, [DtType::Hw, DtType::Xm]);
    assert_eq!(
        reg.muts(&SetDtTypes {
            types: vec![DtType::Hw, DtType::Xm],
        }),
        []
    );
    reg.ok(&SetDtTypes { types: vec![] });
    assert_eq!(reg.state().app.flatten().expect("app").enabled_dt_types, []);
}

#[test]
fn set_dt_types_of_an_unknown_app_is_not_found() {
    let mut reg = Bench::new();
    let err = reg
        .mem
        .run(&app_id("nope"), &SetDtTypes { types: vec![] })
        .expect_err("unknown app");
    assert_eq!(err, Error::NotFound("app".into()));
}

#[test]
fn ums_channel_codes_are_unique_in_the_app() {
    // UMS: "The specific channel code … (set by the carrier when creating the channel)";
    // the code names one channel.
    let mut reg = Bench::new();
    let muts = reg.muts(&channel("key2", "ch_two"));
    assert_eq!(
        muts,
        [Mutation::UmsChannelCreated {
            channel_key: "key2".into(),
            code: "ch_two".into(),
        }]
    );
    assert!(!format!("{muts:?}").contains("key2-secret"));
    let err = reg.refused(&channel("key3", "ch_two"));
    assert_eq!(err, Error::AlreadyExists("channel_code".into()));
    let default_code = reg.read(&GetUmsConfig).channels[0].1.clone();
    let err = reg.refused(&channel("key4", &default_code));
    assert_eq!(err, Error::AlreadyExists("channel_code".into()));
    assert_eq!(reg.read(&GetUmsConfig).channels.len(), 2);
}

#[test]
fn a_new_ums_channel_secret_is_a_secret() {
    let mut state = State {
        ums: Some(Default::default()),
        app: Some(Some(AppFacts {
            next_ordinal: 0,
            enabled_dt_types: Vec::new(),
            seq: 0,
        })),
        ..State::default()
    };
    let done = plan(&channel("k", "c"), &mut state).expect("channel");
    assert_eq!(
        done.secrets,
        [Secret::UmsChannel {
            channel_key: "k".into(),
            secret: "k-secret".into(),
            created_at: 0,
        }]
    );
}

#[test]
fn ums_sender_codes_are_unique_in_the_app() {
    let mut reg = Bench::new();
    reg.ok(&sender("oa1", SenderKind::Wechatoa));
    let err = reg.refused(&sender("oa1", SenderKind::Wechatmp));
    assert_eq!(err, Error::AlreadyExists("sender_code".into()));
    let default_sender = reg.read(&GetUmsConfig).senders[0].0.clone();
    let err = reg.refused(&sender(&default_sender, SenderKind::App));
    assert_eq!(err, Error::AlreadyExists("sender_code".into()));
    let ums = reg.read(&GetUmsConfig);
    assert_eq!(ums.senders[1], ("oa1".to_owned(), SenderKind::Wechatoa));
}

#[test]
fn grants_need_a_known_channel_and_sender_and_are_idempotent() {
    // UMS: a ChannelKey may upload to "all, information on the code of the authorized
    // channel"; docs/jiguang.md: sender codes "an admin authorised for it".
    let mut reg = Bench::new();
    reg.ok(&channel("key2", "ch_two"));
    reg.ok(&sender("oa1", SenderKind::Wechatoa));
    assert_eq!(
        reg.refused(&grant("nokey", "oa1")),
        Error::NotFound("channel".into())
    );
    assert_eq!(
        reg.refused(&grant("key2", "nosender")),
        Error::NotFound("sender".into())
    );
    assert_eq!(
        reg.muts(&grant("key2", "oa1")),
        [Mutation::UmsSenderGranted {
            channel_key: "key2".into(),
            sender_code: "oa1".into(),
        }]
    );
    assert_eq!(reg.muts(&grant("key2", "oa1")), []);
    let grants = reg.read(&GetUmsConfig).grants;
    assert_eq!(grants.len(), 2);
    assert_eq!(grants[1], ("key2".to_owned(), "oa1".to_owned()));
}

#[test]
fn identity_names_are_unique_per_app() {
    // DESIGN §1: "more are created by the admin (name, unique flag, priority)".
    let mut reg = Bench::new();
    reg.ok(&custom("phone", true, 1));
    let err = reg.refused(&custom("phone", false, 5));
    assert_eq!(err, Error::AlreadyExists("identity name".into()));
    // A built-in name, even built by hand past `IdentityName::custom`'s own check.
    let builtin = CreateIdentityName {
        name: IdentityName {
            name: "user_id".into(),
            unique: true,
            priority: 1,
        },
    };
    assert_eq!(
        reg.refused(&builtin),
        Error::AlreadyExists("identity name".into())
    );
    // Names are per app.
    reg.create_app("app2");
    reg.run_in("app2", &custom("phone", true, 1));
}

#[test]
fn identity_names_come_back_in_resolution_order() {
    // `IdentityName::resolution_key`: `user_id`, `anonymous_id`, `registration_id`, then
    // custom names by priority (then name).
    let mut reg = Bench::new();
    reg.ok(&custom("b_low", false, 2));
    reg.ok(&custom("z_high", true, 1));
    reg.ok(&custom("a_high", true, 1));
    assert_eq!(
        order(&mut reg),
        [
            "user_id",
            "anonymous_id",
            "registration_id",
            "a_high",
            "z_high",
            "b_low"
        ]
    );
}

#[test]
fn a_command_on_an_unknown_app_is_refused_and_creates_nothing() {
    // `Memory`: "Every app's facts, complete: a fact not held is a fact that does not
    // exist"; `app_ids`: "Every app id". Every write but creating an app needs its app:
    // even an upsert of no devices is `NotFound("app")` on an unknown one.
    let mut reg = Bench::new();
    let refused = reg.mem.run(
        &app_id("ghostapp"),
        &UpsertDevices {
            devices: vec![],
            now: NOW,
        },
    );
    assert_eq!(refused.err(), Some(Error::NotFound("app".into())));
    assert_eq!(reg.mem.app_ids(), [app_id("app1")]);
    assert!(reg.mem.state(&app_id("ghostapp")).is_none());
}
