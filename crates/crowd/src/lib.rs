//! The smart-crowd model (文案圈人): given push copy, pick for each copy the devices
//! most likely to care about it.
//!
//! Pure computation: the caller hands in the app's tags and opened texts with the
//! bitmaps of the devices behind them, the devices it allows, and the copy; [`pick`]
//! returns one [`Crowd`] per copy. Texts are segmented with jieba into features
//! ([`features`]), weighted by TF-IDF over the app's own texts, and compared by
//! cosine. A device's score for a copy is the sum of the similarities of its tags and
//! opened texts to the copy (see [`pick`]). `docs/crowds.md` explains the model for
//! operators.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use roaring::RoaringBitmap;

mod model;
mod pick;
mod stop;
mod text;

pub use pick::{pick, working_bytes};
pub use text::{features, words};

/// Weight of an opened text's similarity relative to a tag's.
pub const W_OPEN: f64 = 1.0;

/// A single similarity at or below this counts as 0, so that sharing one common word
/// (今晚, 直播) or bigram with the copy does not make a tag or a text relevant. Such
/// matches measure about 0.03–0.06 against a copy of ten-odd features; a shared
/// topical word measures 0.08 and up. Calibrated on generated data
/// (`tests/relevance.rs`); see `docs/crowds.md`.
pub const FLOOR: f64 = 0.08;

/// How many times a copy's topic counts against its content.
pub const TOPIC_WEIGHT: f64 = 2.0;

/// At most this many [`Crowd::terms`].
pub const MAX_TERMS: usize = 10;

/// `watch.progress` is called, and `watch.stopped` checked, every this many device
/// scores read.
pub const PROGRESS_EVERY: u64 = 1 << 16;

/// One push copy: the notification's title and body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PushCopy<'a> {
    /// The title; its features count [`TOPIC_WEIGHT`] times.
    pub topic: &'a str,
    /// The body.
    pub content: &'a str,
}

/// What the model knows of the app.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// Every tag of the app with the devices carrying it.
    pub tags: Vec<(&'a str, &'a RoaringBitmap)>,
    /// Every distinct text devices opened, with the devices that opened it.
    pub opens: Vec<(&'a str, &'a RoaringBitmap)>,
    /// Other copy the app has seen (earlier plans' topic + content): documents for
    /// the document frequencies only.
    pub seen: Vec<&'a str>,
    /// Devices allowed in any crowd (the caller has applied its filters: brand,
    /// activity, blacklist). No other device is scored.
    pub eligible: &'a RoaringBitmap,
}

/// How crowds are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Most devices in one crowd.
    pub package_num: u64,
    /// Whether a device may be in several crowds. When false, each device is only a
    /// candidate for the copy it scores highest on (ties to the earlier copy).
    pub overlap: bool,
}

/// One feature of a copy with its weight in the copy's normalised vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// The feature (a word, a bigram or a tag name).
    pub term: String,
    /// Its tf × idf, L2-normalised over the copy.
    pub weight: f64,
}

/// The devices picked for one copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Crowd {
    /// At most `package_num` devices: the highest scores, ties to the lower ordinal.
    pub members: RoaringBitmap,
    /// The copy's heaviest features, at most [`MAX_TERMS`], heaviest first.
    pub terms: Vec<Term>,
    /// Eligible devices whose score for this copy was above 0 (before the cap and,
    /// without overlap, before devices went to their best copy).
    pub scored: u64,
}

/// Progress reporting and cancellation for [`pick`].
pub trait Watch {
    /// Called every [`PROGRESS_EVERY`] device scores read, with the number read so
    /// far over all copies (the total is copies × eligible devices).
    fn progress(&self, scored_so_far: u64);
    /// Polled with each progress call and between tags; `true` makes [`pick`]
    /// return [`Stopped`].
    fn stopped(&self) -> bool;
}

/// No reporting, never stopped.
impl Watch for () {
    fn progress(&self, _: u64) {}
    fn stopped(&self) -> bool {
        false
    }
}

/// [`pick`] was stopped through [`Watch::stopped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("crowd picking was stopped")
    }
}

impl std::error::Error for Stopped {}
