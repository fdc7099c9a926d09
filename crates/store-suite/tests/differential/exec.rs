//! One command on one store: positions become this store's values, and the answer
//! becomes a text in which generated cids and uids are renamed.

use roster_core::ums::{UmsChange, UmsField, UmsUserChanges, BIND_ALL};
use roster_core::user::{Identify, IdentityName, CONTACT_KINDS};
use roster_core::{AppId, DeviceUpsert, PhoneType};
use roster_core::{IdentityValue, UserId};
use roster_store::{DtBinding, Store};
use serde_json::{Map, Value};

use crate::cmd::AppSel;
use crate::cmd::{
    tag, BindRef, ChanRef, CidRef, Cmd, Dev, DtCid, NameRef, SenderRef, ALIASES, ANON_IDS, BRANDS,
    FIXED_CIDS, NAMES, PROP_KEYS, REGIONS, USERIDS, VALUES,
};
use crate::harness::{shown, token_digest, Case, Run, Side};

fn app_id(case: &Case, app: AppSel) -> AppId {
    match app {
        AppSel::Main => case.main.credentials.app_id.clone(),
        AppSel::Other => case.other.credentials.app_id.clone(),
        AppSel::Unknown => case.unknown.credentials.app_id.clone(),
    }
}

/// A value position that may name a device: fixed cids, two generated ones, one that
/// never exists; `None` past those.
fn value_cid(v: usize) -> Option<CidRef> {
    match v {
        v if v < FIXED_CIDS => Some(CidRef::Fixed(v)),
        v if v == FIXED_CIDS => Some(CidRef::Gen(0)),
        v if v == FIXED_CIDS + 1 => Some(CidRef::Gen(1)),
        v if v == FIXED_CIDS + 2 => Some(CidRef::Missing),
        _ => None,
    }
}

fn props(pairs: &[(usize, u8)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| {
            let v = match v {
                0 => Value::from("x"),
                1 => Value::from(2),
                2 => Value::from(true),
                _ => Value::Null,
            };
            (PROP_KEYS[*k].to_owned(), v)
        })
        .collect()
}

fn upsert(side: &Side, d: &Dev) -> DeviceUpsert {
    let s = |i: usize, field: &str| d.strings[i].map(|v| format!("{field}{v}"));
    DeviceUpsert {
        cid: d.cid.map(|c| side.cid(c)),
        kind: d.kind,
        phone_type: d.phone,
        brand: d.brand.map(|b| BRANDS[b].to_owned()),
        phone_model: s(0, "model"),
        package_name: s(1, "pkg"),
        client_app_id: s(2, "client"),
        device_token: s(3, "token"),
        notification_switch: d.switch,
        region: d.region.map(|r| REGIONS[r].to_owned()),
        app_version: s(4, "1.0."),
        os: s(5, "os"),
        properties: d.props.as_deref().map(props),
        create_time: None,
        last_login_time: None,
    }
}

fn name_str(n: NameRef) -> &'static str {
    match n {
        NameRef::UserId => "user_id",
        NameRef::AnonymousId => "anonymous_id",
        NameRef::RegistrationId => "registration_id",
        NameRef::Custom(i) => NAMES[i],
    }
}

fn identity_value(side: &Side, n: NameRef, v: usize) -> String {
    match n {
        NameRef::UserId => USERIDS[v % USERIDS.len()].to_owned(),
        NameRef::AnonymousId => ANON_IDS[v % ANON_IDS.len()].to_owned(),
        NameRef::RegistrationId => side
            .cid(value_cid(v).unwrap_or(CidRef::Missing))
            .to_string(),
        NameRef::Custom(_) => VALUES[v % VALUES.len()].to_owned(),
    }
}

fn ums_value(side: &Side, field: UmsField, v: usize) -> String {
    let pick = |xs: &[&str]| xs[v % xs.len()].to_owned();
    match field {
        UmsField::Tag => pick(&["t1", "t2", "t3"]),
        UmsField::Phone => pick(&["13800000000", "13900000000"]),
        UmsField::Email => pick(&["a@b.c", "d@e.f"]),
        UmsField::App => match value_cid(v) {
            Some(c) => side.cid(c).to_string(),
            None => "not-a-device".to_owned(),
        },
        UmsField::WechatwkLinkedcorp => pick(&["corp/w1", "corp/w2"]),
        _ => pick(&["o1", "o2"]),
    }
}

fn channel_key(case: &Case, i: usize) -> String {
    format!("{}ck{i}", case.nonce)
}

/// The key of a channel created earlier in the case (`i` modulo how many were).
fn created_channel(case: &Case, run: &Run, i: usize) -> String {
    channel_key(case, i % run.channels.max(1))
}

fn sender_code(case: &Case, s: SenderRef) -> String {
    match s {
        SenderRef::Default => case.main.credentials.ums.app_sender_code.clone(),
        SenderRef::Code(i) => format!("s{i}"),
    }
}

fn bind_id(case: &Case, run: &Run, b: BindRef) -> String {
    match b {
        BindRef::All => BIND_ALL.to_owned(),
        BindRef::DefaultChannel => case.main.credentials.ums.channel_key.clone(),
        BindRef::Channel(i) => created_channel(case, run, i),
        BindRef::DefaultSender => sender_code(case, SenderRef::Default),
        BindRef::Sender(i) => sender_code(case, SenderRef::Code(i)),
    }
}

fn unit(_: ()) -> String {
    "()".to_owned()
}

fn debug<T: std::fmt::Debug>(v: T) -> String {
    format!("{v:?}")
}

/// Runs `cmd` on `store`; the answer as shown for comparison, or a backend failure.
pub async fn exec(
    store: &dyn Store,
    case: &Case,
    run: &Run,
    side: &mut Side,
    cmd: &Cmd,
) -> Result<String, String> {
    let now = run.now;
    let cids = |side: &Side, cs: &[CidRef]| cs.iter().map(|c| side.cid(*c)).collect::<Vec<_>>();
    let pairs = |side: &Side, ps: &[(CidRef, usize)]| {
        ps.iter()
            .map(|(c, a)| {
                let alias = roster_core::Alias::parse(ALIASES[*a]).expect("alias");
                (side.cid(*c), alias)
            })
            .collect::<Vec<_>>()
    };
    let alias = |a: usize| roster_core::Alias::parse(ALIASES[a]).expect("alias");
    match cmd {
        Cmd::CreateApp { app } => {
            let new = match app {
                AppSel::Main => &case.main,
                AppSel::Other => &case.other,
                AppSel::Unknown => &case.unknown,
            };
            shown(side, store.create_app(new).await, unit)
        }
        Cmd::InsertToken { app, expires } => {
            let r = store
                .insert_token(
                    &app_id(case, *app),
                    &token_digest(case, run.tokens),
                    now + expires,
                )
                .await;
            shown(side, r, unit)
        }
        Cmd::RevokeToken { app, token } => {
            let digest = match token {
                Some(i) => token_digest(case, i % run.tokens.max(1)),
                None => token_digest(case, usize::MAX),
            };
            let r = store.revoke_token(&app_id(case, *app), &digest).await;
            shown(side, r, debug)
        }
        Cmd::Upsert { app, devices } => {
            let batch: Vec<DeviceUpsert> = devices.iter().map(|d| upsert(side, d)).collect();
            let r = store.upsert_devices(&app_id(case, *app), &batch, now).await;
            if let Ok(got) = &r {
                for (d, c) in devices.iter().zip(got) {
                    if d.cid.is_none() {
                        side.generated.push(c.clone());
                    }
                }
            }
            shown(side, r, debug)
        }
        Cmd::UpsertRange { app, from, n } => {
            let batch: Vec<DeviceUpsert> = (*from..(from + n).min(FIXED_CIDS))
                .map(|i| DeviceUpsert {
                    cid: Some(side.cid(CidRef::Fixed(i))),
                    phone_type: Some(PhoneType::Android),
                    ..Default::default()
                })
                .collect();
            let r = store.upsert_devices(&app_id(case, *app), &batch, now).await;
            shown(side, r, debug)
        }
        Cmd::Event {
            app,
            cid,
            event,
            at,
        } => {
            let r = store
                .record_device_event(&app_id(case, *app), &side.cid(*cid), *event, now + at)
                .await;
            shown(side, r, unit)
        }
        Cmd::Blacklist { app, cids: cs, on } => {
            let r = store
                .set_blacklisted(&app_id(case, *app), &cids(side, cs), *on)
                .await;
            shown(side, r, unit)
        }
        Cmd::Badge { app, cids: cs, op } => {
            let r = store
                .apply_badge(&app_id(case, *app), &cids(side, cs), *op)
                .await;
            shown(side, r, unit)
        }
        Cmd::BindDt { app, kind, entries } => {
            let entries: Vec<DtBinding> = entries
                .iter()
                .map(|(c, t)| DtBinding {
                    cid: match c {
                        DtCid::Empty => String::new(),
                        DtCid::Ref(c) => side.cid(*c).to_string(),
                    },
                    device_token: t.map(|t| match t {
                        0 => String::new(),
                        n => format!("dt{n}"),
                    }),
                })
                .collect();
            let r = store
                .bind_device_tokens(&app_id(case, *app), *kind, &entries)
                .await;
            shown(side, r, debug)
        }
        Cmd::BindAliases { app, pairs: ps } => {
            let r = store
                .bind_aliases(&app_id(case, *app), &pairs(side, ps))
                .await;
            shown(side, r, unit)
        }
        Cmd::UnbindAliases { app, pairs: ps } => {
            let r = store
                .unbind_aliases(&app_id(case, *app), &pairs(side, ps))
                .await;
            shown(side, r, unit)
        }
        Cmd::UnbindAlias { app, alias: a } => {
            let r = store.unbind_alias(&app_id(case, *app), &alias(*a)).await;
            shown(side, r, debug)
        }
        Cmd::ReplaceTags { app, cid, tags } => {
            let tags: Vec<_> = tags.iter().map(|t| tag(*t)).collect();
            let r = store
                .replace_tags(&app_id(case, *app), &side.cid(*cid), &tags)
                .await;
            shown(side, r, unit)
        }
        Cmd::AddTag {
            app,
            tag: t,
            cids: cs,
        } => {
            let r = store
                .add_tag(&app_id(case, *app), &tag(*t), &cids(side, cs))
                .await;
            shown(side, r, debug)
        }
        Cmd::RemoveTag {
            app,
            tag: t,
            cids: cs,
        } => {
            let r = store
                .remove_tag(&app_id(case, *app), &tag(*t), &cids(side, cs))
                .await;
            shown(side, r, debug)
        }
        Cmd::SetDtTypes { app, types } => {
            let r = store.set_app_dt_types(&app_id(case, *app), types).await;
            shown(side, r, unit)
        }
        Cmd::CreateChannel { app, code } => {
            let code = match code {
                0..=2 => format!("code{code}"),
                _ => case.main.credentials.ums.channel_code.clone(),
            };
            let key = channel_key(case, run.channels);
            let r = store
                .create_ums_channel(&app_id(case, *app), &key, "secret", &code, 0)
                .await;
            shown(side, r, unit)
        }
        Cmd::CreateSender { app, code, kind } => {
            let r = store
                .create_ums_sender(&app_id(case, *app), &sender_code(case, *code), *kind)
                .await;
            shown(side, r, unit)
        }
        Cmd::Grant {
            app,
            channel,
            sender,
        } => {
            let key = match channel {
                ChanRef::Default => case.main.credentials.ums.channel_key.clone(),
                ChanRef::Created(i) => created_channel(case, run, *i),
                ChanRef::OtherApps => case.other.credentials.ums.channel_key.clone(),
                ChanRef::Missing => format!("{}ck-missing", case.nonce),
            };
            let r = store
                .grant_ums_sender(&app_id(case, *app), &key, &sender_code(case, *sender))
                .await;
            shown(side, r, unit)
        }
        Cmd::CreateName {
            app,
            name,
            unique,
            priority,
        } => {
            let name = IdentityName::custom(NAMES[*name], *unique, *priority).expect("valid name");
            let r = store.create_identity_name(&app_id(case, *app), &name).await;
            shown(side, r, unit)
        }
        Cmd::UmsApply { app, users } => {
            let users: Vec<UmsUserChanges> = users
                .iter()
                .map(|(u, changes)| UmsUserChanges {
                    userid: USERIDS[*u].to_owned(),
                    changes: changes
                        .iter()
                        .map(|c| UmsChange {
                            verb: c.verb,
                            field: c.field,
                            bind_id: bind_id(case, run, c.bind),
                            values: c
                                .values
                                .iter()
                                .map(|v| ums_value(side, c.field, *v))
                                .collect(),
                        })
                        .collect(),
                })
                .collect();
            let r = store.ums_apply(&app_id(case, *app), &users, now).await;
            shown(side, r, unit)
        }
        Cmd::DeleteDevice { app, cid } => {
            let r = store
                .delete_device(&app_id(case, *app), &side.cid(*cid))
                .await;
            shown(side, r, unit)
        }
        Cmd::DeleteUser { app, user } => {
            let uid = side
                .known_uids()
                .get(*user)
                .copied()
                .unwrap_or(roster_core::user::Uid::new(i64::from(i32::MAX)));
            let r = store.delete_user(&app_id(case, *app), uid).await;
            shown(side, r, debug)
        }
        Cmd::EditTags {
            app,
            cid,
            add,
            remove,
        } => {
            let add: Vec<_> = add.iter().map(|t| tag(*t)).collect();
            let remove: Vec<_> = remove.iter().map(|t| tag(*t)).collect();
            let r = store
                .edit_tags(&app_id(case, *app), &side.cid(*cid), &add, &remove)
                .await;
            shown(side, r, unit)
        }
        Cmd::UmsDelete { app, userids } => {
            // The edge lets only valid userids through.
            let userids: Vec<UserId> = userids
                .iter()
                .filter_map(|u| UserId::parse(USERIDS[*u]).ok())
                .collect();
            let r = store.ums_delete(&app_id(case, *app), &userids).await;
            shown(side, r, debug)
        }
        Cmd::Register { app, name, values } => {
            // The edge lets only valid identity values through.
            let values: Vec<IdentityValue> = values
                .iter()
                .filter_map(|v| IdentityValue::parse(identity_value(side, *name, *v)).ok())
                .collect();
            let r = store
                .register_identities(&app_id(case, *app), name_str(*name), &values, now)
                .await
                .map(|uids| uids.into_iter().map(|u| side.uid(u)).collect::<Vec<_>>());
            shown(side, r, debug)
        }
        Cmd::Identify {
            app,
            identities,
            props: p,
            contacts,
        } => {
            let identify = Identify {
                identities: identities
                    .iter()
                    .map(|(n, v)| (name_str(*n).to_owned(), identity_value(side, *n, *v)))
                    .collect(),
                properties: props(p),
                contacts: contacts
                    .iter()
                    .map(|(k, v)| (CONTACT_KINDS[*k].to_owned(), format!("contact{v}")))
                    .collect(),
            };
            let r = store
                .identify_user(&app_id(case, *app), &identify, now)
                .await
                .map(|(uid, created)| (side.uid(uid), created));
            shown(side, r, debug)
        }
    }
}
