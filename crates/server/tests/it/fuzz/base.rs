//! A route's valid request before mutations: credentials, tracked identifiers, path segments.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use roster_testkit::s;
use serde_json::Value;

use super::base_getui::getui;
use super::base_native::native;
use super::base_users::users;
use super::body::J;
use super::fixture::Ctx;
use super::pools::{enc, junk_segment};
use super::routes::R;

#[derive(Debug, Clone)]
pub(super) enum Auth {
    None,
    Token(String),
    Basic(String, String),
    Bearer(String),
}

impl Auth {
    /// HTTP Basic with the `user` and `pass` fields of `app`'s `section` credentials.
    pub(super) fn basic_from(app: &Value, section: &str, user: &str, pass: &str) -> Auth {
        Auth::Basic(
            s(&app[section][user]).to_owned(),
            s(&app[section][pass]).to_owned(),
        )
    }

    /// UMS credentials of `app`: its own with probability `own`, else its channel's.
    pub(super) fn ums(app: &Value, own: f64, g: &mut StdRng) -> Auth {
        if g.gen_bool(own) {
            Auth::basic_from(app, "ums", "access_key", "access_secret")
        } else {
            Auth::basic_from(app, "ums", "channel_key", "channel_master_secret")
        }
    }
}

/// What a tracked identifier is, and so how its absence is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum TrackKind {
    UmsUser,
    GrowthValue,
    Identity(&'static str),
    Device,
    IdentityName,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct Tracked {
    pub(super) kind: TrackKind,
    pub(super) id: String,
}

/// A route's request before mutations.
pub(super) struct Base {
    pub(super) path: String,
    pub(super) body: Option<J>,
    pub(super) auth: Auth,
    pub(super) track: Vec<Tracked>,
    /// Growth on A: no structural mutation, only byte mutations that break the body.
    pub(super) safe: bool,
}

/// A cid that does not exist, unique to the case.
pub(super) fn ghost(case: u64, k: usize) -> String {
    format!("fzghost{case}c{k}")
}

pub(super) fn uniq(case: u64, kind: char, k: usize) -> String {
    format!("fz{case}{kind}{k}z")
}

/// `uniq(case, c, k)`, recorded in `track` as an identifier of kind `kind`.
pub(super) fn tracked(
    track: &mut Vec<Tracked>,
    kind: TrackKind,
    case: u64,
    c: char,
    k: usize,
) -> String {
    let id = uniq(case, c, k);
    track.push(Tracked {
        kind,
        id: id.clone(),
    });
    id
}

impl Ctx {
    pub(super) fn id(app: &Value) -> String {
        s(&app["app_id"]).to_owned()
    }

    /// The app segment of a route of app `app`: mostly its id, sometimes another app's
    /// (only when `other_ok`, for routes whose credentials then fail), or junk.
    pub(super) fn app_seg(&self, g: &mut StdRng, app: &Value, other_ok: bool) -> String {
        if g.gen_bool(0.92) {
            return Ctx::id(app);
        }
        match g.gen_range(0..6) {
            0 if other_ok => Ctx::id(&self.b),
            1 => "NoSuchApp0000000000000".into(),
            2 => "x".repeat(65),
            3 => enc("a b"),
            _ => junk_segment(g),
        }
    }

    pub(super) fn cid_seg(&self, g: &mut StdRng, read: bool, case: u64) -> String {
        if g.gen_bool(0.2) {
            return junk_segment(g);
        }
        if read && g.gen_bool(0.8) {
            return self.cids.choose(g).cloned().unwrap_or_default();
        }
        ghost(case, 0)
    }

    pub(super) fn cid_list_seg(&self, g: &mut StdRng, read: bool, case: u64) -> String {
        if g.gen_bool(0.2) {
            return junk_segment(g);
        }
        let n = g.gen_range(1..5);
        let mut out: Vec<String> = (0..n)
            .map(|k| {
                if read && g.gen_bool(0.7) {
                    self.cids.choose(g).cloned().unwrap_or_default()
                } else {
                    ghost(case, k)
                }
            })
            .collect();
        if !read {
            out.dedup();
        }
        out.join(",")
    }

    pub(super) fn token_auth(&self) -> Auth {
        Auth::Token(self.token_a.clone())
    }

    pub(super) fn app_basic(app: &Value) -> Auth {
        Auth::basic_from(app, "getui", "app_key", "master_secret")
    }
}

pub(super) fn build_base(ctx: &Ctx, r: R, method: &str, case: u64, g: &mut StdRng) -> Base {
    let read = method == "GET" || method == "HEAD";
    let mut track = Vec::new();
    let mut safe = false;
    let (path, body, auth): (String, Option<Value>, Auth) = match r {
        R::GAuth
        | R::GRevoke
        | R::GAlias
        | R::GAliasOfCid
        | R::GCidsOfAlias
        | R::GAliasUnbindAll
        | R::GTagCid
        | R::GTagBatch
        | R::GBlack
        | R::GStatus
        | R::GDeviceStatus
        | R::GDetail
        | R::GBadge
        | R::GBindDt
        | R::GCount
        | R::GUnknown => getui(ctx, r, read, case, g),
        R::UmsOpt
        | R::UmsDelete
        | R::UmsUnknown
        | R::GrowthB
        | R::GrowthA
        | R::GrowthUnknown
        | R::Profile
        | R::ProfileUnknown => users(ctx, r, case, g, &mut track, &mut safe),
        R::NCreateApp
        | R::NDtTypes
        | R::NIdentityNames
        | R::NChannels
        | R::NSenders
        | R::NGrant
        | R::NDevices
        | R::NDevice
        | R::NEvents
        | R::NCount
        | R::NCids
        | R::NUsers
        | R::NUser
        | R::NUserByIdentity
        | R::NOpenapi
        | R::NHealthz
        | R::NUnknown => native(ctx, r, read, case, g, &mut track),
    };
    Base {
        path,
        body: body.map(|v| J::from_value(&v)),
        auth,
        track,
        safe,
    }
}
