//! The valid requests of the native and admin routes.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use roster_testkit::{s, ADMIN_TOKEN};
use serde_json::{json, Value};

use super::base::{tracked, uniq, Auth, TrackKind, Tracked};
use super::fixture::Ctx;
use super::pools::{enc, junk_segment};
use super::routes::R;

pub(super) fn native(
    ctx: &Ctx,
    r: R,
    read: bool,
    case: u64,
    g: &mut StdRng,
    track: &mut Vec<Tracked>,
) -> (String, Option<Value>, Auth) {
    let (a, b, c) = (&ctx.a, &ctx.b, &ctx.c);
    let admin = |path: String, body: Value| (path, Some(body), Auth::Bearer(ADMIN_TOKEN.into()));
    let on_a = |path: String, body: Option<Value>| (path, body, Ctx::app_basic(a));
    // Segments are drawn in the order of the statements: the seed fixes each case.
    match r {
        R::NCreateApp => admin("/admin/v1/apps".into(), json!({ "name": "fuzz app" })),
        R::NDtTypes => {
            let app = ctx.app_seg(g, c, false);
            let body = json!({ "types": ["hw", "xm"] });
            admin(format!("/admin/v1/apps/{app}/getui/bind_dt_types"), body)
        }
        R::NIdentityNames => {
            let name = tracked(track, TrackKind::IdentityName, case, 'n', 0);
            let app = ctx.app_seg(g, c, false);
            let body = json!({ "name": name, "unique": true, "priority": 1 });
            admin(format!("/admin/v1/apps/{app}/identity_names"), body)
        }
        R::NChannels => {
            let app = ctx.app_seg(g, c, false);
            let body = json!({ "channel_code": uniq(case, 'c', 0) });
            admin(format!("/admin/v1/apps/{app}/ums/channels"), body)
        }
        R::NSenders => {
            let app = ctx.app_seg(g, c, false);
            let body = json!({ "kind": "wechatoa", "code": uniq(case, 's', 0) });
            admin(format!("/admin/v1/apps/{app}/ums/senders"), body)
        }
        R::NGrant => {
            let ch = if g.gen() {
                ctx.c_channel.clone()
            } else {
                junk_segment(g)
            };
            let sender = if g.gen() {
                s(&c["ums"]["app_sender_code"]).to_owned()
            } else {
                junk_segment(g)
            };
            let app = ctx.app_seg(g, c, false);
            let path = format!("/admin/v1/apps/{app}/ums/channels/{ch}/senders/{sender}");
            (path, None, Auth::Bearer(ADMIN_TOKEN.into()))
        }
        R::NDevices => {
            let d0 = tracked(track, TrackKind::Device, case, 'd', 0);
            let d1 = tracked(track, TrackKind::Device, case, 'd', 1);
            let app = ctx.app_seg(g, b, false);
            let body = json!([
                { "cid": d0, "phone_type": "android", "brand": "hw", "phone_model": "m",
                  "package_name": "p", "client_app_id": "c", "device_token": "t",
                  "notification_switch": true, "region": "11000000", "app_version": "1",
                  "os": "14", "properties": { "k": "v" }, "kind": "app" },
                { "cid": d1, "phone_type": "ios" },
            ]);
            (
                format!("/api/v1/apps/{app}/devices"),
                Some(body),
                Ctx::app_basic(b),
            )
        }
        R::NDevice => {
            let app = ctx.app_seg(g, a, true);
            let cid = ctx.cid_seg(g, read, case);
            on_a(format!("/api/v1/apps/{app}/devices/{cid}"), None)
        }
        R::NEvents => {
            let app = ctx.app_seg(g, a, true);
            let cid = ctx.cid_seg(g, false, case);
            let body = json!({ "type": "login", "at": ctx.now_ms });
            on_a(
                format!("/api/v1/apps/{app}/devices/{cid}/events"),
                Some(body),
            )
        }
        R::NCount | R::NCids => {
            let tag = ctx.tags.choose(g).cloned().unwrap_or_default();
            let alias = ctx.aliases.choose(g).cloned().unwrap_or_default();
            let selector = [
                json!({ "all": true }),
                json!({ "and": [{ "phone_type": "android" }, { "not": { "tag": tag } }] }),
                json!({ "or": [{ "region": "11000000" }, { "brand": "hw" }, { "alias": alias }] }),
                json!({ "cid": ctx.cids[..3] }),
            ]
            .choose(g)
            .cloned()
            .unwrap_or(json!({ "all": true }));
            let app = ctx.app_seg(g, a, true);
            let what = if r == R::NCount { "count" } else { "cids" };
            let body = json!({ "selector": selector, "exclude_blacklisted": true,
                               "exclude_notification_off": false });
            on_a(format!("/api/v1/apps/{app}/audience/{what}"), Some(body))
        }
        R::NUsers => {
            let i0 = tracked(track, TrackKind::Identity("user_id"), case, 'i', 0);
            let i1 = tracked(track, TrackKind::Identity("anonymous_id"), case, 'i', 1);
            let app = ctx.app_seg(g, b, false);
            let body = json!({
                "identities": { "user_id": i0, "anonymous_id": [i1] },
                "properties": { "lang": "zh", "n": 1, "nested": { "a": [1, 2] } },
                "contacts": { "email": "x@example.com", "mobile_phone": "13800000000" },
            });
            (
                format!("/api/v1/apps/{app}/users"),
                Some(body),
                Ctx::app_basic(b),
            )
        }
        R::NUser => {
            let uid = if read && g.gen_bool(0.6) {
                ctx.uids.choose(g).map(i64::to_string).unwrap_or_default()
            } else {
                junk_segment(g)
            };
            let app = ctx.app_seg(g, a, true);
            on_a(format!("/api/v1/apps/{app}/users/{uid}"), None)
        }
        R::NUserByIdentity => {
            let name = if g.gen_bool(0.7) {
                (*["user_id", "anonymous_id", "registration_id"]
                    .choose(g)
                    .unwrap_or(&"user_id"))
                .to_owned()
            } else {
                junk_segment(g)
            };
            let value = if g.gen_bool(0.6) {
                enc(ctx.userids.choose(g).map_or("", String::as_str))
            } else {
                junk_segment(g)
            };
            let app = ctx.app_seg(g, a, true);
            on_a(
                format!("/api/v1/apps/{app}/users/by_identity/{name}/{value}"),
                None,
            )
        }
        R::NOpenapi => ("/openapi.json".into(), None, Auth::None),
        R::NHealthz => ("/healthz".into(), None, Auth::None),
        R::NUnknown => {
            let app = Ctx::id(a);
            let p = [
                "/nope".to_owned(),
                "/".to_owned(),
                format!("/api/v1/apps/{app}"),
                format!("/api/v1/apps/{app}/nope"),
                "/admin/v1/nope".to_owned(),
                "/admin".to_owned(),
                "/V2/x/user/count".to_owned(),
                "/v2x/abc".to_owned(),
                "/openapi.yaml".to_owned(),
                "/healthz/x".to_owned(),
            ];
            on_a(
                p.choose(g).cloned().unwrap_or_default(),
                Some(json!({ "x": 1 })),
            )
        }
        _ => unreachable!("not a native route: {r:?}"),
    }
}
