//! Limits stated by the vendor documents, in one place.

/// Longest cid accepted on import.
pub const CID_MAX_LEN: usize = 64;
/// An alias has fewer than this many characters (Getui: "长度<40字").
pub const ALIAS_MAX_CHARS_EXCLUSIVE: usize = 40;
/// An alias binds at most this many cids.
pub const CIDS_PER_ALIAS: usize = 10;
/// `data_list` of alias bind/unbind.
pub const ALIAS_BATCH: usize = 1000;
/// Tags one cid may carry.
pub const TAGS_PER_CID: usize = 100;
/// Characters in one tag.
pub const TAG_MAX_CHARS: usize = 32;
/// Total characters of the tags in one overwrite.
pub const TAG_TOTAL_CHARS: usize = 512;
/// cids in one tag batch bind/unbind.
pub const TAG_BATCH_CIDS: usize = 1000;
/// cids in one blacklist or badge call.
pub const BLACKLIST_BADGE_CIDS: usize = 200;
/// cids in one status or detail query.
pub const STATUS_DETAIL_CIDS: usize = 1000;
/// cids in one deviceStatus query.
pub const DEVICE_STATUS_CIDS: usize = 100;
/// Entries of one bind_dt call.
pub const BIND_DT_BATCH: usize = 1000;
/// Devices in one native upsert.
pub const DEVICE_UPSERT_BATCH: usize = 1000;
/// Days counted by `login_freq`.
pub const LOGIN_FREQ_DAYS: i64 = 100;
/// Lifetime of a Getui auth token, in milliseconds.
pub const GETUI_TOKEN_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// How far a Getui auth `timestamp` may be from the server clock, in milliseconds.
pub const GETUI_AUTH_SKEW_MS: i64 = 10 * 60 * 1000;
/// Largest badge value roster stores.
pub const BADGE_MAX: i64 = 1_000_000;
/// Longest free-text device field (brand, model, package…) accepted, in characters.
pub const DEVICE_TEXT_MAX: usize = 256;
