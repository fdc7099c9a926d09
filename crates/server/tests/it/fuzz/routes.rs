//! The routes of every dialect, with their weights and own methods, and how a case picks one.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum R {
    GAuth,
    GRevoke,
    GAlias,
    GAliasOfCid,
    GCidsOfAlias,
    GAliasUnbindAll,
    GTagCid,
    GTagBatch,
    GBlack,
    GStatus,
    GDeviceStatus,
    GDetail,
    GBadge,
    GBindDt,
    GCount,
    GUnknown,
    UmsOpt,
    UmsDelete,
    UmsUnknown,
    GrowthB,
    GrowthA,
    GrowthUnknown,
    Profile,
    ProfileUnknown,
    NCreateApp,
    NDtTypes,
    NIdentityNames,
    NChannels,
    NSenders,
    NGrant,
    NDevices,
    NDevice,
    NEvents,
    NCount,
    NCids,
    NUsers,
    NUser,
    NUserByIdentity,
    NOpenapi,
    NHealthz,
    NUnknown,
}

/// (route, weight, template, own methods)
pub(super) const ROUTES: &[(R, u32, &str, &[&str])] = &[
    (R::GAuth, 3, "POST /v2/{appId}/auth", &["POST"]),
    (
        R::GRevoke,
        2,
        "DELETE /v2/{appId}/auth/{token}",
        &["DELETE"],
    ),
    (
        R::GAlias,
        4,
        "POST|DELETE /v2/{appId}/user/alias",
        &["POST", "DELETE"],
    ),
    (
        R::GAliasOfCid,
        2,
        "GET /v2/{appId}/user/alias/cid/{cid}",
        &["GET"],
    ),
    (
        R::GCidsOfAlias,
        2,
        "GET /v2/{appId}/user/cid/alias/{alias}",
        &["GET"],
    ),
    (
        R::GAliasUnbindAll,
        2,
        "DELETE /v2/{appId}/user/alias/{alias}",
        &["DELETE"],
    ),
    (
        R::GTagCid,
        4,
        "POST|GET /v2/{appId}/user/custom_tag/cid/{cid}",
        &["POST", "GET"],
    ),
    (
        R::GTagBatch,
        4,
        "PUT|DELETE /v2/{appId}/user/custom_tag/batch/{tag}",
        &["PUT", "DELETE"],
    ),
    (
        R::GBlack,
        2,
        "POST|DELETE /v2/{appId}/user/black/cid/{cids}",
        &["POST", "DELETE"],
    ),
    (
        R::GStatus,
        2,
        "GET /v2/{appId}/user/status/{cids}",
        &["GET"],
    ),
    (
        R::GDeviceStatus,
        2,
        "GET /v2/{appId}/user/deviceStatus/{cids}",
        &["GET"],
    ),
    (
        R::GDetail,
        2,
        "GET /v2/{appId}/user/detail/{cids}",
        &["GET"],
    ),
    (
        R::GBadge,
        3,
        "POST /v2/{appId}/user/badge/cid/{cids}",
        &["POST"],
    ),
    (
        R::GBindDt,
        3,
        "POST /v2/{appId}/user/bind_dt/{type}",
        &["POST"],
    ),
    (R::GCount, 4, "POST /v2/{appId}/user/count", &["POST"]),
    (R::GUnknown, 1, "unknown /v2/…", &["GET", "POST"]),
    (R::UmsOpt, 7, "POST /v1/user/opt", &["POST"]),
    (R::UmsDelete, 3, "POST /v1/user/delete", &["POST"]),
    (R::UmsUnknown, 1, "unknown /v1/user/…", &["GET", "POST"]),
    (
        R::GrowthB,
        5,
        "POST /smartop/api/v1/user/register (B)",
        &["POST"],
    ),
    (
        R::GrowthA,
        3,
        "POST /smartop/api/v1/user/register (A)",
        &["POST"],
    ),
    (R::GrowthUnknown, 1, "unknown /smartop/…", &["GET", "POST"]),
    (R::Profile, 5, "POST /v1/user/profile", &["POST"]),
    (
        R::ProfileUnknown,
        1,
        "unknown /v1/user/profile/…",
        &["GET", "POST"],
    ),
    (R::NCreateApp, 1, "POST /admin/v1/apps", &["POST"]),
    (
        R::NDtTypes,
        2,
        "PUT /admin/v1/apps/{app_id}/getui/bind_dt_types",
        &["PUT"],
    ),
    (
        R::NIdentityNames,
        2,
        "POST /admin/v1/apps/{app_id}/identity_names",
        &["POST"],
    ),
    (
        R::NChannels,
        1,
        "POST /admin/v1/apps/{app_id}/ums/channels",
        &["POST"],
    ),
    (
        R::NSenders,
        2,
        "POST /admin/v1/apps/{app_id}/ums/senders",
        &["POST"],
    ),
    (
        R::NGrant,
        1,
        "PUT /admin/v1/apps/{app_id}/ums/channels/{channel_key}/senders/{sender_code}",
        &["PUT"],
    ),
    (
        R::NDevices,
        4,
        "POST /api/v1/apps/{app_id}/devices",
        &["POST"],
    ),
    (
        R::NDevice,
        2,
        "GET /api/v1/apps/{app_id}/devices/{cid}",
        &["GET"],
    ),
    (
        R::NEvents,
        3,
        "POST /api/v1/apps/{app_id}/devices/{cid}/events",
        &["POST"],
    ),
    (
        R::NCount,
        4,
        "POST /api/v1/apps/{app_id}/audience/count",
        &["POST"],
    ),
    (
        R::NCids,
        3,
        "POST /api/v1/apps/{app_id}/audience/cids",
        &["POST"],
    ),
    (R::NUsers, 4, "POST /api/v1/apps/{app_id}/users", &["POST"]),
    (
        R::NUser,
        2,
        "GET /api/v1/apps/{app_id}/users/{uid}",
        &["GET"],
    ),
    (
        R::NUserByIdentity,
        2,
        "GET /api/v1/apps/{app_id}/users/by_identity/{name}/{value}",
        &["GET"],
    ),
    (R::NOpenapi, 1, "GET /openapi.json", &["GET"]),
    (R::NHealthz, 1, "GET /healthz", &["GET"]),
    (R::NUnknown, 1, "unknown native path", &["GET", "POST"]),
];

pub(super) fn template(r: R) -> &'static str {
    ROUTES
        .iter()
        .find(|(x, ..)| *x == r)
        .map_or("?", |(_, _, t, _)| t)
}

pub(super) fn pick_route(g: &mut StdRng) -> (R, &'static [&'static str]) {
    let total: u32 = ROUTES.iter().map(|(_, w, ..)| w).sum();
    let mut n = g.gen_range(0..total);
    for (r, w, _, m) in ROUTES {
        if n < *w {
            return (*r, m);
        }
        n -= w;
    }
    (R::NHealthz, &["GET"])
}

pub(super) const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
const ODD_METHODS: &[&str] = &["PURGE", "get", "FOO_BAR", "M-SEARCH"];

pub(super) fn pick_method(g: &mut StdRng, own: &[&str]) -> String {
    let m = if g.gen_bool(0.8) {
        own.choose(g)
    } else if g.gen_bool(0.9) {
        METHODS.choose(g)
    } else {
        ODD_METHODS.choose(g)
    };
    (*m.unwrap_or(&"GET")).to_owned()
}
