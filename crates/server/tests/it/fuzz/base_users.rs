//! The valid requests of the UMS, Growth and EngageLab routes.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use roster_testkit::s;
use serde_json::{json, Value};

use super::base::{tracked, Auth, TrackKind, Tracked};
use super::fixture::Ctx;
use super::pools::odd_string;
use super::routes::R;

pub(super) fn users(
    ctx: &Ctx,
    r: R,
    case: u64,
    g: &mut StdRng,
    track: &mut Vec<Tracked>,
    safe: &mut bool,
) -> (String, Option<Value>, Auth) {
    let (a, b) = (&ctx.a, &ctx.b);
    match r {
        R::UmsOpt => {
            let sender = s(&b["ums"]["app_sender_code"]);
            let u0 = tracked(track, TrackKind::UmsUser, case, 'u', 0);
            let u1 = tracked(track, TrackKind::UmsUser, case, 'u', 1);
            let auth = Auth::ums(b, 0.7, g);
            (
                "/v1/user/opt".into(),
                Some(json!([
                    { "userid": u0, "set": {
                        "phone": { "all": "13800000000" }, "email": { "all": "a@example.com" },
                        "tag": { "all": ["t1"] }, "app": { sender: ["rid1"] } },
                      "add": { "tag": { "all": ["t2"] } },
                      "del": { "tag": { "all": ["t3"] } } },
                    { "userid": u1, "set": { "dingtalkcc": "dt1", "wechatwk": { "all": "wk1" },
                                              "wechatwk_linkedcorp": ["corp/u1"] } },
                ])),
                auth,
            )
        }
        R::UmsDelete => {
            let auth = Auth::ums(a, 0.85, g);
            (
                "/v1/user/delete".into(),
                Some(json!([
                    format!("fzghost{case}a"),
                    format!("fzghost{case}b")
                ])),
                auth,
            )
        }
        R::UmsUnknown => (
            (*[
                "/v1/user",
                "/v1/user/optx",
                "/v1/user/opt/x",
                "/v1/user/profiles",
                "/v1/user/nope/deeper",
            ]
            .choose(g)
            .unwrap_or(&"/v1/user"))
            .to_owned(),
            Some(json!([{ "userid": "x" }])),
            Auth::basic_from(b, "ums", "access_key", "access_secret"),
        ),
        R::GrowthB => {
            let values: Vec<String> = (0..g.gen_range(1..4))
                .map(|k| tracked(track, TrackKind::GrowthValue, case, 'g', k))
                .collect();
            (
                "/smartop/api/v1/user/register".into(),
                Some(json!({ "identityName": "user_id", "identityValues": values })),
                Auth::basic_from(b, "growth", "project_id", "project_secret"),
            )
        }
        R::GrowthA => {
            *safe = true;
            (
                "/smartop/api/v1/user/register".into(),
                Some(growth_a_body(ctx, g)),
                Auth::basic_from(a, "growth", "project_id", "project_secret"),
            )
        }
        R::GrowthUnknown => (
            (*[
                "/smartop",
                "/smartop/api/v1/user/register/x",
                "/smartop/api/v1/user",
                "/smartop/api/v2/user/register",
            ]
            .choose(g)
            .unwrap_or(&"/smartop"))
            .to_owned(),
            Some(json!({ "identityName": "user_id", "identityValues": ["x"] })),
            Auth::basic_from(b, "growth", "project_id", "project_secret"),
        ),
        R::Profile => {
            let mut euids: Vec<Value> = ctx.uids.iter().map(|u| json!(u)).collect();
            euids.truncate(g.gen_range(1..=ctx.uids.len()));
            euids.push(json!(987_654_321));
            (
                "/v1/user/profile".into(),
                Some(
                    json!({ "euid": euids, "user_properties": ["lang", "absent"],
                             "device_properties": ["el_platform", "screen"], "contacts": ["email"],
                             "user_identities": ["user_id", "registration_id"] }),
                ),
                Auth::basic_from(a, "engagelab", "api_key", "api_secret"),
            )
        }
        R::ProfileUnknown => (
            (*["/v1/user/profile/x", "/v1/user/profile/1/2"]
                .choose(g)
                .unwrap_or(&"/v1/user/profile/x"))
            .to_owned(),
            Some(json!({ "euid": [1] })),
            Auth::basic_from(a, "engagelab", "api_key", "api_secret"),
        ),
        _ => unreachable!("not a UMS, Growth or EngageLab route: {r:?}"),
    }
}

/// A Growth `register` body for app A: only values known to exist, or invalid ones.
fn growth_a_body(ctx: &Ctx, g: &mut StdRng) -> Value {
    let pick = |g: &mut StdRng| -> Value {
        match g.gen_range(0..10) {
            0..=4 => json!(ctx.userids.choose(g)),
            5 => json!(ctx.growth_invalid.choose(g)),
            6 => json!(""),
            7 => [json!(5), json!(-1), json!(1e308), json!(null), json!(true)]
                .choose(g)
                .cloned()
                .unwrap_or(Value::Null),
            8 => json!({ "identityValue": ctx.userids[0] }),
            _ => json!([ctx.userids[0]]),
        }
    };
    let name = match g.gen_range(0..12) {
        0..=6 => json!("user_id"),
        7 => json!([
            "anonymous_id",
            "registration_id",
            "",
            "USER_ID",
            "user_id\u{0}",
            " user_id"
        ]
        .choose(g)),
        8 => json!(123),
        9 => Value::Null,
        10 => json!(["user_id"]),
        _ => json!(odd_string(g)),
    };
    let values = match g.gen_range(0..10) {
        0..=6 => Value::Array((0..g.gen_range(1..6)).map(|_| pick(g)).collect()),
        7 => json!([]),
        8 => Value::Array((0..101).map(|_| json!(ctx.userids[0])).collect()),
        _ => pick(g),
    };
    let mut body = serde_json::Map::new();
    if !g.gen_bool(0.05) {
        body.insert("identityName".into(), name);
    }
    if !g.gen_bool(0.05) {
        body.insert("identityValues".into(), values);
    }
    if g.gen_bool(0.1) {
        Value::Array(vec![Value::Object(body)])
    } else {
        Value::Object(body)
    }
}
