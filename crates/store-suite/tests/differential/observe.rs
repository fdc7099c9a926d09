//! Every observable read of one store after a step, as labelled texts in which
//! generated cids and uids are renamed, so that the texts of all stores compare.

use futures_util::future::join_all;
use roster_core::user::{Uid, User};
use roster_core::{Alias, App, AppId};
use roster_store::changes::ChangePage;
use roster_store::{Store, StoreResult};
use serde_json::Value;

use crate::cmd::{ALIASES, ANON_IDS, NAMES, USERIDS, VALUES};
use crate::harness::{shown, token_digest, Case, Run, Side, DAY};

type Reads = Vec<(String, String)>;

fn app_text(a: Option<App>) -> String {
    match a {
        None => "None".to_owned(),
        Some(a) => format!(
            "{:?} created_at={} dt_types={:?} credentials={} keys={:?}",
            a.name,
            a.created_at,
            a.enabled_dt_types,
            serde_json::to_string(&a.credentials).unwrap_or_default(),
            a.keys
                .iter()
                .map(|k| (k.kind, &k.key, &k.secret, k.created_at, k.expires_at))
                .collect::<Vec<_>>()
        ),
    }
}

fn user_text(side: &mut Side, u: User) -> String {
    let uid = side.uid(u.uid);
    // Generated cids sort differently in each store once renamed: sort the renamed.
    let mut identities: Vec<(String, String)> = u
        .identities
        .into_iter()
        .map(|(n, v)| (n, side.canon(&v)))
        .collect();
    identities.sort();
    let mut bindings: Vec<(String, String, String)> = u
        .bindings
        .into_iter()
        .map(|(f, b, v)| (f, side.canon(&b), side.canon(&v)))
        .collect();
    bindings.sort();
    format!(
        "{uid} identities={identities:?} properties={:?} contacts={:?} bindings={bindings:?}",
        u.properties, u.contacts
    )
}

/// The (name, value) pairs `find_user` is asked about.
fn identity_universe(side: &Side) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    out.extend(USERIDS.iter().map(|v| ("user_id".into(), (*v).into())));
    out.extend(
        ANON_IDS
            .iter()
            .map(|v| ("anonymous_id".into(), (*v).into())),
    );
    out.extend(
        side.universe()
            .into_iter()
            .map(|c| ("registration_id".into(), c.to_string())),
    );
    for n in NAMES {
        out.extend(VALUES.iter().map(|v| (n.to_owned(), (*v).to_owned())));
    }
    out
}

/// Reads the main app (and a little of the others) from `store`.
pub async fn observe(
    store: &dyn Store,
    case: &Case,
    run: &Run,
    side: &mut Side,
) -> Result<Reads, String> {
    let app = &case.main.credentials.app_id;
    let other = &case.other.credentials.app_id;
    let universe = side.universe();
    let aliases: Vec<Alias> = ALIASES
        .iter()
        .map(|a| Alias::parse(*a).expect("alias"))
        .collect();
    let queries: Vec<_> = case.queries.iter().map(|q| side.query(q)).collect();
    let idents = identity_universe(side);
    let now = run.now;
    let c = &case.main.credentials;
    let keys: Vec<String> = [
        &c.ums.access_key,
        &c.ums.channel_key,
        &c.growth.project_id,
        &c.engagelab.api_key,
        &case.other.credentials.growth.project_id,
        &case.unknown.credentials.growth.project_id,
    ]
    .into_iter()
    .cloned()
    .chain((0..=run.channels).map(|i| format!("{}ck{i}", case.nonce)))
    .collect();
    let tokens: Vec<String> = (0..=run.tokens).map(|i| token_digest(case, i)).collect();
    let (
        devices,
        devices_later,
        other_devices,
        alias_of,
        tags_of,
        by_alias,
        audiences,
        apps,
        ums,
        names,
        found,
        credentials,
        token_apps,
    ) = tokio::join!(
        store.get_devices(app, &universe, now),
        store.get_devices(app, &universe, now + 100 * DAY),
        store.get_devices(other, &universe, now),
        join_all(universe.iter().map(|c| store.alias_of(app, c))),
        join_all(universe.iter().map(|c| store.tags_of(app, c))),
        join_all(aliases.iter().map(|a| store.cids_of_alias(app, a))),
        join_all(queries.iter().map(|q| async move {
            let count = store.count_audience(app, q).await;
            let all = store.audience_page(app, q, None, 100).await;
            let first = store.audience_page(app, q, None, 2).await;
            let after = first.as_ref().ok().and_then(|p| p.last()).map(|(o, _)| *o);
            let rest = store.audience_page(app, q, after, 100).await;
            (count, all, first, rest)
        })),
        join_all(
            [app, other, &case.unknown.credentials.app_id]
                .into_iter()
                .map(|a: &AppId| store.get_app(a))
        ),
        store.ums_config(app),
        store.identity_names(app),
        join_all(idents.iter().map(|(n, v)| async move {
            match roster_core::IdentityValue::parse(v.as_str()) {
                Ok(v) => store.find_user(app, n, &v).await,
                // No identity can hold a value the edge refuses.
                Err(_) => Ok(None),
            }
        })),
        join_all(keys.iter().map(|k| store.find_credential(k))),
        join_all(tokens.iter().map(|t| store.live_token(t, now))),
    );
    let mut out: Reads = Vec::new();
    let side_ref: &Side = side;
    let mut put = |label: String, text: Result<String, String>| -> Result<(), String> {
        out.push((label, text?));
        Ok(())
    };
    put(
        "get_devices(now)".into(),
        shown(side_ref, devices, |d| format!("{d:#?}")),
    )?;
    put(
        "get_devices(now + 100 days)".into(),
        shown(side_ref, devices_later, |d| {
            format!("{:?}", d.iter().map(|d| d.login_freq).collect::<Vec<_>>())
        }),
    )?;
    put(
        "get_devices(other app)".into(),
        shown(side_ref, other_devices, |d| {
            format!("{:?}", d.iter().map(|d| &d.cid).collect::<Vec<_>>())
        }),
    )?;
    for (c, (a, t)) in universe.iter().zip(alias_of.into_iter().zip(tags_of)) {
        let c = side_ref.canon(c.as_str());
        put(
            format!("alias_of({c})"),
            shown(side_ref, a, |a| format!("{a:?}")),
        )?;
        put(
            format!("tags_of({c})"),
            shown(side_ref, t, |t| format!("{t:?}")),
        )?;
    }
    for (a, cids) in ALIASES.iter().zip(by_alias) {
        put(
            format!("cids_of_alias({a})"),
            shown(side_ref, cids, |c| format!("{c:?}")),
        )?;
    }
    for (i, (count, all, first, rest)) in audiences.into_iter().enumerate() {
        let q = &case.queries[i];
        put(
            format!("count_audience({q:?})"),
            shown(side_ref, count, |n| n.to_string()),
        )?;
        put(
            format!("audience_page({q:?}, None, 100)"),
            shown(side_ref, all, |p| format!("{p:?}")),
        )?;
        put(
            format!("audience_page({q:?}, None, 2)"),
            shown(side_ref, first, |p| format!("{p:?}")),
        )?;
        put(
            format!("audience_page({q:?}, after the first page, 100)"),
            shown(side_ref, rest, |p| format!("{p:?}")),
        )?;
    }
    for (label, a) in ["get_app(main)", "get_app(other)", "get_app(unknown)"]
        .into_iter()
        .zip(apps)
    {
        put(label.into(), shown(side_ref, a, app_text))?;
    }
    put(
        "ums_config".into(),
        shown(side_ref, ums, |c| format!("{c:?}")),
    )?;
    put(
        "identity_names".into(),
        shown(side_ref, names, |n| format!("{n:?}")),
    )?;
    for (k, cred) in keys.iter().zip(credentials) {
        let text = shown(side_ref, cred, |c| {
            format!(
                "{:?}",
                c.map(|c| {
                    let secrets: Vec<_> = c
                        .secrets
                        .iter()
                        .map(|k| (k.key.clone(), k.secret.clone(), k.created_at, k.expires_at))
                        .collect();
                    (c.app, c.kind, secrets)
                })
            )
        });
        put(format!("find_credential({})", side_ref.canon(k)), text)?;
    }
    for (i, t) in token_apps.into_iter().enumerate() {
        put(
            format!("token_app(token{i})"),
            shown(side_ref, t, |a| format!("{a:?}")),
        )?;
    }
    let mut found_text = Vec::with_capacity(found.len());
    for ((n, v), f) in idents.iter().zip(found) {
        let f = f.map(|u| u.map(|u| side.uid(u)));
        let text = shown(side, f, |u| format!("{u:?}"))?;
        found_text.push((format!("find_user({n}, {})", side.canon(v)), text));
    }
    out.extend(found_text);
    let uids = side.known_uids();
    let users = store.get_users(app, &uids).await;
    let users = users.map(|us| {
        us.into_iter()
            .map(|u| user_text(side, u))
            .collect::<Vec<_>>()
    });
    let text = shown(side, users, |u| format!("{u:#?}"))?;
    out.push(("get_users(every uid seen)".into(), text));
    // Users a page at a time: the first two, then the rest after the second.
    let first = store.user_page(app, None, 2).await;
    let after = first.as_ref().ok().and_then(|p| p.last()).map(|u| u.uid);
    let rest = match after {
        Some(a) => store.user_page(app, Some(a), 100).await,
        None => Ok(Vec::new()),
    };
    for (label, page) in [
        ("user_page(None, 2)", first),
        ("user_page(after, 100)", rest),
    ] {
        let page = page.map(|us| us.into_iter().map(|u| side.uid(u.uid)).collect::<Vec<_>>());
        let text = shown(side, page, |u| format!("{u:?}"))?;
        out.push((label.into(), text));
    }
    // The change log: every line (but its commit time) in order, then the same log
    // read in pages of two lines, which must end at the same seq boundaries.
    let whole = store.changes(app, 0, 10_000).await;
    let text = feed_text(side, whole)?;
    out.push(("changes(after 0)".into(), text));
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        match store.changes(app, after, 2).await {
            Ok(ChangePage::Lines { count, last, .. }) if count > 0 => {
                pages.push(format!("{count} lines to seq {last}"));
                after = last;
            }
            other => {
                pages.push(format!(
                    "{:?}",
                    other.map(|p| matches!(p, ChangePage::Gone { .. }))
                ));
                break;
            }
        }
    }
    out.push(("changes in pages of 2".into(), pages.join("; ")));
    Ok(out)
}

/// A feed page as text: each line without `at`, uids renamed, generated cids renamed.
fn feed_text(side: &mut Side, page: StoreResult<ChangePage>) -> Result<String, String> {
    let text = match page {
        Ok(ChangePage::Lines {
            text, last, newest, ..
        }) => {
            let mut out = format!("last={last} newest={newest}\n");
            for line in text.lines() {
                let mut v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
                if let Some(o) = v.as_object_mut() {
                    o.remove("at");
                    for key in ["uid", "previous"] {
                        if let Some(n) = o.get(key).and_then(Value::as_i64) {
                            let renamed = side.uid(Uid::new(n));
                            o.insert(key.into(), Value::from(renamed));
                        }
                    }
                }
                out.push_str(&v.to_string());
                out.push('\n');
            }
            Ok(out)
        }
        Ok(ChangePage::Gone { oldest }) => Ok(format!("gone, oldest {oldest}")),
        Err(e) => Err(e),
    };
    shown(side, text, |t| t)
}
