//! The valid requests of the Getui routes; every write they aim at app A is invalid.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use roster_testkit::s;
use serde_json::{json, Value};

use super::base::{ghost, Auth};
use super::fixture::Ctx;
use super::pools::{enc, junk_segment};
use super::routes::R;

pub(super) fn getui(
    ctx: &Ctx,
    r: R,
    read: bool,
    case: u64,
    g: &mut StdRng,
) -> (String, Option<Value>, Auth) {
    let a = &ctx.a;
    let with_token = |path: String, body: Option<Value>| (path, body, ctx.token_auth());
    // Segments are drawn in the order of the statements: the seed fixes each case.
    match r {
        R::GAuth => {
            let ts = ctx.now_ms.to_string();
            let key = s(&a["getui"]["app_key"]);
            // Signed with a wrong secret: never a valid sign.
            let sign = roster_core::app::getui_sign(key, &ts, "not-the-master-secret");
            let ts = if g.gen() {
                json!(ts)
            } else {
                json!(ctx.now_ms)
            };
            let app = ctx.app_seg(g, a, true);
            let body = json!({ "sign": sign, "timestamp": ts, "appkey": key });
            (format!("/v2/{app}/auth"), Some(body), Auth::None)
        }
        R::GRevoke => {
            let token = if g.gen() {
                format!("{:032x}", g.gen::<u128>())
            } else {
                junk_segment(g)
            };
            let app = ctx.app_seg(g, a, true);
            let body = if g.gen() { Some(Value::Null) } else { None };
            (format!("/v2/{app}/auth/{token}"), body, Auth::None)
        }
        R::GAlias => {
            let body = json!({ "data_list": ghost_entries(case, 4, "alias", "fzalias", g) });
            let app = ctx.app_seg(g, a, true);
            with_token(format!("/v2/{app}/user/alias"), Some(body))
        }
        R::GAliasOfCid => {
            let (app, cid) = (ctx.app_seg(g, a, true), ctx.cid_seg(g, read, case));
            with_token(format!("/v2/{app}/user/alias/cid/{cid}"), None)
        }
        R::GCidsOfAlias => {
            let alias = if read && g.gen_bool(0.6) {
                enc(ctx.aliases.choose(g).map_or("", String::as_str))
            } else {
                junk_segment(g)
            };
            let app = ctx.app_seg(g, a, true);
            with_token(format!("/v2/{app}/user/cid/alias/{alias}"), None)
        }
        R::GAliasUnbindAll => {
            // Never an alias of the fixture: unbinding one would be a valid write.
            let alias = if g.gen() {
                format!("fzghostalias{case}")
            } else {
                junk_segment(g)
            };
            let app = ctx.app_seg(g, a, true);
            with_token(format!("/v2/{app}/user/alias/{alias}"), None)
        }
        R::GTagCid => {
            let body = (!read).then(|| json!({ "custom_tag": ["fztag1", "fztag2"] }));
            let app = ctx.app_seg(g, a, true);
            let cid = ctx.cid_seg(g, read, case);
            with_token(format!("/v2/{app}/user/custom_tag/cid/{cid}"), body)
        }
        R::GTagBatch => {
            let tag = if g.gen_bool(0.6) {
                enc(ctx.tags.choose(g).map_or("", String::as_str))
            } else {
                junk_segment(g)
            };
            let n = g.gen_range(1..4);
            let cids: Vec<String> = (0..n).map(|k| ghost(case, k)).collect();
            let app = ctx.app_seg(g, a, true);
            let path = format!("/v2/{app}/user/custom_tag/batch/{tag}");
            with_token(path, Some(json!({ "cid": cids })))
        }
        R::GBlack => {
            let app = ctx.app_seg(g, a, true);
            let cids = ctx.cid_list_seg(g, false, case);
            let body = if g.gen() { Some(Value::Null) } else { None };
            with_token(format!("/v2/{app}/user/black/cid/{cids}"), body)
        }
        R::GStatus | R::GDeviceStatus | R::GDetail => {
            let name = match r {
                R::GStatus => "status",
                R::GDeviceStatus => "deviceStatus",
                _ => "detail",
            };
            let app = ctx.app_seg(g, a, true);
            let cids = ctx.cid_list_seg(g, read, case);
            with_token(format!("/v2/{app}/user/{name}/{cids}"), None)
        }
        R::GBadge => {
            let badge = [json!("+1"), json!("-2"), json!("5"), json!(3)]
                .choose(g)
                .cloned()
                .unwrap_or(json!("+1"));
            let app = ctx.app_seg(g, a, true);
            let cids = ctx.cid_list_seg(g, false, case);
            let path = format!("/v2/{app}/user/badge/cid/{cids}");
            with_token(path, Some(json!({ "badge": badge })))
        }
        R::GBindDt => {
            let kind = if g.gen_bool(0.8) {
                (*["wx", "hw", "xm", "ios", "nope"].choose(g).unwrap_or(&"wx")).to_owned()
            } else {
                junk_segment(g)
            };
            let body = json!({ "dt_list": ghost_entries(case, 3, "device_token", "tok", g) });
            let app = ctx.app_seg(g, a, true);
            with_token(format!("/v2/{app}/user/bind_dt/{kind}"), Some(body))
        }
        R::GCount => {
            let app = ctx.app_seg(g, a, true);
            let body = json!({ "tag": [
                { "key": "phone_type", "values": ["android"], "opt_type": "or" },
                { "key": "region", "values": ["11000000", "31010000"], "opt_type": "or" },
                { "key": "custom_tag", "values": [ctx.tags.choose(g)], "opt_type": "not" },
            ]});
            with_token(format!("/v2/{app}/user/count"), Some(body))
        }
        R::GUnknown => {
            let app = ctx.app_seg(g, a, true);
            let p = [
                format!("/v2/{app}/user/nope"),
                format!("/v2/{app}/user"),
                format!("/v2/{app}"),
                "/v2".to_owned(),
                format!("/v2/{app}/user/detail"),
                format!("/v2/{app}/user/alias/cid"),
                format!("/v2/{app}/push/single/cid"),
                format!("/v2/{app}/user/custom_tag/cid/{}/extra", ghost(case, 0)),
            ];
            (
                p.choose(g).cloned().unwrap_or_default(),
                Some(json!({ "x": 1 })),
                ctx.token_auth(),
            )
        }
        _ => unreachable!("not a Getui route: {r:?}"),
    }
}

/// 1 to `below - 1` entries, each a cid that does not exist with `key` set to `prefix` and
/// the entry's index.
fn ghost_entries(case: u64, below: usize, key: &str, prefix: &str, g: &mut StdRng) -> Vec<Value> {
    let n = g.gen_range(1..below);
    (0..n)
        .map(|k| json!({ "cid": ghost(case, k), key: format!("{prefix}{k}") }))
        .collect()
}
