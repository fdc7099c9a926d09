//! The commands of the differential test, over a small universe of cids, aliases, tags,
//! userids and identity values so that commands collide often. A command names things
//! by position (`CidRef::Fixed(3)`, `alias: 1`); each store's side of the harness turns
//! positions into values, because generated cids differ between stores.

use roster_core::ums::{SenderKind, UmsField, UmsVerb};
use roster_core::{BadgeOp, Cid, DeviceEvent, DeviceKind, DtType, PhoneType, TagName};

/// Importable cids `c0`…`c11`: enough to go over the ten cids of an alias.
pub const FIXED_CIDS: usize = 12;
/// Aliases (per app).
pub const ALIASES: [&str; 3] = ["al1", "al2", "张三"];
/// Tags most commands use; `t0`… are the big batches that reach the hundred-tag cap.
pub const SMALL_TAGS: [&str; 4] = ["a", "b", "喜爱", "vip"];
/// Region codes: two provinces, a city, a district.
pub const REGIONS: [&str; 4] = ["11000000", "11010000", "11010500", "31010000"];
/// Brands a device may report.
pub const BRANDS: [&str; 3] = ["hw", "xm", "iphone"];
/// UMS userids (= identity `user_id`); the last one is never written.
pub const USERIDS: [&str; 4] = ["u1", "u2", "u3", "ghost"];
/// Anonymous ids.
pub const ANON_IDS: [&str; 2] = ["anon1", "anon2"];
/// Custom identity names; `nope` is never created.
pub const NAMES: [&str; 4] = ["phone", "crm", "email_id", "nope"];
/// Values of custom identities.
pub const VALUES: [&str; 3] = ["v1", "v2", "v3"];
/// Identity-name priorities, small and at the edges of i32 and u32.
pub const PRIORITIES: [u32; 8] = [
    1,
    2,
    7,
    i32::MAX as u32,
    i32::MAX as u32 + 1,
    u32::MAX - 1,
    u32::MAX,
    1_000,
];
/// Property keys of devices and users.
pub const PROP_KEYS: [&str; 3] = ["lang", "plan", "k"];

/// Which app a command is for: the case's app, a second app of the same store, or an
/// app id that was never created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppSel {
    Main,
    Other,
    Unknown,
}

/// A cid by position: fixed `cN`, the store's N-th generated cid, or one that never
/// exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CidRef {
    Fixed(usize),
    Gen(usize),
    Missing,
}

/// One device of an upsert batch; `cid: None` lets the store generate one.
#[derive(Debug, Clone)]
pub struct Dev {
    pub cid: Option<CidRef>,
    pub kind: Option<DeviceKind>,
    pub phone: Option<PhoneType>,
    pub brand: Option<usize>,
    pub region: Option<usize>,
    pub switch: Option<bool>,
    /// phone_model, package_name, client_app_id, device_token, app_version, os.
    pub strings: [Option<u8>; 6],
    /// (key, value) positions merged into the properties.
    pub props: Option<Vec<(usize, u8)>>,
}

/// A `bind_dt` entry's cid.
#[derive(Debug, Clone, Copy)]
pub enum DtCid {
    Empty,
    Ref(CidRef),
}

/// A UMS bind id: `all`, a channel key, or a sender code.
#[derive(Debug, Clone, Copy)]
pub enum BindRef {
    All,
    DefaultChannel,
    /// A channel this case created (the i-th, modulo how many).
    Channel(usize),
    DefaultSender,
    /// `s0`, `s1`.
    Sender(usize),
}

/// One UMS change.
#[derive(Debug, Clone)]
pub struct Change {
    pub verb: UmsVerb,
    pub field: UmsField,
    pub bind: BindRef,
    pub values: Vec<usize>,
}

/// A sender code for a grant or a new sender.
#[derive(Debug, Clone, Copy)]
pub enum SenderRef {
    Default,
    Code(usize),
}

/// A channel key for a grant.
#[derive(Debug, Clone, Copy)]
pub enum ChanRef {
    Default,
    /// A channel this case created (the i-th, modulo how many).
    Created(usize),
    OtherApps,
    Missing,
}

/// An identity name: `user_id`, `anonymous_id`, `registration_id`, or `NAMES[i]`.
#[derive(Debug, Clone, Copy)]
pub enum NameRef {
    UserId,
    AnonymousId,
    RegistrationId,
    Custom(usize),
}

/// A write, with the arguments by position.
#[derive(Debug, Clone)]
pub enum Cmd {
    /// Creates the app again (`Main`, `Other`: already exists) or for the first time
    /// (`Unknown`).
    CreateApp {
        app: AppSel,
    },
    /// A Getui token expiring `expires` ms from now; each one new.
    InsertToken {
        app: AppSel,
        expires: i64,
    },
    /// Revokes a token of this case (the i-th inserted, modulo how many), or one that
    /// never was.
    RevokeToken {
        app: AppSel,
        token: Option<usize>,
    },
    Upsert {
        app: AppSel,
        devices: Vec<Dev>,
    },
    /// New devices `c{from}`… of one phone type: how an alias gets more than ten.
    UpsertRange {
        app: AppSel,
        from: usize,
        n: usize,
    },
    Event {
        app: AppSel,
        cid: CidRef,
        event: DeviceEvent,
        at: i64,
    },
    Blacklist {
        app: AppSel,
        cids: Vec<CidRef>,
        on: bool,
    },
    Badge {
        app: AppSel,
        cids: Vec<CidRef>,
        op: BadgeOp,
    },
    BindDt {
        app: AppSel,
        kind: DtType,
        entries: Vec<(DtCid, Option<u8>)>,
    },
    BindAliases {
        app: AppSel,
        pairs: Vec<(CidRef, usize)>,
    },
    UnbindAliases {
        app: AppSel,
        pairs: Vec<(CidRef, usize)>,
    },
    UnbindAlias {
        app: AppSel,
        alias: usize,
    },
    ReplaceTags {
        app: AppSel,
        cid: CidRef,
        tags: Vec<usize>,
    },
    AddTag {
        app: AppSel,
        tag: usize,
        cids: Vec<CidRef>,
    },
    RemoveTag {
        app: AppSel,
        tag: usize,
        cids: Vec<CidRef>,
    },
    SetDtTypes {
        app: AppSel,
        types: Vec<DtType>,
    },
    CreateChannel {
        app: AppSel,
        code: usize,
    },
    CreateSender {
        app: AppSel,
        code: SenderRef,
        kind: SenderKind,
    },
    Grant {
        app: AppSel,
        channel: ChanRef,
        sender: SenderRef,
    },
    CreateName {
        app: AppSel,
        name: usize,
        unique: bool,
        priority: u32,
    },
    UmsApply {
        app: AppSel,
        users: Vec<(usize, Vec<Change>)>,
    },
    UmsDelete {
        app: AppSel,
        userids: Vec<usize>,
    },
    Register {
        app: AppSel,
        name: NameRef,
        values: Vec<usize>,
    },
    Identify {
        app: AppSel,
        identities: Vec<(NameRef, usize)>,
        props: Vec<(usize, u8)>,
        contacts: Vec<(usize, u8)>,
    },
    /// Deletes a device (the native `DELETE …/devices/{cid}`).
    DeleteDevice {
        app: AppSel,
        cid: CidRef,
    },
    /// Deletes the i-th user seen so far (or a uid that never was).
    DeleteUser {
        app: AppSel,
        user: usize,
    },
    /// Adds and removes tags of one cid at once (the native `PATCH …/tags`).
    EditTags {
        app: AppSel,
        cid: CidRef,
        add: Vec<usize>,
        remove: Vec<usize>,
    },
}

/// How far the clock moves before a command.
#[derive(Debug, Clone, Copy)]
pub enum Advance {
    None,
    Ms,
    Hour,
    Day,
    Days(i64),
}

/// One step: move the clock, then run the command on every store.
#[derive(Debug, Clone)]
pub struct Step {
    pub advance: Advance,
    pub cmd: Cmd,
}

/// A tag by position: `SMALL_TAGS`, then `t0`, `t1`….
pub fn tag(i: usize) -> TagName {
    let name = match SMALL_TAGS.get(i) {
        Some(t) => (*t).to_owned(),
        None => format!("t{}", i - SMALL_TAGS.len()),
    };
    TagName::parse(name).expect("valid tag")
}

/// The placeholder a selector holds for a cid; each store's side resolves it.
pub fn placeholder(c: CidRef) -> Cid {
    let s = match c {
        CidRef::Fixed(i) => format!("c{i}"),
        CidRef::Gen(i) => format!("gen#{i}"),
        CidRef::Missing => "missing".to_owned(),
    };
    Cid::parse(s).expect("valid cid")
}

impl Cmd {
    /// The app the command is for.
    pub fn app(&self) -> AppSel {
        match self {
            Cmd::CreateApp { app }
            | Cmd::InsertToken { app, .. }
            | Cmd::RevokeToken { app, .. }
            | Cmd::Upsert { app, .. }
            | Cmd::UpsertRange { app, .. }
            | Cmd::Event { app, .. }
            | Cmd::Blacklist { app, .. }
            | Cmd::Badge { app, .. }
            | Cmd::BindDt { app, .. }
            | Cmd::BindAliases { app, .. }
            | Cmd::UnbindAliases { app, .. }
            | Cmd::UnbindAlias { app, .. }
            | Cmd::ReplaceTags { app, .. }
            | Cmd::AddTag { app, .. }
            | Cmd::RemoveTag { app, .. }
            | Cmd::SetDtTypes { app, .. }
            | Cmd::CreateChannel { app, .. }
            | Cmd::CreateSender { app, .. }
            | Cmd::Grant { app, .. }
            | Cmd::CreateName { app, .. }
            | Cmd::UmsApply { app, .. }
            | Cmd::UmsDelete { app, .. }
            | Cmd::Register { app, .. }
            | Cmd::Identify { app, .. }
            | Cmd::DeleteDevice { app, .. }
            | Cmd::DeleteUser { app, .. }
            | Cmd::EditTags { app, .. } => *app,
        }
    }
}

impl Step {
    /// The names `ROSTER_DIFF_SKIP` matches: the command's variant (`Upsert`,
    /// `Identify`…), and `OtherApp` or `UnknownApp` when it is for one of those.
    pub fn kinds(&self) -> Vec<String> {
        let debug = format!("{:?}", self.cmd);
        let variant = debug
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_owned();
        let mut kinds = vec![variant];
        match self.cmd.app() {
            AppSel::Main => {}
            AppSel::Other => kinds.push("OtherApp".into()),
            AppSel::Unknown => kinds.push("UnknownApp".into()),
        }
        kinds
    }
}
