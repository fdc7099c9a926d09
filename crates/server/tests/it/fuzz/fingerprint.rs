//! The fingerprint of app A, and the checks that no refused request wrote anything.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use futures_util::StreamExt;
use serde_json::{json, Value};

use super::base::{TrackKind, Tracked};
use super::case::preview;
use super::fixture::{basic_from, get, getui_auth, post, Ctx};
use super::pools::enc;

/// A reply as `[status, body]`.
fn pair((status, body): (u16, Value)) -> Value {
    json!([status, body])
}

/// `[status, body]` of the native GET of `path` under app A.
async fn native_get(ctx: &Ctx, http: &reqwest::Client, auth: &str, path: &str) -> Value {
    let url = format!("{}/api/v1/apps/{}{path}", ctx.base, Ctx::id(&ctx.a));
    pair(get(http, url, Some(("authorization", auth))).await)
}

pub(super) async fn fingerprint(ctx: &Ctx, http: &reqwest::Client) -> BTreeMap<String, Value> {
    let base = &ctx.base;
    let a = &ctx.a;
    let a_id = Ctx::id(a);
    let auth = getui_auth(a);
    let mut fp = BTreeMap::new();
    let g = roster_testkit::Getui::connect(http, base, a).await;
    let all = ctx.cids.join(",");
    for cid in &ctx.cids {
        fp.insert(
            format!("native device {cid}"),
            native_get(ctx, http, &auth, &format!("/devices/{cid}")).await,
        );
        fp.insert(
            format!("getui tags {cid}"),
            g.get(&format!("/user/custom_tag/cid/{cid}")).await.body,
        );
        fp.insert(
            format!("getui alias {cid}"),
            g.get(&format!("/user/alias/cid/{cid}")).await.body,
        );
    }
    fp.insert(
        "getui detail".into(),
        g.get(&format!("/user/detail/{all}")).await.body,
    );
    fp.insert(
        "getui status".into(),
        g.get(&format!("/user/status/{all}")).await.body,
    );
    fp.insert(
        "getui deviceStatus".into(),
        g.get(&format!("/user/deviceStatus/{all}")).await.body,
    );
    for alias in &ctx.aliases {
        fp.insert(
            format!("getui cids of {alias}"),
            g.get(&format!("/user/cid/alias/{}", enc(alias))).await.body,
        );
    }
    for (name, tag) in [
        (
            "android",
            json!([{ "key": "phone_type", "values": ["android"], "opt_type": "or" }]),
        ),
        (
            "ios",
            json!([{ "key": "phone_type", "values": ["ios"], "opt_type": "or" }]),
        ),
        (
            "tags",
            json!([{ "key": "custom_tag", "values": ctx.tags, "opt_type": "or" }]),
        ),
    ] {
        fp.insert(
            format!("getui count {name}"),
            g.post("/user/count", json!({ "tag": tag })).await.body,
        );
    }
    for (name, q) in [
        ("all", json!({ "selector": { "all": true } })),
        (
            "all excl",
            json!({ "selector": { "all": true }, "exclude_blacklisted": true, "exclude_notification_off": true }),
        ),
        (
            "aliases",
            json!({ "selector": { "or": ctx.aliases.iter().map(|a| json!({ "alias": a })).collect::<Vec<_>>() } }),
        ),
    ] {
        let url = format!("{base}/api/v1/apps/{a_id}/audience/count");
        fp.insert(
            format!("native count {name}"),
            pair(post(http, url, &auth, q).await),
        );
    }
    let r = http
        .post(format!("{base}/api/v1/apps/{a_id}/audience/cids"))
        .header("authorization", &auth)
        .json(&json!({ "selector": { "all": true } }))
        .send()
        .await
        .expect("cids");
    let mut listed: Vec<String> = r
        .text()
        .await
        .expect("ndjson")
        .lines()
        .map(str::to_owned)
        .collect();
    listed.sort();
    fp.insert("native listing".into(), json!(listed));
    for uid in &ctx.uids {
        fp.insert(
            format!("native user {uid}"),
            native_get(ctx, http, &auth, &format!("/users/{uid}")).await,
        );
    }
    for v in ctx.userids.iter().chain(&ctx.growth_invalid) {
        let path = format!("/users/by_identity/user_id/{}", enc(v));
        fp.insert(
            format!("native user_id {}", preview(v.as_bytes(), 40)),
            native_get(ctx, http, &auth, &path).await,
        );
    }
    let el = basic_from(a, "engagelab", "api_key", "api_secret");
    let url = format!("{base}/v1/user/profile");
    let profiles = post(http, url, &el, json!({ "euid": ctx.uids })).await;
    fp.insert("engagelab profiles".into(), pair(profiles));
    let gr = basic_from(a, "growth", "project_id", "project_secret");
    let url = format!("{base}/smartop/api/v1/user/register");
    let body = json!({ "identityName": "user_id", "identityValues": ctx.userids });
    fp.insert(
        "growth cuids".into(),
        pair(post(http, url, &gr, body).await),
    );
    fp
}

/// Every uid allocated after the fixture's must be unknown to app A.
pub(super) async fn no_new_users_in_a(ctx: &Ctx, http: &reqwest::Client) -> Result<usize, String> {
    let base = &ctx.base;
    let b = &ctx.b;
    // A fresh user in B tells the highest uid so far.
    let (st, r) = post(
        http,
        format!("{base}/api/v1/apps/{}/users", Ctx::id(b)),
        &getui_auth(b),
        json!({ "identities": { "user_id": "fzHighWaterMark" } }),
    )
    .await;
    if st != 200 {
        return Err(format!("identify in B: {st} {r}"));
    }
    let high = r["uid"].as_i64().ok_or("no uid")?;
    let low = ctx.uids.iter().copied().max().unwrap_or(0) + 1;
    let el = basic_from(&ctx.a, "engagelab", "api_key", "api_secret");
    let mut checked = 0;
    let mut start = low;
    while start <= high {
        let end = (start + 99).min(high);
        let euids: Vec<i64> = (start..=end).collect();
        let (st, r) = post(
            http,
            format!("{base}/v1/user/profile"),
            &el,
            json!({ "euid": euids }),
        )
        .await;
        if st != 200 {
            return Err(format!("profile probe: {st} {r}"));
        }
        for d in r["data"].as_array().ok_or("no data")? {
            if d["error_code"] != 55108 {
                return Err(format!(
                    "uid {} belongs to app A after the fuzz: {d}",
                    d["euid"]
                ));
            }
        }
        checked += euids.len();
        start = end + 1;
    }
    Ok(checked)
}

/// Identifiers carried only by refused requests (or refused entries) must not exist.
pub(super) async fn check_absent(
    ctx: &Ctx,
    http: &reqwest::Client,
    absent: &BTreeSet<Tracked>,
) -> Vec<String> {
    let base = ctx.base.clone();
    let b_id = Ctx::id(&ctx.b);
    let b_auth = getui_auth(&ctx.b);
    let c_growth = basic_from(&ctx.c, "growth", "project_id", "project_secret");
    let found = Mutex::new(Vec::new());
    futures_util::stream::iter(absent.iter())
        .map(|t| {
            let (base, b_id, b_auth, c_growth, found) = (&base, &b_id, &b_auth, &c_growth, &found);
            async move {
                let present = match t.kind {
                    TrackKind::UmsUser | TrackKind::GrowthValue => {
                        get(
                            http,
                            format!(
                                "{base}/api/v1/apps/{b_id}/users/by_identity/user_id/{}",
                                t.id
                            ),
                            Some(("authorization", b_auth)),
                        )
                        .await
                    }
                    TrackKind::Identity(name) => {
                        get(
                            http,
                            format!(
                                "{base}/api/v1/apps/{b_id}/users/by_identity/{name}/{}",
                                t.id
                            ),
                            Some(("authorization", b_auth)),
                        )
                        .await
                    }
                    TrackKind::Device => {
                        get(
                            http,
                            format!("{base}/api/v1/apps/{b_id}/devices/{}", t.id),
                            Some(("authorization", b_auth)),
                        )
                        .await
                    }
                    TrackKind::IdentityName => {
                        // A priority-1 unique name makes Growth answer 0 (an empty value is
                        // refused per entry, so nothing is created); an unknown one 40005.
                        let (st, r) = post(
                            http,
                            format!("{base}/smartop/api/v1/user/register"),
                            c_growth,
                            json!({ "identityName": t.id, "identityValues": [""] }),
                        )
                        .await;
                        (if r["code"] == 40005 { 404 } else { st }, r)
                    }
                };
                if present.0 != 404 {
                    found.lock().expect("found").push(format!(
                        "{:?} {} exists after a refused request: {} {}",
                        t.kind, t.id, present.0, present.1
                    ));
                }
            }
        })
        .buffer_unordered(16)
        .collect::<()>()
        .await;
    found.into_inner().expect("found")
}
