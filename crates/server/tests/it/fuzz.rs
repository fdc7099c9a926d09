//! A seeded, bounded fuzz of the whole HTTP surface (issue 9): at least 20,000 requests
//! the server must refuse, across every route of every dialect, and for each reply: no
//! 5xx, a JSON body in the envelope of the dialect that owns the path, no panic on the
//! server's threads or in its log, and no write applied by a refused request.
//!
//! # Generator
//!
//! Case `i` of seed `s` is built from its own `StdRng` seeded with `s` and `i` alone, so a
//! case is reproducible on its own (`ROSTER_FUZZ_SEED`, and `ROSTER_FUZZ_CASE=i` to send
//! only case `i` and print it). A case picks a route template (every template of every
//! router, plus unknown paths under each dialect's prefix), a method (mostly the route's
//! own; otherwise any of GET/POST/PUT/DELETE/PATCH/HEAD/OPTIONS or an odd token; every
//! 8th case walks all route × method pairs in turn, and a full run checks each was sent), path
//! parameters (real ids for reads, ids that cannot exist for writes, or junk: odd
//! Unicode, `%2F`, `%00`, 1,001-entry lists, 5,000-char segments), credentials (mostly
//! valid, so the handlers' parsing is reached; else missing, wrong, malformed, non-ASCII
//! or duplicated), and a body: the route's valid body put through 0–3 structural
//! mutations (drop, duplicate or rename keys, swap types, nulls, huge numbers such as
//! `1e308`, `-9223372036854775809`, `99999999999999999999`, deep nesting, long strings,
//! odd Unicode, lone-surrogate escapes, 1,001-entry lists) and sometimes a byte-level one
//! (truncation, invalid UTF-8, a flipped byte, a BOM, trailing garbage, comments, or not
//! JSON at all). Transport mutations: Content-Type variants, gzip (valid, corrupt, a
//! bomb that inflates past the body limit), unknown Content-Encoding, bodies on GET, a
//! few bodies over 2 MiB. About 5% of cases go over a raw TCP socket instead, for what an
//! HTTP client cannot send: bad percent-encoding (`%FF`, `%E4%B8`, `%G1`), raw UTF-8 and
//! control bytes in the path, dot segments, duplicated and conflicting headers,
//! chunked-encoding errors, broken request lines, absurd Content-Length values,
//! truncated gzip and bodies cut short.
//!
//! # What counts
//!
//! A reply counts as a refusal when its status is ≥ 400 or, where a dialect answers
//! errors with HTTP 200, by its body: Getui `code != 0` (or a tag batch whose every cid
//! is `"false"`, a `bind_dt` with an `errorList`); UMS `code != 0` or no `success`
//! entry; Growth and EngageLab `code != 0` or every entry an error. The run goes on,
//! 1,000 cases at a time, until `ROSTER_FUZZ_CASES` (default 20,000) requests were
//! refused; accepted requests (reads, and writes to the scratch apps) are sent too but
//! not counted.
//!
//! Every reply must have a status below 500; a body that parses as JSON (NDJSON for a
//! 200 from `audience/cids`, nothing for HEAD, 204 and 304); on error statuses, a JSON
//! Content-Type and exactly the envelope of the dialect that owns the path
//! (`envelope_of`). Raw requests the HTTP parser may refuse on its own (over-long heads,
//! malformed header lines, conflicting framing) may instead get its 400/414/431 in the
//! native envelope, with `Connection: close`. A connection closed without a reply is a
//! failure, except for bytes that hold no complete HTTP/1 request (only blank lines, a
//! head cut off by the client's FIN, the HTTP/2 preface, on which hyper closes by design).
//!
//! # No write applied by a refused request
//!
//! Three apps. App A holds known state (devices with aliases, tags, badges and a
//! blacklist entry through Getui and native events, users through UMS, Growth and the
//! native API). Every write the generator aims at A is invalid by construction, whatever
//! the mutations do: Getui writes and native events name cids (in the path or the body)
//! that do not exist and can never be produced by a mutation, alias unbinds name aliases
//! that do not exist, UMS deletes name userids that do not exist, the Getui `auth` sign
//! is made with a wrong secret, token revocations name tokens never issued, and Growth
//! `register` (get-or-create) on A only ever carries values known to exist or values that
//! are invalid, with no mutation that could turn one into a new valid value. A
//! fingerprint of everything readable about A (each device natively and through Getui
//! detail, status, tags and alias; alias lookups; Getui and native counts; the native
//! audience listing; each user by uid and by identity; EngageLab profiles; Growth CUIDs
//! of the known values) is taken before and after and must be equal; afterwards, every
//! uid allocated during the run must be unknown to A (EngageLab 55108), so no refused
//! request created a user in A either.
//!
//! Writes that may succeed (UMS `opt`, Growth `register`, native device upsert and
//! identify) go to app B, and admin writes to app C. Each such request carries
//! identifiers unique to its case (`fz<case><kind><n>z`); when the request is refused, or
//! the entry that carried one is (UMS `fail`, a Growth entry with an error), that
//! identifier must not exist afterwards (native lookups on B, a Growth probe of C's
//! identity names). Credentials are never swapped for another app's valid ones, so a
//! write meant for B or C cannot land on A.
//!
//! # Panics
//!
//! The server runs on a runtime of its own whose threads are named
//! `roster-fuzz-srv…`; a panic hook (chained to the previous one) counts panics on those
//! threads only, so other tests of this binary running in parallel do not interfere, and
//! a `tracing` subscriber on those threads captures the server's log (WARN and above),
//! which must not mention a panic nor hold an ERROR line. A second, smaller run does the
//! same against the real `roster` binary with its stderr captured
//! (`ROSTER_FUZZ_BINARY_CASES`, default 3,000 refusals).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use roster_edge::Dialect;
use roster_testkit::{s, ADMIN_TOKEN};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::edge::{envelope_matches, envelope_of, Envelope};

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

const DEFAULT_SEED: u64 = 0x0009_F022_5EED_2024;
const DEFAULT_REFUSALS: usize = 20_000;
const DEFAULT_BINARY_REFUSALS: usize = 3_000;
const CONCURRENCY: usize = 24;
const CHUNK: u64 = 1_000;
const SERVER_THREAD: &str = "roster-fuzz-srv";
/// Body limit of the edge (`EdgeLimits::default`).
const BODY_LIMIT: usize = 2 * 1024 * 1024;
/// Largest body mutations may produce by accident.
const ACCIDENTAL_BODY_MAX: usize = 256 * 1024;

struct Config {
    seed: u64,
    refusals: usize,
    only: Option<u64>,
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim().replace('_', "");
    match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn config(default_refusals: usize, cases_var: &str) -> Config {
    Config {
        seed: env_u64("ROSTER_FUZZ_SEED").unwrap_or(DEFAULT_SEED),
        refusals: env_u64(cases_var).map_or(default_refusals, |n| n as usize),
        only: env_u64("ROSTER_FUZZ_CASE"),
    }
}

// ---------------------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------------------

const NUMS: &[&str] = &[
    "1e308",
    "-1e308",
    "1e309",
    "-9223372036854775809",
    "9223372036854775808",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
    "18446744073709551616",
    "123456789012345678901234567890e-10",
    "1e-400",
    "-0",
    "0.0",
    "0e0",
    "1E+2",
    "1.5",
    "-1",
    "0",
    "1",
    "2147483648",
    "4294967296",
    "1e1000000",
];

/// Odd strings: none of them is, or can become, an id of the fixture.
const ODD: &[&str] = &[
    "",
    " ",
    "\u{200F}",
    "\u{202E}abc\u{202C}",
    "\u{0}",
    "a\u{0}b",
    "😀",
    "👨‍👩‍👧‍👦",
    "\u{3000}",
    "全角\u{3000}空格",
    "\u{FEFF}",
    "\u{FFFF}",
    "\u{FFFE}",
    "\u{10FFFF}",
    "e\u{301}\u{301}\u{301}",
    "ﷺ",
    "a,b",
    "a/b",
    "../..",
    "%FF",
    "%",
    "\\",
    "\"",
    "\n\r\t",
    "null",
    "true",
    "-1",
    "1e308",
    "9223372036854775808",
    "all",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "${jndi:ldap://x}",
    "\u{1}\u{7f}\u{9f}\u{1b}[31m",
    "\u{D7FF}",
    "ǅİı",
    "ｆｕｌｌｗｉｄｔｈ",
    "\u{E000}",
    "𠀀𪛖",
    "ab cd",
    "tab\there",
];

/// String contents written verbatim between quotes: escapes serde_json may refuse.
const BAD_ESCAPES: &[&str] = &[
    "\\ud800",
    "\\udc00\\ud800",
    "\\ud83d",
    "\\x41",
    "\\u12",
    "\\u0000",
    "\\uD800\\u0041",
    "\\",
    "\\q",
    "\t raw tab",
    "\u{1} raw control",
];

const NON_JSON: &[&[u8]] = &[
    b"",
    b"null",
    b"[]",
    b"{}",
    b"not json",
    b"a=b&c=d",
    b"<xml/>",
    b"   \r\n\t  ",
    b"\"string\"",
    b"0",
    b"1e999",
    b"{'single': 'quotes'}",
    b"{\"a\":NaN}",
    b"{\"a\":Infinity}",
    b"[1,2,]",
    b"{\"a\":1,}",
    b"\xff\xfe{\x00}\x00",
    b"\x1f\x8b\x08\x00garbage",
];

const INVALID_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x80",
    b"\xe4\xb8",
    b"\xfe\xfe",
];

fn odd_string(g: &mut StdRng) -> String {
    match g.gen_range(0..10) {
        0..=5 => (*ODD.choose(g).unwrap_or(&"")).to_owned(),
        6 => {
            // A random mix of awkward code points.
            let ranges: &[(u32, u32)] = &[
                (0x0, 0x1F),
                (0x7F, 0x9F),
                (0x200B, 0x200F),
                (0x202A, 0x202E),
                (0x2066, 0x2069),
                (0x3000, 0x3000),
                (0x4E00, 0x4E50),
                (0x1F600, 0x1F64F),
                (0xFFF0, 0xFFFF),
                (0x0300, 0x036F),
                (0xE000, 0xE010),
                (0x10FFF0, 0x10FFFF),
            ];
            let n = g.gen_range(1..40);
            (0..n)
                .filter_map(|_| {
                    let (lo, hi) = *ranges.choose(g).unwrap_or(&(0x41, 0x5A));
                    char::from_u32(g.gen_range(lo..=hi))
                })
                .collect()
        }
        7 => "x".repeat(*[33, 40, 41, 65, 257, 513, 1025].choose(g).unwrap_or(&65)),
        8 => "张".repeat(*[32, 33, 40, 257].choose(g).unwrap_or(&40)),
        _ => {
            let unit = *["a", "😀", "\u{3000}", "\u{0}", "é"]
                .choose(g)
                .unwrap_or(&"a");
            unit.repeat(*[1_000, 10_000, 70_000].choose(g).unwrap_or(&1_000))
        }
    }
}

/// Percent-encodes everything but ASCII letters, digits, `-`, `_` and `~` (dots too, so
/// that no HTTP client resolves a dot segment).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A path segment that is junk for any parameter (already percent-encoded, always valid
/// percent-encoding).
fn junk_segment(g: &mut StdRng) -> String {
    match g.gen_range(0..14) {
        0..=4 => enc(&odd_string(g).chars().take(2_000).collect::<String>()),
        5 => String::new(),
        6 => "%2F".into(),
        7 => "%00".into(),
        8 => "x".repeat(5_000),
        9 => (0..1_001)
            .map(|i| format!("zz{i}"))
            .collect::<Vec<_>>()
            .join(","),
        10 => [",", ",,", "a,,b", ",a"]
            .choose(g)
            .unwrap_or(&",")
            .to_string(),
        11 => ["%C3%A9", "%E4%B8%AD", "%F0%9F%98%80", "%EF%BB%BF"]
            .choose(g)
            .unwrap_or(&"%C3%A9")
            .to_string(),
        12 => [
            "-1",
            "0",
            "99999999999999999999",
            "9223372036854775808",
            "1e3",
        ]
        .choose(g)
        .unwrap_or(&"0")
        .to_string(),
        _ => "%25".into(),
    }
}

// ---------------------------------------------------------------------------------------
// JSON that serde_json cannot represent: duplicate keys, raw number literals, bad escapes
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    /// Written verbatim between quotes.
    RawStr(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
    /// `depth` nested arrays or objects.
    Deep(usize, bool),
}

impl J {
    fn from_value(v: &Value) -> J {
        match v {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => J::Num(n.to_string()),
            Value::String(s) => J::Str(s.clone()),
            Value::Array(a) => J::Arr(a.iter().map(J::from_value).collect()),
            Value::Object(o) => J::Obj(
                o.iter()
                    .map(|(k, v)| (k.clone(), J::from_value(v)))
                    .collect(),
            ),
        }
    }

    fn emit(&self, out: &mut Vec<u8>) {
        match self {
            J::Null => out.extend_from_slice(b"null"),
            J::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            J::Num(n) => out.extend_from_slice(n.as_bytes()),
            J::Str(s) => out.extend_from_slice(Value::String(s.clone()).to_string().as_bytes()),
            J::RawStr(s) => {
                out.push(b'"');
                out.extend_from_slice(s.as_bytes());
                out.push(b'"');
            }
            J::Arr(a) => {
                out.push(b'[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.emit(out);
                }
                out.push(b']');
            }
            J::Obj(o) => {
                out.push(b'{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(Value::String(k.clone()).to_string().as_bytes());
                    out.push(b':');
                    v.emit(out);
                }
                out.push(b'}');
            }
            J::Deep(depth, obj) => {
                for _ in 0..*depth {
                    out.extend_from_slice(if *obj { b"{\"a\":" } else { b"[" });
                }
                out.push(b'1');
                for _ in 0..*depth {
                    out.push(if *obj { b'}' } else { b']' });
                }
            }
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(&mut out);
        out
    }

    fn contains_str(&self, needle: &str) -> bool {
        match self {
            J::Str(s) => s == needle,
            J::Arr(a) => a.iter().any(|v| v.contains_str(needle)),
            J::Obj(o) => o.iter().any(|(k, v)| k == needle || v.contains_str(needle)),
            _ => false,
        }
    }
}

fn weird(g: &mut StdRng) -> J {
    match g.gen_range(0..11) {
        0 => J::Null,
        1 => J::Bool(g.gen()),
        2 | 3 => J::Num((*NUMS.choose(g).unwrap_or(&"0")).to_owned()),
        4 | 5 => J::Str(odd_string(g)),
        6 => J::RawStr((*BAD_ESCAPES.choose(g).unwrap_or(&"\\ud800")).to_owned()),
        7 => {
            let n = g.gen_range(0..3);
            J::Arr((0..n).map(|_| J::Str(odd_string(g))).collect())
        }
        8 => J::Obj(if g.gen() {
            Vec::new()
        } else {
            vec![(odd_string(g), J::Null)]
        }),
        9 => J::Deep(
            *[10, 127, 128, 129, 200, 5_000, 50_000]
                .choose(g)
                .unwrap_or(&200),
            g.gen(),
        ),
        _ => J::Str(String::new()),
    }
}

/// One structural mutation somewhere in `j`.
fn mutate(j: &mut J, g: &mut StdRng, notes: &mut Vec<&'static str>) {
    let descend = match j {
        J::Arr(a) => !a.is_empty() && g.gen_bool(0.6),
        J::Obj(o) => !o.is_empty() && g.gen_bool(0.6),
        _ => false,
    };
    if descend {
        match j {
            J::Arr(a) => {
                let i = g.gen_range(0..a.len());
                mutate(&mut a[i], g, notes);
            }
            J::Obj(o) => {
                let i = g.gen_range(0..o.len());
                mutate(&mut o[i].1, g, notes);
            }
            _ => {}
        }
        return;
    }
    match j {
        J::Obj(o) if !o.is_empty() && g.gen_bool(0.6) => match g.gen_range(0..5) {
            0 => {
                let i = g.gen_range(0..o.len());
                o.remove(i);
                notes.push("drop field");
            }
            1 => {
                let i = g.gen_range(0..o.len());
                let v = if g.gen() { o[i].1.clone() } else { weird(g) };
                o.push((o[i].0.clone(), v));
                notes.push("duplicate key");
            }
            2 => {
                o.push((odd_string(g), weird(g)));
                notes.push("extra key");
            }
            3 => {
                let i = g.gen_range(0..o.len());
                o[i].0 = odd_string(g);
                notes.push("odd key");
            }
            _ => {
                o.clear();
                notes.push("empty object");
            }
        },
        J::Arr(a) if !a.is_empty() && g.gen_bool(0.6) => match g.gen_range(0..5) {
            0 => {
                let i = g.gen_range(0..a.len());
                a.remove(i);
                notes.push("drop entry");
            }
            1 => {
                let i = g.gen_range(0..a.len());
                a.push(a[i].clone());
                notes.push("duplicate entry");
            }
            2 => {
                a.push(weird(g));
                notes.push("odd entry");
            }
            3 => {
                let first = a[0].clone();
                let small = first.bytes().len() < 200;
                let n = if small && g.gen_bool(0.1) {
                    10_000
                } else {
                    1_001
                };
                while a.len() < n {
                    a.push(first.clone());
                }
                notes.push("oversized list");
            }
            _ => {
                a.clear();
                notes.push("empty list");
            }
        },
        J::Str(s) if g.gen_bool(0.5) => match g.gen_range(0..4) {
            0 => {
                s.push_str(&odd_string(g));
                notes.push("odd unicode");
            }
            1 => {
                *s = format!("{}{s}", odd_string(g));
                notes.push("odd unicode");
            }
            2 => {
                *j = J::RawStr((*BAD_ESCAPES.choose(g).unwrap_or(&"\\ud800")).to_owned());
                notes.push("bad escape");
            }
            _ => {
                let times = *[100, 3_000].choose(g).unwrap_or(&100);
                let unit = if s.is_empty() {
                    "x".to_owned()
                } else {
                    s.clone()
                };
                let n = times.min(64 * 1024 / unit.len().max(1)).max(2);
                *s = unit.repeat(n);
                notes.push("long string");
            }
        },
        _ => {
            let w = weird(g);
            notes.push(match &w {
                J::Null => "null",
                J::Num(_) => "huge or odd number",
                J::Str(_) => "odd string",
                J::RawStr(_) => "bad escape",
                J::Deep(..) => "deep nesting",
                _ => "swap type",
            });
            *j = w;
        }
    }
}

/// A byte-level mutation of an encoded body. `safe` limits it to mutations that can only
/// make a body unparseable (never turn one value into another).
fn mutate_bytes(b: &mut Vec<u8>, g: &mut StdRng, safe: bool, notes: &mut Vec<&'static str>) {
    let pick = if safe {
        *[0, 1, 3, 4, 5].choose(g).unwrap_or(&0)
    } else {
        g.gen_range(0..8)
    };
    match pick {
        0 if b.len() > 1 => {
            let at = g.gen_range(1..b.len());
            b.truncate(at);
            notes.push("truncated JSON");
        }
        1 => {
            let quotes: Vec<usize> = b
                .iter()
                .enumerate()
                .filter(|(_, c)| **c == b'"')
                .map(|(i, _)| i + 1)
                .collect();
            let at = quotes
                .choose(g)
                .copied()
                .unwrap_or_else(|| g.gen_range(0..=b.len()));
            let bad = *INVALID_UTF8.choose(g).unwrap_or(&&b"\xff"[..]);
            b.splice(at..at, bad.iter().copied());
            notes.push("invalid UTF-8");
        }
        2 if !b.is_empty() => {
            let at = g.gen_range(0..b.len());
            b[at] ^= 1 << g.gen_range(0..8);
            notes.push("flipped byte");
        }
        3 => {
            b.splice(0..0, [0xEF, 0xBB, 0xBF]);
            notes.push("BOM");
        }
        4 => {
            let tail: &[u8] = [&b"}"[..], b",", b"]", b"\0", b" x", b"{}"]
                .choose(g)
                .copied()
                .unwrap_or(b"}");
            b.extend_from_slice(tail);
            notes.push("trailing garbage");
        }
        5 => {
            if let Some(i) = b.iter().position(|c| *c == b'{' || *c == b'[') {
                b.splice(i + 1..i + 1, b"/* c */".iter().copied());
            } else {
                b.extend_from_slice(b"//");
            }
            notes.push("comment");
        }
        6 => {
            *b = NON_JSON.choose(g).copied().unwrap_or(b"").to_vec();
            notes.push("not JSON");
        }
        _ => {
            for _ in 0..g.gen_range(1..4) {
                let at = g.gen_range(0..=b.len());
                b.insert(at, 0);
            }
            notes.push("NUL bytes");
        }
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| format!("reply is not valid gzip: {e}"))?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The fixture and the apps
// ---------------------------------------------------------------------------------------

/// Everything a case generator may need.
struct Ctx {
    base: String,
    addr: String,
    /// The app with known state: writes to it are invalid by construction.
    a: Value,
    /// Scratch app for writes that may succeed.
    b: Value,
    /// Scratch app for admin writes.
    c: Value,
    /// A live Getui token of A, for the fuzz only.
    token_a: String,
    cids: Vec<String>,
    aliases: Vec<String>,
    tags: Vec<String>,
    /// `user_id` values of A's users.
    userids: Vec<String>,
    uids: Vec<i64>,
    /// Invalid strings Growth `register` on A sends (checked absent afterwards).
    growth_invalid: Vec<String>,
    now_ms: i64,
    /// A channel key of C, for the grant route.
    c_channel: String,
}

fn basic(user: &str, pass: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

fn getui_auth(app: &Value) -> String {
    basic(
        s(&app["getui"]["app_key"]),
        s(&app["getui"]["master_secret"]),
    )
}

async fn post(http: &reqwest::Client, url: String, auth: &str, body: Value) -> (u16, Value) {
    let r = http
        .post(url)
        .header("authorization", auth)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(http: &reqwest::Client, url: String, auth: Option<(&str, &str)>) -> (u16, Value) {
    let mut req = http.get(url);
    if let Some((k, v)) = auth {
        req = req.header(k, v);
    }
    let r = req.send().await.expect("send");
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn setup(http: &reqwest::Client, base: &str) -> Ctx {
    let addr = base.trim_start_matches("http://").to_owned();
    let a = roster_testkit::create_app(http, base, ADMIN_TOKEN).await;
    let b = roster_testkit::create_app(http, base, ADMIN_TOKEN).await;
    let c = roster_testkit::create_app(http, base, ADMIN_TOKEN).await;
    let a_id = s(&a["app_id"]).to_owned();
    let devices: Vec<Value> = (0..12)
        .map(|i| {
            let brand = ["hw", "xm", "op", "iphone"][i % 4];
            let region = ["11000000", "11010000", "31010000"][i % 3];
            json!({
                "phone_type": if i % 3 == 0 { "ios" } else { "android" },
                "brand": brand,
                "phone_model": format!("model {i}"),
                "region": region,
                "app_version": "2.1.0",
                "properties": { "screen": "1080p", "n": i },
            })
        })
        .collect();
    let cids = roster_testkit::register(http, base, &a, Value::Array(devices)).await;
    let g = roster_testkit::Getui::connect(http, base, &a).await;
    let aliases: Vec<String> = ["fxAliasOne", "fxAliasTwo", "fxAlias张三", "fxShared"]
        .map(String::from)
        .to_vec();
    let binds = json!({ "data_list": [
        { "cid": cids[0], "alias": aliases[0] },
        { "cid": cids[1], "alias": aliases[1] },
        { "cid": cids[2], "alias": aliases[2] },
        { "cid": cids[5], "alias": aliases[3] },
        { "cid": cids[6], "alias": aliases[3] },
    ]});
    g.post("/user/alias", binds).await.ok();
    let mut tags = vec!["fxTagAll".to_owned(), "fxTagBatch".to_owned()];
    for (i, cid) in cids.iter().enumerate().take(8) {
        let own = format!("fxTag{i}");
        g.post(
            &format!("/user/custom_tag/cid/{cid}"),
            json!({ "custom_tag": [tags[0], own] }),
        )
        .await
        .ok();
        tags.push(own);
    }
    g.put(
        "/user/custom_tag/batch/fxTagBatch",
        json!({ "cid": cids[8..11] }),
    )
    .await
    .ok();
    g.post(
        &format!("/user/badge/cid/{},{}", cids[0], cids[3]),
        json!({ "badge": "+3" }),
    )
    .await
    .ok();
    g.post(&format!("/user/black/cid/{}", cids[10]), Value::Null)
        .await
        .ok();
    let auth = getui_auth(&a);
    let now_ms = roster_core::time::now_ms();
    for (i, kind) in [(2, "login"), (3, "login"), (3, "offline"), (4, "online")] {
        let r = http
            .post(format!(
                "{base}/api/v1/apps/{a_id}/devices/{}/events",
                cids[i]
            ))
            .header("authorization", &auth)
            .json(&json!({ "type": kind, "at": now_ms - 1_000 }))
            .send()
            .await
            .expect("event");
        assert_eq!(r.status(), 204, "fixture event");
    }
    let sender = s(&a["ums"]["app_sender_code"]).to_owned();
    let ums_auth = basic(s(&a["ums"]["access_key"]), s(&a["ums"]["access_secret"]));
    let (st, r) = post(
        http,
        format!("{base}/v1/user/opt"),
        &ums_auth,
        json!([
            { "userid": "fxUserA", "set": { "phone": { "all": "13800000000" }, "email": { "all": "a@example.com" },
              "tag": { "all": ["vip"] }, "app": { sender.clone(): [cids[0]] } } },
            { "userid": "fxUserB", "set": { "dingtalkcc": "dt1", "wechatwk": { "all": "wk1" } } },
        ]),
    )
    .await;
    assert_eq!(
        (st, &r["data"]["success"]),
        (200, &json!(["fxUserA", "fxUserB"]))
    );
    let growth_auth = basic(
        s(&a["growth"]["project_id"]),
        s(&a["growth"]["project_secret"]),
    );
    let register = |values: Vec<String>| {
        post(
            http,
            format!("{base}/smartop/api/v1/user/register"),
            &growth_auth,
            json!({ "identityName": "user_id", "identityValues": values }),
        )
    };
    let (st, _) = register(vec!["fxGrowth1".into(), "fxGrowth2".into()]).await;
    assert_eq!(st, 200);
    let (st, r) = post(
        http,
        format!("{base}/api/v1/apps/{a_id}/users"),
        &auth,
        json!({ "identities": { "user_id": "fxIdent1", "registration_id": [cids[1]] },
                "properties": { "lang": "zh", "n": 1 }, "contacts": { "email": "i@example.com" } }),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    let userids: Vec<String> = ["fxUserA", "fxUserB", "fxGrowth1", "fxGrowth2", "fxIdent1"]
        .map(String::from)
        .to_vec();
    let (_, r) = register(userids.clone()).await;
    let uids: Vec<i64> = r["data"]
        .as_array()
        .expect("cuids")
        .iter()
        .map(|d| d["cuid"].as_i64().expect("cuid"))
        .collect();
    // C: a channel for the grant route.
    let r = http
        .post(format!(
            "{base}/admin/v1/apps/{}/ums/channels",
            s(&c["app_id"])
        ))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "channel_code": "fxchannel" }))
        .send()
        .await
        .expect("channel");
    assert_eq!(r.status(), 201);
    let ch: Value = r.json().await.expect("json");
    let token_a = roster_testkit::Getui::connect(http, base, &a).await.token;
    Ctx {
        base: base.to_owned(),
        addr,
        token_a,
        cids,
        aliases,
        tags,
        userids,
        uids,
        // Over 256 characters. (Blank values such as " " are valid identity values.)
        growth_invalid: vec!["x".repeat(257), "张".repeat(257), "😀".repeat(300)],
        now_ms,
        c_channel: s(&ch["channel_key"]).to_owned(),
        a,
        b,
        c,
    }
}

// ---------------------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum R {
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
const ROUTES: &[(R, u32, &str, &[&str])] = &[
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

fn template(r: R) -> &'static str {
    ROUTES
        .iter()
        .find(|(x, ..)| *x == r)
        .map_or("?", |(_, _, t, _)| t)
}

fn pick_route(g: &mut StdRng) -> (R, &'static [&'static str]) {
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

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];
const ODD_METHODS: &[&str] = &["PURGE", "get", "FOO_BAR", "M-SEARCH"];

fn pick_method(g: &mut StdRng, own: &[&str]) -> String {
    let m = if g.gen_bool(0.8) {
        own.choose(g)
    } else if g.gen_bool(0.9) {
        METHODS.choose(g)
    } else {
        ODD_METHODS.choose(g)
    };
    (*m.unwrap_or(&"GET")).to_owned()
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Token(String),
    Basic(String, String),
    Bearer(String),
}

/// What a tracked identifier is, and so how its absence is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum TrackKind {
    UmsUser,
    GrowthValue,
    Identity(&'static str),
    Device,
    IdentityName,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Tracked {
    kind: TrackKind,
    id: String,
}

/// A route's request before mutations.
struct Base {
    path: String,
    body: Option<J>,
    auth: Auth,
    track: Vec<Tracked>,
    /// Growth on A: no structural mutation, only byte mutations that break the body.
    safe: bool,
}

/// A cid that does not exist, unique to the case.
fn ghost(case: u64, k: usize) -> String {
    format!("fzghost{case}c{k}")
}

fn uniq(case: u64, kind: char, k: usize) -> String {
    format!("fz{case}{kind}{k}z")
}

impl Ctx {
    fn id(app: &Value) -> String {
        s(&app["app_id"]).to_owned()
    }

    /// The app segment of a route of app `app`: mostly its id, sometimes another app's
    /// (only when `other_ok`, for routes whose credentials then fail), or junk.
    fn app_seg(&self, g: &mut StdRng, app: &Value, other_ok: bool) -> String {
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

    fn cid_seg(&self, g: &mut StdRng, read: bool, case: u64) -> String {
        if g.gen_bool(0.2) {
            return junk_segment(g);
        }
        if read && g.gen_bool(0.8) {
            return self.cids.choose(g).cloned().unwrap_or_default();
        }
        ghost(case, 0)
    }

    fn cid_list_seg(&self, g: &mut StdRng, read: bool, case: u64) -> String {
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

    fn token_auth(&self) -> Auth {
        Auth::Token(self.token_a.clone())
    }

    fn app_basic(app: &Value) -> Auth {
        Auth::Basic(
            s(&app["getui"]["app_key"]).to_owned(),
            s(&app["getui"]["master_secret"]).to_owned(),
        )
    }
}

fn build_base(ctx: &Ctx, r: R, method: &str, case: u64, g: &mut StdRng) -> Base {
    let read = method == "GET" || method == "HEAD";
    let a = &ctx.a;
    let mut track = Vec::new();
    let mut safe = false;
    let (path, body, auth): (String, Option<Value>, Auth) = match r {
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
            (
                format!("/v2/{}/auth", ctx.app_seg(g, a, true)),
                Some(json!({ "sign": sign, "timestamp": ts, "appkey": key })),
                Auth::None,
            )
        }
        R::GRevoke => {
            let token = if g.gen() {
                format!("{:032x}", g.gen::<u128>())
            } else {
                junk_segment(g)
            };
            (
                format!("/v2/{}/auth/{token}", ctx.app_seg(g, a, true)),
                if g.gen() { Some(Value::Null) } else { None },
                Auth::None,
            )
        }
        R::GAlias => {
            let n = g.gen_range(1..4);
            let list: Vec<Value> = (0..n)
                .map(|k| json!({ "cid": ghost(case, k), "alias": format!("fzalias{k}") }))
                .collect();
            (
                format!("/v2/{}/user/alias", ctx.app_seg(g, a, true)),
                Some(json!({ "data_list": list })),
                ctx.token_auth(),
            )
        }
        R::GAliasOfCid => (
            format!(
                "/v2/{}/user/alias/cid/{}",
                ctx.app_seg(g, a, true),
                ctx.cid_seg(g, read, case)
            ),
            None,
            ctx.token_auth(),
        ),
        R::GCidsOfAlias => {
            let alias = if read && g.gen_bool(0.6) {
                enc(ctx.aliases.choose(g).map_or("", String::as_str))
            } else {
                junk_segment(g)
            };
            (
                format!("/v2/{}/user/cid/alias/{alias}", ctx.app_seg(g, a, true)),
                None,
                ctx.token_auth(),
            )
        }
        R::GAliasUnbindAll => {
            // Never an alias of the fixture: unbinding one would be a valid write.
            let alias = if g.gen() {
                format!("fzghostalias{case}")
            } else {
                junk_segment(g)
            };
            (
                format!("/v2/{}/user/alias/{alias}", ctx.app_seg(g, a, true)),
                None,
                ctx.token_auth(),
            )
        }
        R::GTagCid => {
            let body = (!read).then(|| json!({ "custom_tag": ["fztag1", "fztag2"] }));
            (
                format!(
                    "/v2/{}/user/custom_tag/cid/{}",
                    ctx.app_seg(g, a, true),
                    ctx.cid_seg(g, read, case)
                ),
                body,
                ctx.token_auth(),
            )
        }
        R::GTagBatch => {
            let tag = if g.gen_bool(0.6) {
                enc(ctx.tags.choose(g).map_or("", String::as_str))
            } else {
                junk_segment(g)
            };
            let n = g.gen_range(1..4);
            let cids: Vec<String> = (0..n).map(|k| ghost(case, k)).collect();
            (
                format!(
                    "/v2/{}/user/custom_tag/batch/{tag}",
                    ctx.app_seg(g, a, true)
                ),
                Some(json!({ "cid": cids })),
                ctx.token_auth(),
            )
        }
        R::GBlack => (
            format!(
                "/v2/{}/user/black/cid/{}",
                ctx.app_seg(g, a, true),
                ctx.cid_list_seg(g, false, case)
            ),
            if g.gen() { Some(Value::Null) } else { None },
            ctx.token_auth(),
        ),
        R::GStatus | R::GDeviceStatus | R::GDetail => {
            let name = match r {
                R::GStatus => "status",
                R::GDeviceStatus => "deviceStatus",
                _ => "detail",
            };
            (
                format!(
                    "/v2/{}/user/{name}/{}",
                    ctx.app_seg(g, a, true),
                    ctx.cid_list_seg(g, read, case)
                ),
                None,
                ctx.token_auth(),
            )
        }
        R::GBadge => {
            let badge = [json!("+1"), json!("-2"), json!("5"), json!(3)]
                .choose(g)
                .cloned()
                .unwrap_or(json!("+1"));
            (
                format!(
                    "/v2/{}/user/badge/cid/{}",
                    ctx.app_seg(g, a, true),
                    ctx.cid_list_seg(g, false, case)
                ),
                Some(json!({ "badge": badge })),
                ctx.token_auth(),
            )
        }
        R::GBindDt => {
            let kind = if g.gen_bool(0.8) {
                (*["wx", "hw", "xm", "ios", "nope"].choose(g).unwrap_or(&"wx")).to_owned()
            } else {
                junk_segment(g)
            };
            let n = g.gen_range(1..3);
            let list: Vec<Value> = (0..n)
                .map(|k| json!({ "cid": ghost(case, k), "device_token": format!("tok{k}") }))
                .collect();
            (
                format!("/v2/{}/user/bind_dt/{kind}", ctx.app_seg(g, a, true)),
                Some(json!({ "dt_list": list })),
                ctx.token_auth(),
            )
        }
        R::GCount => (
            format!("/v2/{}/user/count", ctx.app_seg(g, a, true)),
            Some(json!({ "tag": [
                { "key": "phone_type", "values": ["android"], "opt_type": "or" },
                { "key": "region", "values": ["11000000", "31010000"], "opt_type": "or" },
                { "key": "custom_tag", "values": [ctx.tags.choose(g)], "opt_type": "not" },
            ]})),
            ctx.token_auth(),
        ),
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
        R::UmsOpt => {
            let b = &ctx.b;
            let sender = s(&b["ums"]["app_sender_code"]);
            let (u0, u1) = (uniq(case, 'u', 0), uniq(case, 'u', 1));
            track.push(Tracked {
                kind: TrackKind::UmsUser,
                id: u0.clone(),
            });
            track.push(Tracked {
                kind: TrackKind::UmsUser,
                id: u1.clone(),
            });
            let auth = if g.gen_bool(0.7) {
                Auth::Basic(
                    s(&b["ums"]["access_key"]).to_owned(),
                    s(&b["ums"]["access_secret"]).to_owned(),
                )
            } else {
                Auth::Basic(
                    s(&b["ums"]["channel_key"]).to_owned(),
                    s(&b["ums"]["channel_master_secret"]).to_owned(),
                )
            };
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
            let auth = if g.gen_bool(0.85) {
                Auth::Basic(
                    s(&a["ums"]["access_key"]).to_owned(),
                    s(&a["ums"]["access_secret"]).to_owned(),
                )
            } else {
                Auth::Basic(
                    s(&a["ums"]["channel_key"]).to_owned(),
                    s(&a["ums"]["channel_master_secret"]).to_owned(),
                )
            };
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
            Auth::Basic(
                s(&ctx.b["ums"]["access_key"]).to_owned(),
                s(&ctx.b["ums"]["access_secret"]).to_owned(),
            ),
        ),
        R::GrowthB => {
            let b = &ctx.b;
            let values: Vec<String> = (0..g.gen_range(1..4)).map(|k| uniq(case, 'g', k)).collect();
            for v in &values {
                track.push(Tracked {
                    kind: TrackKind::GrowthValue,
                    id: v.clone(),
                });
            }
            (
                "/smartop/api/v1/user/register".into(),
                Some(json!({ "identityName": "user_id", "identityValues": values })),
                Auth::Basic(
                    s(&b["growth"]["project_id"]).to_owned(),
                    s(&b["growth"]["project_secret"]).to_owned(),
                ),
            )
        }
        R::GrowthA => {
            safe = true;
            (
                "/smartop/api/v1/user/register".into(),
                Some(growth_a_body(ctx, g)),
                Auth::Basic(
                    s(&a["growth"]["project_id"]).to_owned(),
                    s(&a["growth"]["project_secret"]).to_owned(),
                ),
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
            Auth::Basic(
                s(&ctx.b["growth"]["project_id"]).to_owned(),
                s(&ctx.b["growth"]["project_secret"]).to_owned(),
            ),
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
                Auth::Basic(
                    s(&a["engagelab"]["api_key"]).to_owned(),
                    s(&a["engagelab"]["api_secret"]).to_owned(),
                ),
            )
        }
        R::ProfileUnknown => (
            (*["/v1/user/profile/x", "/v1/user/profile/1/2"]
                .choose(g)
                .unwrap_or(&"/v1/user/profile/x"))
            .to_owned(),
            Some(json!({ "euid": [1] })),
            Auth::Basic(
                s(&a["engagelab"]["api_key"]).to_owned(),
                s(&a["engagelab"]["api_secret"]).to_owned(),
            ),
        ),
        R::NCreateApp => (
            "/admin/v1/apps".into(),
            Some(json!({ "name": "fuzz app" })),
            Auth::Bearer(ADMIN_TOKEN.into()),
        ),
        R::NDtTypes => (
            format!(
                "/admin/v1/apps/{}/getui/bind_dt_types",
                ctx.app_seg(g, &ctx.c, false)
            ),
            Some(json!({ "types": ["hw", "xm"] })),
            Auth::Bearer(ADMIN_TOKEN.into()),
        ),
        R::NIdentityNames => {
            let name = uniq(case, 'n', 0);
            track.push(Tracked {
                kind: TrackKind::IdentityName,
                id: name.clone(),
            });
            (
                format!(
                    "/admin/v1/apps/{}/identity_names",
                    ctx.app_seg(g, &ctx.c, false)
                ),
                Some(json!({ "name": name, "unique": true, "priority": 1 })),
                Auth::Bearer(ADMIN_TOKEN.into()),
            )
        }
        R::NChannels => (
            format!(
                "/admin/v1/apps/{}/ums/channels",
                ctx.app_seg(g, &ctx.c, false)
            ),
            Some(json!({ "channel_code": uniq(case, 'c', 0) })),
            Auth::Bearer(ADMIN_TOKEN.into()),
        ),
        R::NSenders => (
            format!(
                "/admin/v1/apps/{}/ums/senders",
                ctx.app_seg(g, &ctx.c, false)
            ),
            Some(json!({ "kind": "wechatoa", "code": uniq(case, 's', 0) })),
            Auth::Bearer(ADMIN_TOKEN.into()),
        ),
        R::NGrant => {
            let ch = if g.gen() {
                ctx.c_channel.clone()
            } else {
                junk_segment(g)
            };
            let sender = if g.gen() {
                s(&ctx.c["ums"]["app_sender_code"]).to_owned()
            } else {
                junk_segment(g)
            };
            (
                format!(
                    "/admin/v1/apps/{}/ums/channels/{ch}/senders/{sender}",
                    ctx.app_seg(g, &ctx.c, false)
                ),
                None,
                Auth::Bearer(ADMIN_TOKEN.into()),
            )
        }
        R::NDevices => {
            let b = &ctx.b;
            let (d0, d1) = (uniq(case, 'd', 0), uniq(case, 'd', 1));
            track.push(Tracked {
                kind: TrackKind::Device,
                id: d0.clone(),
            });
            track.push(Tracked {
                kind: TrackKind::Device,
                id: d1.clone(),
            });
            (
                format!("/api/v1/apps/{}/devices", ctx.app_seg(g, b, false)),
                Some(json!([
                    { "cid": d0, "phone_type": "android", "brand": "hw", "phone_model": "m",
                      "package_name": "p", "client_app_id": "c", "device_token": "t",
                      "notification_switch": true, "region": "11000000", "app_version": "1",
                      "os": "14", "properties": { "k": "v" }, "kind": "app" },
                    { "cid": d1, "phone_type": "ios" },
                ])),
                Ctx::app_basic(b),
            )
        }
        R::NDevice => (
            format!(
                "/api/v1/apps/{}/devices/{}",
                ctx.app_seg(g, a, true),
                ctx.cid_seg(g, read, case)
            ),
            None,
            Ctx::app_basic(a),
        ),
        R::NEvents => (
            format!(
                "/api/v1/apps/{}/devices/{}/events",
                ctx.app_seg(g, a, true),
                ctx.cid_seg(g, false, case)
            ),
            Some(json!({ "type": "login", "at": ctx.now_ms })),
            Ctx::app_basic(a),
        ),
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
            (
                format!(
                    "/api/v1/apps/{}/audience/{}",
                    ctx.app_seg(g, a, true),
                    if r == R::NCount { "count" } else { "cids" }
                ),
                Some(json!({ "selector": selector, "exclude_blacklisted": true,
                             "exclude_notification_off": false })),
                Ctx::app_basic(a),
            )
        }
        R::NUsers => {
            let b = &ctx.b;
            let (i0, i1) = (uniq(case, 'i', 0), uniq(case, 'i', 1));
            track.push(Tracked {
                kind: TrackKind::Identity("user_id"),
                id: i0.clone(),
            });
            track.push(Tracked {
                kind: TrackKind::Identity("anonymous_id"),
                id: i1.clone(),
            });
            (
                format!("/api/v1/apps/{}/users", ctx.app_seg(g, b, false)),
                Some(
                    json!({ "identities": { "user_id": i0, "anonymous_id": [i1] },
                             "properties": { "lang": "zh", "n": 1, "nested": { "a": [1, 2] } },
                             "contacts": { "email": "x@example.com", "mobile_phone": "13800000000" } }),
                ),
                Ctx::app_basic(b),
            )
        }
        R::NUser => {
            let uid = if read && g.gen_bool(0.6) {
                ctx.uids.choose(g).map(i64::to_string).unwrap_or_default()
            } else {
                junk_segment(g)
            };
            (
                format!("/api/v1/apps/{}/users/{uid}", ctx.app_seg(g, a, true)),
                None,
                Ctx::app_basic(a),
            )
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
            (
                format!(
                    "/api/v1/apps/{}/users/by_identity/{name}/{value}",
                    ctx.app_seg(g, a, true)
                ),
                None,
                Ctx::app_basic(a),
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
            (
                p.choose(g).cloned().unwrap_or_default(),
                Some(json!({ "x": 1 })),
                Ctx::app_basic(a),
            )
        }
    };
    Base {
        path,
        body: body.map(|v| J::from_value(&v)),
        auth,
        track,
        safe,
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

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The envelope of the dialect that owns the path.
    Dialect,
    /// The dialect's, or the HTTP parser's own refusal (400, 414 or 431 in the native
    /// envelope, closing the connection): whether the parser accepts such a request is
    /// hyper's business.
    Either,
}

enum Wire {
    Http {
        method: Method,
        url: String,
        headers: Vec<(String, Vec<u8>)>,
        body: Option<Vec<u8>>,
    },
    Raw {
        bytes: Vec<u8>,
        half_close: bool,
    },
}

struct Case {
    id: u64,
    route: R,
    method: String,
    /// The path as sent (for the envelope), lossily decoded.
    path: String,
    wire: Wire,
    notes: Vec<&'static str>,
    track: Vec<Tracked>,
    expect: Expect,
    /// The bytes are no complete HTTP/1 request (only blank lines, a head the client
    /// ends with FIN, or the HTTP/2 preface, on which hyper closes without a reply by
    /// design), so a close without a reply is fine.
    silent_ok: bool,
}

impl Case {
    fn head(&self) -> bool {
        self.method == "HEAD"
    }

    fn describe(&self) -> String {
        match &self.wire {
            Wire::Http {
                method,
                url,
                headers,
                body,
            } => {
                let mut out = format!("{method} {}\n", preview(url.as_bytes(), 600));
                for (k, v) in headers {
                    let _ = writeln!(out, "{k}: {}", preview(v, 200));
                }
                if let Some(b) = body {
                    let _ = write!(out, "\n{}", preview(b, 600));
                }
                out
            }
            Wire::Raw { bytes, half_close } => format!(
                "raw{}: {}",
                if *half_close { " (then FIN)" } else { "" },
                preview(bytes, 900)
            ),
        }
    }
}

fn preview(b: &[u8], max: usize) -> String {
    let mut s = String::new();
    for &c in b.iter().take(max) {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    if b.len() > max {
        let _ = write!(s, "… ({} bytes)", b.len());
    }
    s
}

fn auth_headers(
    auth: &Auth,
    g: &mut StdRng,
    notes: &mut Vec<&'static str>,
) -> Vec<(String, Vec<u8>)> {
    let valid: Option<(&str, String)> = match auth {
        Auth::None => None,
        Auth::Token(t) => Some(("token", t.clone())),
        Auth::Basic(u, p) => Some(("authorization", basic(u, p))),
        Auth::Bearer(t) => Some(("authorization", format!("Bearer {t}"))),
    };
    let Some((name, value)) = valid else {
        return Vec::new();
    };
    let h = |n: &str, v: &[u8]| (n.to_owned(), v.to_vec());
    if g.gen_bool(0.85) {
        return vec![h(name, value.as_bytes())];
    }
    let wrong: Vec<u8> = match auth {
        Auth::Token(_) => format!("{:032x}", g.gen::<u128>()).into_bytes(),
        Auth::Basic(u, _) => basic(u, "wrong-secret").into_bytes(),
        _ => b"Bearer wrong-token".to_vec(),
    };
    match g.gen_range(0..11) {
        0 => {
            notes.push("missing auth");
            Vec::new()
        }
        1 => {
            notes.push("wrong auth");
            vec![h(name, &wrong)]
        }
        2 => {
            notes.push("duplicated auth header");
            vec![h(name, value.as_bytes()), h(name, &wrong)]
        }
        3 => {
            notes.push("duplicated auth header");
            vec![h(name, &wrong), h(name, value.as_bytes())]
        }
        4 => {
            notes.push("malformed auth");
            let v: &[u8] = [
                &b"Basic"[..],
                b"Basic !!!!",
                b"Basic bm9jb2xvbg==",
                b"Basic Og==",
                b"Bearer",
                b"Bearer ",
                b"basic Zm9vOmJhcg==",
                b"Digest x",
            ]
            .choose(g)
            .copied()
            .unwrap_or(b"Basic");
            vec![h(name, v)]
        }
        5 => {
            notes.push("non-ASCII auth");
            let mut v = value.into_bytes();
            v.extend_from_slice(b"\xff\xfe\x80");
            vec![h(name, &v)]
        }
        6 => {
            notes.push("huge auth header");
            vec![h(name, "A".repeat(20_000).as_bytes())]
        }
        7 => {
            notes.push("empty auth header");
            vec![h(name, b"")]
        }
        8 => {
            notes.push("auth in the wrong header");
            let other = if name == "token" {
                "authorization"
            } else {
                "token"
            };
            vec![h(other, value.as_bytes())]
        }
        9 => {
            notes.push("padded auth");
            vec![h(name, format!("  {value}  ").as_bytes())]
        }
        _ => {
            notes.push("lowercase scheme");
            let v = value
                .replacen("Basic ", "basic ", 1)
                .replacen("Bearer ", "bearer ", 1);
            vec![h(name, v.as_bytes())]
        }
    }
}

fn content_type(g: &mut StdRng, notes: &mut Vec<&'static str>) -> Vec<(String, Vec<u8>)> {
    let ct = |v: &str| vec![("content-type".to_owned(), v.as_bytes().to_vec())];
    if g.gen_bool(0.75) {
        return ct("application/json");
    }
    notes.push("odd content-type");
    match g.gen_range(0..9) {
        0 => Vec::new(),
        1 => ct("text/plain"),
        2 => ct("application/x-www-form-urlencoded"),
        3 => ct("application/json; charset=gbk"),
        4 => ct("application/vnd.roster+json"),
        5 => ct("application/jsonx"),
        6 => vec![(
            "content-type".to_owned(),
            b"application/\xff\xfejson".to_vec(),
        )],
        7 => {
            let mut v = ct("application/json");
            v.extend(ct("text/plain"));
            v
        }
        _ => ct("application/json;charset=utf-8"),
    }
}

/// Builds case `id` of `seed`.
fn gen_case(ctx: &Ctx, seed: u64, id: u64) -> Case {
    let mut g = StdRng::seed_from_u64(seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let g = &mut g;
    // Every 8th case walks all (route, method) pairs in turn; the others draw both.
    let (route, own, method) = match id % 8 {
        0 => {
            let k = id / 8;
            let (r, _, _, own) = ROUTES[(k % ROUTES.len() as u64) as usize];
            let m = METHODS[((k / ROUTES.len() as u64) % METHODS.len() as u64) as usize];
            (r, own, m.to_owned())
        }
        _ => {
            let (r, own) = pick_route(g);
            (r, own, pick_method(g, own))
        }
    };
    let base = build_base(ctx, route, &method, id, g);
    let mut notes: Vec<&'static str> = Vec::new();
    if !own.contains(&method.as_str()) {
        notes.push("wrong method");
    }

    // Path
    let mut path = base.path.clone();
    if g.gen_bool(0.06) {
        match g.gen_range(0..5) {
            0 => {
                path.push('/');
                notes.push("trailing slash");
            }
            1 => {
                if let Some(i) = path[1..].find('/') {
                    path.insert(i + 1, '/');
                }
                notes.push("double slash");
            }
            2 => {
                let _ = write!(path, "/{}", junk_segment(g));
                notes.push("extra segment");
            }
            3 => {
                path = path.to_uppercase();
                notes.push("upper-case path");
            }
            _ => {
                if let Some(i) = path.rfind('/').filter(|i| *i > 0) {
                    path.truncate(i);
                }
                notes.push("missing segment");
            }
        }
    }
    if g.gen_bool(0.05) {
        path.push_str(
            [
                "?a=1&a=2",
                "?token=x",
                "?%FF%FE=%00",
                "?",
                "?&&=&",
                "?x=%E4%B8%AD",
            ]
            .choose(g)
            .unwrap_or(&"?"),
        );
        notes.push("query string");
    }

    // Body, and the tracked identifiers that survived its mutations
    let (mut body, track): (Option<Vec<u8>>, Vec<Tracked>) = match &base.body {
        Some(j) => {
            let mut j = j.clone();
            if !base.safe && g.gen_bool(0.85) {
                for _ in 0..g.gen_range(1..=3) {
                    mutate(&mut j, g, &mut notes);
                }
            }
            let mut bytes = j.bytes();
            if bytes.len() > ACCIDENTAL_BODY_MAX {
                // Mutations compound (a long string in an entry, then that entry
                // repeated); bodies over the limit are sent on purpose, below.
                bytes.truncate(ACCIDENTAL_BODY_MAX);
                notes.push("truncated JSON");
            }
            if g.gen_bool(if base.safe { 0.3 } else { 0.2 }) {
                mutate_bytes(&mut bytes, g, base.safe, &mut notes);
            }
            if g.gen_bool(0.04) {
                notes.push("no body");
                (None, Vec::new())
            } else {
                let track = base
                    .track
                    .iter()
                    .filter(|t| j.contains_str(&t.id))
                    .cloned()
                    .collect();
                (Some(bytes), track)
            }
        }
        None if g.gen_bool(0.3) => {
            notes.push("body on a bodiless call");
            let mut j = weird(g);
            if g.gen() {
                j = J::Obj(vec![("x".into(), j)]);
            }
            (Some(j.bytes()), Vec::new())
        }
        None => (None, Vec::new()),
    };

    // Headers
    let mut headers = auth_headers(&base.auth, g, &mut notes);
    if body.is_some() {
        headers.extend(content_type(g, &mut notes));
    } else if g.gen_bool(0.1) {
        headers.push(("content-type".into(), b"application/json".to_vec()));
    }
    if g.gen_bool(0.2) {
        headers.push(("accept-encoding".into(), b"gzip".to_vec()));
    }
    if g.gen_bool(0.08) {
        notes.push("odd extra header");
        let extra: (&str, &[u8]) = *[
            ("sdkVersion", &b"4.1.0"[..]),
            ("x-odd", b"\xff\xfe\x80"),
            (
                "x-long",
                b"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
            ),
            ("accept", b"application/xml"),
            ("accept-encoding", b"br, zstd, gzip;q=0, *;q=0"),
            ("content-language", b"zh-CN"),
            ("x-forwarded-for", b"1.2.3.4, \xe4\xb8\xad"),
            ("cookie", b"a=b; a=c"),
        ]
        .choose(g)
        .unwrap_or(&("x-odd", b"1"));
        headers.push((extra.0.to_owned(), extra.1.to_vec()));
    }

    // Encoding and size
    if let Some(b) = body.as_mut() {
        let roll = g.gen_range(0..1000);
        if id % 2_500 == 1_234 {
            let filler = "x".repeat(BODY_LIMIT + 1_024 + g.gen_range(0..512 * 1024));
            *b = format!("{{\"data_list\":[\"{filler}\"],\"x\":\"").into_bytes();
            b.extend_from_slice(b"\"}");
            notes.push("oversized body");
        } else if id % 2_500 == 2_345 {
            let filler = " ".repeat(BODY_LIMIT + 64 * 1024);
            *b = gzip(format!("{{\"x\":\"{filler}\"}}").as_bytes());
            headers.push(("content-encoding".into(), b"gzip".to_vec()));
            notes.push("gzip bomb over the body limit");
        } else if roll < 70 {
            *b = gzip(b);
            headers.push(("content-encoding".into(), b"gzip".to_vec()));
            notes.push("gzip body");
        } else if roll < 100 {
            let mut z = gzip(b);
            match g.gen_range(0..4) {
                0 => z.truncate(z.len() / 2),
                1 => {
                    let n = z.len();
                    if n > 8 {
                        z[n - 6] ^= 0xff;
                    }
                }
                2 => {
                    let n = z.len();
                    if n > 12 {
                        z[10] ^= 0x55;
                    }
                }
                _ => z.splice(0..0, [0u8, 1, 2]).for_each(drop),
            }
            *b = z;
            headers.push(("content-encoding".into(), b"gzip".to_vec()));
            notes.push("corrupt gzip");
        } else if roll < 130 {
            let enc: &[u8] = [
                &b"deflate"[..],
                b"br",
                b"zstd",
                b"compress",
                b"x-unknown",
                b"gzip, gzip",
                b"identity, gzip",
            ]
            .choose(g)
            .copied()
            .unwrap_or(b"br");
            headers.push(("content-encoding".into(), enc.to_vec()));
            notes.push("unsupported content-encoding");
        } else if roll < 140 {
            headers.push(("content-encoding".into(), b"identity".to_vec()));
            notes.push("identity content-encoding");
        }
    }

    let mut case = Case {
        id,
        route,
        method: method.clone(),
        path: path.split('?').next().unwrap_or("").to_owned(),
        wire: Wire::Raw {
            bytes: Vec::new(),
            half_close: false,
        },
        notes,
        track,
        expect: Expect::Dialect,
        silent_ok: false,
    };
    let small = body.as_ref().is_none_or(|b| b.len() <= 8 * 1024);
    if small && g.gen_bool(0.05) {
        raw_case(&mut case, &path, &headers, body.as_deref(), g);
    } else {
        let url = format!("{}{path}", ctx.base);
        // The path as the client will send it.
        if let Ok(u) = reqwest::Url::parse(&url) {
            case.path = u.path().to_owned();
        }
        case.wire = Wire::Http {
            method: Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
            url,
            headers,
            body,
        };
    }
    case
}

const BAD_PCT_STRICT: &[&str] = &[
    "%FF",
    "%E4%B8",
    "ab%FFcd",
    "%C0%AE",
    "%ED%A0%80",
    "%F4%90%80%80",
    "%fe%ff",
];
const BAD_PCT_LOOSE: &[&str] = &["%", "%G1", "%%", "%0", "a%", "%u4E2D"];

/// Turns a case into raw bytes on a socket, with a twist an HTTP client would not send.
fn raw_case(
    case: &mut Case,
    path: &str,
    headers: &[(String, Vec<u8>)],
    body: Option<&[u8]>,
    g: &mut StdRng,
) {
    let mut method = case.method.clone();
    let mut target: Vec<u8> = path.as_bytes().to_vec();
    let mut version: &[u8] = b"HTTP/1.1";
    let mut hs: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"host".to_vec(), b"127.0.0.1".to_vec())];
    hs.extend(
        headers
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone())),
    );
    let mut body: Vec<u8> = body.map(<[u8]>::to_vec).unwrap_or_default();
    let mut cl: Option<Vec<u8>> = Some(body.len().to_string().into_bytes());
    let mut half_close = false;
    let mut expect = Expect::Dialect;
    let mut whole: Option<Vec<u8>> = None;
    let mut env_path: Option<String> = None;
    let last_seg = |t: &mut Vec<u8>, seg: &[u8]| {
        let q = t.iter().position(|c| *c == b'?').unwrap_or(t.len());
        let i = t[..q].iter().rposition(|c| *c == b'/').unwrap_or(0);
        if q > i + 1 {
            t.splice(i + 1..q, seg.iter().copied());
        } else {
            t.splice(q..q, seg.iter().copied());
        }
    };
    let note: &'static str = match g.gen_range(0..12) {
        0 => {
            if g.gen_bool(0.7) {
                last_seg(
                    &mut target,
                    BAD_PCT_STRICT.choose(g).unwrap_or(&"%FF").as_bytes(),
                );
            } else {
                last_seg(
                    &mut target,
                    BAD_PCT_LOOSE.choose(g).unwrap_or(&"%").as_bytes(),
                );
                expect = Expect::Either;
            }
            "bad percent-encoding (raw)"
        }
        1 => {
            let seg: &[u8] = [
                "张三".as_bytes(),
                "é".as_bytes(),
                "😀".as_bytes(),
                b"\xff\xfe",
                "\u{3000}".as_bytes(),
            ]
            .choose(g)
            .copied()
            .unwrap_or(b"\xff");
            last_seg(&mut target, seg);
            expect = Expect::Either;
            "raw UTF-8 or 8-bit bytes in the path (raw)"
        }
        2 => {
            let seg: &[u8] = [
                &b"a\x01b"[..],
                b"\x7f",
                b"a\x00b",
                b"a\tb",
                b"\x1b[0m",
                b"a b",
            ]
            .choose(g)
            .copied()
            .unwrap_or(b"\x01");
            last_seg(&mut target, seg);
            expect = Expect::Either;
            "control bytes in the path (raw)"
        }
        3 => {
            let seg: &[u8] = [&b".."[..], b".", b"../..", b"..\\..", b"%2e%2e", b"a\\b"]
                .choose(g)
                .copied()
                .unwrap_or(b"..");
            last_seg(&mut target, seg);
            "dot segments or backslashes (raw)"
        }
        4 => {
            let n = body.len();
            let other = if g.gen() { n } else { n + 3 };
            hs.push((b"content-length".to_vec(), n.to_string().into_bytes()));
            hs.push((b"content-length".to_vec(), other.to_string().into_bytes()));
            cl = None;
            expect = Expect::Either;
            "duplicated content-length (raw)"
        }
        5 => {
            match g.gen_range(0..5) {
                0 => {
                    let auth: Vec<(Vec<u8>, Vec<u8>)> = hs
                        .iter()
                        .filter(|(k, _)| k == b"authorization" || k == b"token")
                        .cloned()
                        .collect();
                    for (k, _) in auth {
                        hs.insert(1, (k, b"junk".to_vec()));
                    }
                }
                1 => hs.push((b"content-type".to_vec(), b"text/plain".to_vec())),
                2 => {
                    hs.push((b"host".to_vec(), b"other.example".to_vec()));
                    expect = Expect::Either;
                }
                3 => {
                    hs.remove(0);
                    expect = Expect::Either;
                }
                _ => hs.push((b"content-encoding".to_vec(), b"gzip".to_vec())),
            }
            "duplicated or missing headers (raw)"
        }
        6 => {
            expect = Expect::Either;
            cl = None;
            match g.gen_range(0..4) {
                0 => {
                    hs.push((b"transfer-encoding".to_vec(), b"chunked".to_vec()));
                    let mut chunked = format!("{:x}\r\n", body.len()).into_bytes();
                    chunked.extend_from_slice(&body);
                    chunked.extend_from_slice(b"\r\n0\r\n\r\n");
                    if body.is_empty() {
                        chunked = b"0\r\n\r\n".to_vec();
                    }
                    body = chunked;
                    expect = Expect::Dialect;
                }
                1 => {
                    hs.push((b"transfer-encoding".to_vec(), b"chunked".to_vec()));
                    body = b"zz\r\nabc\r\n0\r\n\r\n".to_vec();
                }
                2 => {
                    hs.push((b"transfer-encoding".to_vec(), b"chunked".to_vec()));
                    hs.push((b"content-length".to_vec(), b"5".to_vec()));
                    body = b"5\r\nabcde\r\n0\r\n\r\n".to_vec();
                }
                _ => {
                    hs.push((b"transfer-encoding".to_vec(), b"gzip, chunked".to_vec()));
                    body = b"0\r\n\r\n".to_vec();
                }
            }
            "chunked-encoding errors (raw)"
        }
        7 => {
            let p = String::from_utf8_lossy(&target).to_string();
            let lines: Vec<Vec<u8>> = vec![
                b"GET\r\n\r\n".to_vec(),
                format!("GET {p} HTTP/1.1 extra\r\nhost: x\r\n\r\n").into_bytes(),
                format!("GET {p} HTTP/2.0\r\nhost: x\r\n\r\n").into_bytes(),
                format!("GET {p} HTTP/9.9\r\nhost: x\r\n\r\n").into_bytes(),
                format!("GET {p}\r\n\r\n").into_bytes(),
                format!(" GET {p} HTTP/1.1\r\nhost: x\r\n\r\n").into_bytes(),
                format!("GET  {p}  HTTP/1.1\r\nhost: x\r\n\r\n").into_bytes(),
                b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\x00\x01\x02\x03\r\n\r\n".to_vec(),
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(),
                b"G\x00T / HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(),
                format!("get {p} http/1.1\r\nhost: x\r\n\r\n").into_bytes(),
                b"\r\n\r\n\r\n".to_vec(),
                format!("GET {p} HTTP/1.1\nhost: x\n\n").into_bytes(),
                format!("GET {p} HTTP/1.1\r\nhost: x\r\n").into_bytes(),
            ];
            let i = g.gen_range(0..lines.len());
            whole = lines.into_iter().nth(i);
            expect = Expect::Either;
            if i == 13 {
                // Headers never end: the client gives up and closes.
                half_close = true;
            }
            // Blank lines only: no request will ever come, so say so.
            half_close |= i == 11;
            // No HTTP/1 request to answer: the HTTP/2 preface (hyper closes on it by
            // design), blank lines, or a head cut off by the client's FIN.
            case.silent_ok = matches!(i, 8 | 11 | 13);
            method = "GET".into();
            "broken request line (raw)"
        }
        8 => {
            if g.gen_bool(0.6) {
                let v: &[u8] = [
                    &b"99999999999999999999"[..],
                    b"-1",
                    b"abc",
                    b"1e3",
                    b"0x10",
                    b"+5",
                    b"5, 6",
                    b"",
                ]
                .choose(g)
                .copied()
                .unwrap_or(b"-1");
                cl = Some(v.to_vec());
                expect = Expect::Either;
            } else {
                cl = Some(b"1099511627776".to_vec());
                half_close = true;
            }
            "absurd content-length (raw)"
        }
        9 => {
            let mut z = gzip(if body.is_empty() { b"{}" } else { &body });
            match g.gen_range(0..3) {
                0 => z.truncate(z.len().saturating_sub(5).max(3)),
                1 => {
                    let n = z.len();
                    z[n - 8] ^= 0xff;
                }
                _ => z.truncate(12),
            }
            body = z;
            hs.retain(|(k, _)| k != b"content-encoding");
            hs.push((b"content-encoding".to_vec(), b"gzip".to_vec()));
            cl = Some(body.len().to_string().into_bytes());
            "truncated or corrupt gzip (raw)"
        }
        10 => {
            cl = Some((body.len() + 100).to_string().into_bytes());
            half_close = true;
            "body cut short (raw)"
        }
        _ => match g.gen_range(0..5) {
            0 => {
                let mut t = b"http://127.0.0.1".to_vec();
                t.extend_from_slice(&target);
                env_path = Some(
                    String::from_utf8_lossy(&target)
                        .split('?')
                        .next()
                        .unwrap_or("")
                        .to_owned(),
                );
                target = t;
                "absolute-form target (raw)"
            }
            1 => {
                version = b"HTTP/1.0";
                "HTTP/1.0 (raw)"
            }
            2 => {
                hs.push((b"expect".to_vec(), b"100-continue".to_vec()));
                "expect: 100-continue (raw)"
            }
            3 => {
                let bad: (Vec<u8>, Vec<u8>) = [
                    (b"x-no-colon".to_vec(), Vec::new()),
                    (b"token ".to_vec(), b"x".to_vec()),
                    (b"x(bad)".to_vec(), b"1".to_vec()),
                    (b"x-fold".to_vec(), b"a\r\n folded".to_vec()),
                    (b"x-nul".to_vec(), b"a\x00b".to_vec()),
                ]
                .choose(g)
                .cloned()
                .unwrap_or((b"x-no-colon".to_vec(), Vec::new()));
                hs.push(bad);
                expect = Expect::Either;
                "malformed header line (raw)"
            }
            _ => {
                for i in 0..200 {
                    hs.push((format!("x-many-{i}").into_bytes(), b"1".to_vec()));
                }
                expect = Expect::Either;
                "200 headers (raw)"
            }
        },
    };
    case.notes.push(note);
    let bytes = match whole {
        Some(w) => w,
        None => {
            let mut out = Vec::new();
            out.extend_from_slice(method.as_bytes());
            out.push(b' ');
            out.extend_from_slice(&target);
            out.push(b' ');
            out.extend_from_slice(version);
            out.extend_from_slice(b"\r\n");
            if let Some(cl) = &cl {
                hs.push((b"content-length".to_vec(), cl.clone()));
            }
            for (k, v) in &hs {
                out.extend_from_slice(k);
                if !v.is_empty() || k != b"x-no-colon" {
                    out.extend_from_slice(b": ");
                    out.extend_from_slice(v);
                }
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&body);
            out
        }
    };
    let head_len = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(bytes.len());
    if head_len > 60 * 1024 {
        expect = Expect::Either;
    }
    case.method = method;
    case.path = env_path.unwrap_or_else(|| {
        String::from_utf8_lossy(&target)
            .split('?')
            .next()
            .unwrap_or("")
            .to_owned()
    });
    case.expect = expect;
    case.wire = Wire::Raw { bytes, half_close };
}

// ---------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn send(client: &reqwest::Client, addr: &str, case: &Case) -> Result<Resp, String> {
    match &case.wire {
        Wire::Http {
            method,
            url,
            headers,
            body,
        } => {
            let mut req = client.request(method.clone(), url);
            for (k, v) in headers {
                let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
                    .map_err(|e| format!("test bug: header name {k}: {e}"))?;
                let value = reqwest::header::HeaderValue::from_bytes(v)
                    .map_err(|e| format!("test bug: header value {k}: {e}"))?;
                req = req.header(name, value);
            }
            if let Some(b) = body {
                req = req.body(b.clone());
            }
            let r = req.send().await.map_err(|e| format!("transport: {e:?}"))?;
            let status = r.status().as_u16();
            let headers: Vec<(String, String)> = r
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let bytes = r
                .bytes()
                .await
                .map_err(|e| format!("transport (body): {e:?}"))?;
            let mut resp = Resp {
                status,
                headers,
                body: bytes.to_vec(),
            };
            if resp.header("content-encoding") == Some("gzip") && !resp.body.is_empty() {
                resp.body = gunzip(&resp.body)?;
            }
            Ok(resp)
        }
        Wire::Raw { bytes, half_close } => {
            let mut stream = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            // The server may answer and close before it has read everything.
            let _ = stream.write_all(bytes).await;
            if *half_close {
                let _ = stream.shutdown().await;
            }
            read_raw_reply(&mut stream, case.head()).await
        }
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, String> {
    let mut chunk = [0u8; 16 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(15), stream.read(&mut chunk))
        .await
        .map_err(|_| "no reply within 15 s".to_owned())?
        .map_err(|e| format!("read: {e}"))?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// One reply off a raw socket: content-length, chunked or close-delimited; none for HEAD.
async fn read_raw_reply(stream: &mut TcpStream, head: bool) -> Result<Resp, String> {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if read_more(stream, &mut buf).await? == 0 {
                return Err(format!(
                    "connection closed without a reply ({} bytes: {})",
                    buf.len(),
                    preview(&buf, 200)
                ));
            }
        };
        let text = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = text.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line: {}", preview(&buf, 200)))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        buf.drain(..head_end);
        if (100..200).contains(&status) {
            continue;
        }
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
        };
        if head || status == 204 || status == 304 {
            return Ok(resp);
        }
        if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            let mut body = Vec::new();
            loop {
                let line_end = loop {
                    if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    if read_more(stream, &mut buf).await? == 0 {
                        return Err("chunked reply cut short".into());
                    }
                };
                let size_text = String::from_utf8_lossy(&buf[..line_end]).to_string();
                let size =
                    usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                        .map_err(|_| format!("bad chunk size {size_text:?}"))?;
                buf.drain(..line_end + 2);
                while buf.len() < size + 2 {
                    if read_more(stream, &mut buf).await? == 0 {
                        return Err("chunked reply cut short".into());
                    }
                }
                body.extend_from_slice(&buf[..size]);
                buf.drain(..size + 2);
                if size == 0 {
                    break;
                }
            }
            resp.body = body;
        } else if let Some(len) = resp
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            while buf.len() < len {
                if read_more(stream, &mut buf).await? == 0 {
                    return Err(format!("reply cut short: {} of {len} bytes", buf.len()));
                }
            }
            resp.body = buf[..len].to_vec();
        } else {
            while read_more(stream, &mut buf).await? > 0 {}
            resp.body = buf;
        }
        if resp.header("content-encoding") == Some("gzip") && !resp.body.is_empty() {
            resp.body = gunzip(&resp.body)?;
        }
        return Ok(resp);
    }
}

// ---------------------------------------------------------------------------------------
// Judging a reply
// ---------------------------------------------------------------------------------------

struct Verdict {
    refused: bool,
    /// Identifiers that must not exist after the run.
    absent: Vec<Tracked>,
}

fn judge(case: &Case, resp: &Resp) -> Result<Verdict, String> {
    let status = resp.status;
    if status >= 500 {
        return Err(format!("{status} reply"));
    }
    if case.head() {
        return Ok(Verdict {
            refused: status >= 400,
            absent: Vec::new(),
        });
    }
    if status == 204 || status == 304 {
        if !resp.body.is_empty() {
            return Err(format!("{status} with a body"));
        }
        return Ok(Verdict {
            refused: false,
            absent: Vec::new(),
        });
    }
    let ct = resp.header("content-type").unwrap_or("");
    if status == 200 && case.route == R::NCids && ct.starts_with("application/x-ndjson") {
        let text = std::str::from_utf8(&resp.body).map_err(|_| "NDJSON is not UTF-8".to_owned())?;
        for line in text.lines().filter(|l| !l.is_empty()) {
            let v: Value = serde_json::from_str(line)
                .map_err(|e| format!("NDJSON line is not JSON ({e}): {line}"))?;
            if !v["cid"].is_string() {
                return Err(format!("NDJSON line without a cid: {line}"));
            }
        }
        return Ok(Verdict {
            refused: false,
            absent: Vec::new(),
        });
    }
    if !ct.starts_with("application/json") {
        return Err(format!("{status} content-type {ct:?}"));
    }
    let body: Value = serde_json::from_slice(&resp.body).map_err(|e| {
        format!(
            "{status} body is not JSON ({e}): {}",
            preview(&resp.body, 300)
        )
    })?;
    let dialect = Dialect::of_path(&case.path);
    if status >= 400 {
        let own = envelope_of(&case.path);
        let ok = match case.expect {
            Expect::Dialect => envelope_matches(own, &body),
            Expect::Either => {
                let parser = matches!(status, 400 | 414 | 431)
                    && resp.header("connection") == Some("close")
                    && envelope_matches(Envelope::Native, &body);
                envelope_matches(own, &body) || parser
            }
        };
        if !ok {
            return Err(format!(
                "{status} not in the {:?} envelope (expect {:?}): {body}",
                own, case.expect
            ));
        }
        return Ok(Verdict {
            refused: true,
            absent: case.track.clone(),
        });
    }
    // 2xx (and 3xx, which roster never sends).
    if !(200..300).contains(&status) {
        return Err(format!("unexpected status {status}: {body}"));
    }
    let code = &body["code"];
    let refused = match dialect {
        Dialect::Getui => {
            if !code.is_i64() || !body["msg"].is_string() {
                return Err(format!("Getui {status} without code and msg: {body}"));
            }
            if code != 0 && !envelope_matches(Envelope::CodeMsg, &body) {
                return Err(format!("Getui error not in its envelope: {body}"));
            }
            let data = &body["data"];
            code != 0
                || (case.route == R::GTagBatch
                    && data
                        .as_object()
                        .is_some_and(|m| !m.is_empty() && m.values().all(|v| v == "false")))
                || data["errorList"].as_array().is_some_and(|l| !l.is_empty())
        }
        Dialect::Growth => {
            if !code.is_i64() || !body["msg"].is_string() {
                return Err(format!("Growth {status} without code and msg: {body}"));
            }
            code != 0
                || body["data"]
                    .as_array()
                    .is_some_and(|d| !d.is_empty() && d.iter().all(|x| x["errorCode"] != 0))
        }
        Dialect::Ums => {
            if !code.is_i64() || !body["message"].is_string() {
                return Err(format!("UMS {status} without code and message: {body}"));
            }
            let data = &body["data"];
            let lists = data["success"].is_array() && data["fail"].is_array();
            if !(data.is_string() || lists) {
                return Err(format!(
                    "UMS {status} data is neither a string nor success/fail: {body}"
                ));
            }
            code != 0 || data["success"].as_array().is_none_or(Vec::is_empty)
        }
        Dialect::Engagelab => {
            if !code.is_i64() || !body["message"].is_string() {
                return Err(format!(
                    "EngageLab {status} without code and message: {body}"
                ));
            }
            code != 0
                || body["data"]
                    .as_array()
                    .is_some_and(|d| !d.is_empty() && d.iter().all(|x| x["error_code"] != 0))
        }
        Dialect::Native => {
            if !body.is_object() {
                return Err(format!("native {status} body is not an object: {body}"));
            }
            false
        }
    };
    let absent = if refused {
        case.track.clone()
    } else {
        match case.route {
            // Partial success: what was not reported a success must not exist.
            R::UmsOpt => {
                let ok: BTreeSet<&str> = body["data"]["success"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                case.track
                    .iter()
                    .filter(|t| !ok.contains(t.id.as_str()))
                    .cloned()
                    .collect()
            }
            R::GrowthB => {
                let ok: BTreeSet<&str> = body["data"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter(|x| x["errorCode"] == 0)
                            .filter_map(|x| x["identityValue"].as_str())
                            .collect()
                    })
                    .unwrap_or_default();
                case.track
                    .iter()
                    .filter(|t| !ok.contains(t.id.as_str()))
                    .cloned()
                    .collect()
            }
            _ => Vec::new(),
        }
    };
    Ok(Verdict { refused, absent })
}

// ---------------------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    sent: usize,
    refused: usize,
    raw: usize,
    head: usize,
    by_route: BTreeMap<R, (usize, usize)>,
    by_status: BTreeMap<u16, usize>,
    by_note: BTreeMap<&'static str, usize>,
    by_method: BTreeMap<String, usize>,
    failures: Vec<String>,
    failure_kinds: BTreeMap<String, usize>,
    absent: BTreeSet<Tracked>,
    pairs: BTreeSet<(R, String)>,
    /// Replies by latency bucket (see [`LATENCY_MS`]).
    latency: [usize; 8],
    slowest: Option<(Duration, u64)>,
}

/// Upper bounds of the latency buckets, in ms (the last bucket is everything slower).
const LATENCY_MS: [u128; 7] = [5, 10, 20, 50, 100, 500, 2_000];

fn failure_kind(msg: &str) -> String {
    msg.chars()
        .take_while(|c| *c != ':' && *c != '(')
        .take(60)
        .collect()
}

async fn run_cases(ctx: &Ctx, cfg: &Config, client: &reqwest::Client) -> Stats {
    let stats = Mutex::new(Stats::default());
    let one = |id: u64| {
        let stats = &stats;
        async move {
            let case = gen_case(ctx, cfg.seed, id);
            let t1 = Instant::now();
            let reply = send(client, &ctx.addr, &case).await;
            let took = t1.elapsed();
            let verdict = match &reply {
                Ok(r) => judge(&case, r),
                Err(e) if case.silent_ok && e.starts_with("connection closed without a reply") => {
                    Ok(Verdict {
                        refused: false,
                        absent: Vec::new(),
                    })
                }
                Err(e) => Err(e.clone()),
            };
            let mut st = stats.lock().expect("stats");
            st.sent += 1;
            let ms = took.as_millis();
            let bucket = LATENCY_MS
                .iter()
                .position(|x| ms < *x)
                .unwrap_or(LATENCY_MS.len());
            st.latency[bucket] += 1;
            if st.slowest.as_ref().is_none_or(|(d, _)| took > *d) {
                st.slowest = Some((took, case.id));
            }
            let raw = matches!(case.wire, Wire::Raw { .. });
            st.raw += usize::from(raw);
            st.head += usize::from(case.head());
            *st.by_method.entry(case.method.clone()).or_default() += 1;
            st.pairs.insert((case.route, case.method.clone()));
            if let Ok(r) = &reply {
                *st.by_status.entry(r.status).or_default() += 1;
            }
            for n in &case.notes {
                *st.by_note.entry(n).or_default() += 1;
            }
            let e = st.by_route.entry(case.route).or_default();
            e.0 += 1;
            match verdict {
                Ok(v) => {
                    if v.refused {
                        st.refused += 1;
                        st.by_route.entry(case.route).or_default().1 += 1;
                    }
                    st.absent.extend(v.absent);
                }
                Err(msg) => {
                    let kind = format!("{} · {}", template(case.route), failure_kind(&msg));
                    let n = st.failure_kinds.entry(kind).or_default();
                    *n += 1;
                    if *n <= 2 && st.failures.len() < 60 {
                        let (status, body) = match &reply {
                            Ok(r) => (r.status.to_string(), preview(&r.body, 400)),
                            Err(_) => ("-".into(), String::new()),
                        };
                        st.failures.push(format!(
                            "case {} [{}] {}\n  request: {}\n  reply {status}: {body}\n  notes: {:?}",
                            case.id,
                            template(case.route),
                            msg,
                            case.describe().replace('\n', "\n    "),
                            case.notes
                        ));
                    }
                }
            }
        }
    };
    if let Some(id) = cfg.only {
        let case = gen_case(ctx, cfg.seed, id);
        println!("case {id}: {}\nnotes: {:?}", case.describe(), case.notes);
        let reply = send(client, &ctx.addr, &case).await;
        match &reply {
            Ok(r) => println!(
                "reply {} {:?}\n{}",
                r.status,
                r.headers,
                preview(&r.body, 2_000)
            ),
            Err(e) => println!("error: {e}"),
        }
        one(id).await;
        return stats.into_inner().expect("stats");
    }
    let mut next = 0u64;
    let cap = (cfg.refusals as u64).saturating_mul(3).max(CHUNK);
    loop {
        let done = stats.lock().expect("stats").refused;
        if done >= cfg.refusals || next >= cap {
            break;
        }
        futures_util::stream::iter(next..next + CHUNK)
            .map(one)
            .buffer_unordered(CONCURRENCY)
            .collect::<()>()
            .await;
        next += CHUNK;
    }
    stats.into_inner().expect("stats")
}

// ---------------------------------------------------------------------------------------
// The fingerprint of app A, and the absence checks
// ---------------------------------------------------------------------------------------

async fn fingerprint(ctx: &Ctx, http: &reqwest::Client) -> BTreeMap<String, Value> {
    let base = &ctx.base;
    let a = &ctx.a;
    let a_id = Ctx::id(a);
    let auth = getui_auth(a);
    let mut fp = BTreeMap::new();
    let g = roster_testkit::Getui::connect(http, base, a).await;
    let all = ctx.cids.join(",");
    for cid in &ctx.cids {
        let (st, v) = get(
            http,
            format!("{base}/api/v1/apps/{a_id}/devices/{cid}"),
            Some(("authorization", &auth)),
        )
        .await;
        fp.insert(format!("native device {cid}"), json!([st, v]));
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
        let (st, v) = post(
            http,
            format!("{base}/api/v1/apps/{a_id}/audience/count"),
            &auth,
            q,
        )
        .await;
        fp.insert(format!("native count {name}"), json!([st, v]));
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
        let (st, v) = get(
            http,
            format!("{base}/api/v1/apps/{a_id}/users/{uid}"),
            Some(("authorization", &auth)),
        )
        .await;
        fp.insert(format!("native user {uid}"), json!([st, v]));
    }
    for v in ctx.userids.iter().chain(&ctx.growth_invalid) {
        let (st, body) = get(
            http,
            format!(
                "{base}/api/v1/apps/{a_id}/users/by_identity/user_id/{}",
                enc(v)
            ),
            Some(("authorization", &auth)),
        )
        .await;
        fp.insert(
            format!("native user_id {}", preview(v.as_bytes(), 40)),
            json!([st, body]),
        );
    }
    let el = basic(
        s(&a["engagelab"]["api_key"]),
        s(&a["engagelab"]["api_secret"]),
    );
    let (st, v) = post(
        http,
        format!("{base}/v1/user/profile"),
        &el,
        json!({ "euid": ctx.uids }),
    )
    .await;
    fp.insert("engagelab profiles".into(), json!([st, v]));
    let gr = basic(
        s(&a["growth"]["project_id"]),
        s(&a["growth"]["project_secret"]),
    );
    let (st, v) = post(
        http,
        format!("{base}/smartop/api/v1/user/register"),
        &gr,
        json!({ "identityName": "user_id", "identityValues": ctx.userids }),
    )
    .await;
    fp.insert("growth cuids".into(), json!([st, v]));
    fp
}

/// Every uid allocated after the fixture's must be unknown to app A.
async fn no_new_users_in_a(ctx: &Ctx, http: &reqwest::Client) -> Result<usize, String> {
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
    let el = basic(
        s(&ctx.a["engagelab"]["api_key"]),
        s(&ctx.a["engagelab"]["api_secret"]),
    );
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
async fn check_absent(
    ctx: &Ctx,
    http: &reqwest::Client,
    absent: &BTreeSet<Tracked>,
) -> Vec<String> {
    let base = ctx.base.clone();
    let b_id = Ctx::id(&ctx.b);
    let b_auth = getui_auth(&ctx.b);
    let c_growth = basic(
        s(&ctx.c["growth"]["project_id"]),
        s(&ctx.c["growth"]["project_secret"]),
    );
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

// ---------------------------------------------------------------------------------------
// Panics and the server's log
// ---------------------------------------------------------------------------------------

static SERVER_PANICS: AtomicUsize = AtomicUsize::new(0);
static PANIC_NOTES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Counts panics on the fuzzed server's threads (by thread name), then runs the hook
/// that was there before.
fn install_panic_counter() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_server = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(SERVER_THREAD));
            if on_server {
                SERVER_PANICS.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut notes) = PANIC_NOTES.lock() {
                    notes.push(info.to_string());
                }
            }
            previous(info);
        }));
    });
}

#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The server's runtime: its threads are named for the panic hook and log to `log`.
fn server_runtime(name: &str, log: LogBuf) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .on_thread_start(move || {
            let log = log.clone();
            let sub = tracing_subscriber::fmt()
                .with_writer(move || log.clone())
                .with_ansi(false)
                .with_max_level(tracing::Level::WARN)
                .finish();
            // For the thread's whole life.
            std::mem::forget(tracing::subscriber::set_default(sub));
        })
        .build()
        .expect("server runtime")
}

fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("roster-fuzz-client")
        .enable_all()
        .build()
        .expect("client runtime")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Sets up, fingerprints, fuzzes, fingerprints again and checks; returns the problems.
async fn fuzz_server(base: &str, cfg: &Config, label: &str) -> Vec<String> {
    let http = client();
    let ctx = setup(&http, base).await;
    let before = fingerprint(&ctx, &http).await;
    println!(
        "{label}: seed {:#x} (ROSTER_FUZZ_SEED), until {} refused requests; fixture: {} devices, {} users",
        cfg.seed,
        cfg.refusals,
        ctx.cids.len(),
        ctx.uids.len()
    );
    let started = Instant::now();
    let stats = run_cases(&ctx, cfg, &http).await;
    let took = started.elapsed();
    let mut problems = Vec::new();
    let after = fingerprint(&ctx, &http).await;
    for (k, v) in &before {
        if after.get(k) != Some(v) {
            problems.push(format!(
                "app A changed: {k}\n  before: {v}\n  after:  {}",
                after.get(k).map_or("(missing)".into(), Value::to_string)
            ));
        }
    }
    match no_new_users_in_a(&ctx, &http).await {
        Ok(n) => println!("{label}: {n} uids allocated during the run, none of them in app A"),
        Err(e) => problems.push(e),
    }
    let absent = check_absent(&ctx, &http, &stats.absent).await;
    println!(
        "{label}: {} identifiers carried only by refused requests checked absent",
        stats.absent.len()
    );
    problems.extend(absent);

    println!(
        "{label}: {} requests in {:.1} s ({:.0}/s): {} refused, {} accepted; {} raw TCP, {} HEAD",
        stats.sent,
        took.as_secs_f64(),
        stats.sent as f64 / took.as_secs_f64().max(0.001),
        stats.refused,
        stats.sent - stats.refused,
        stats.raw,
        stats.head
    );
    println!("{label}: by route (sent / refused):");
    for (r, (n, refused)) in &stats.by_route {
        println!("  {:>6} / {:>6}  {}", n, refused, template(*r));
    }
    println!("{label}: statuses {:?}", stats.by_status);
    println!(
        "{label}: latency buckets (ms < {:?}, then slower): {:?}; slowest {:?}",
        LATENCY_MS, stats.latency, stats.slowest
    );
    println!("{label}: methods {:?}", stats.by_method);
    println!("{label}: mutations:");
    for (n, c) in &stats.by_note {
        println!("  {c:>6}  {n}");
    }
    let routes_seen: BTreeSet<R> = stats.by_route.keys().copied().collect();
    if cfg.only.is_none() {
        for (r, ..) in ROUTES {
            if !routes_seen.contains(r) {
                problems.push(format!("route never exercised: {}", template(*r)));
            }
            if stats.sent >= 16 * ROUTES.len() * METHODS.len() {
                for m in METHODS {
                    if !stats.pairs.contains(&(*r, (*m).to_owned())) {
                        problems.push(format!("{m} never sent to {}", template(*r)));
                    }
                }
            }
        }
        if stats.refused < cfg.refusals {
            problems.push(format!(
                "only {} refused requests (wanted {})",
                stats.refused, cfg.refusals
            ));
        }
    }
    if !stats.failure_kinds.is_empty() {
        problems.push(format!(
            "{} failing replies, by kind: {:#?}",
            stats.failure_kinds.values().sum::<usize>(),
            stats.failure_kinds
        ));
        problems.extend(stats.failures);
    }
    problems
}

#[test]
fn fuzz_every_route_of_every_dialect() {
    install_panic_counter();
    let cfg = config(DEFAULT_REFUSALS, "ROSTER_FUZZ_CASES");
    let log = LogBuf::default();
    let server_rt = server_runtime(SERVER_THREAD, log.clone());
    let srv = server_rt.block_on(roster_testkit::TestServer::start());
    let before = SERVER_PANICS.load(Ordering::SeqCst);
    let mut problems = client_runtime().block_on(fuzz_server(&srv.base, &cfg, "fuzz"));
    let panics = SERVER_PANICS.load(Ordering::SeqCst) - before;
    if panics > 0 {
        problems.push(format!(
            "{panics} panics on the server's threads: {:#?}",
            PANIC_NOTES.lock().map(|n| n.clone()).unwrap_or_default()
        ));
    }
    let text =
        String::from_utf8_lossy(&log.0.lock().map(|b| b.clone()).unwrap_or_default()).to_string();
    let bad: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("panic") || l.contains("ERROR"))
        .take(20)
        .collect();
    if !bad.is_empty() {
        problems.push(format!(
            "the server's log has panics or errors:\n{}",
            bad.join("\n")
        ));
    }
    drop(srv);
    server_rt.shutdown_timeout(Duration::from_secs(5));
    assert!(
        problems.is_empty(),
        "fuzz (seed {:#x}) found {} problems:\n\n{}",
        cfg.seed,
        problems.len(),
        problems.join("\n\n")
    );
}

#[test]
fn fuzz_the_real_binary() {
    let cfg = config(DEFAULT_BINARY_REFUSALS, "ROSTER_FUZZ_BINARY_CASES");
    let dir = tempfile::tempdir().expect("tempdir");
    let stderr_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let port = roster_testkit::free_port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_roster"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path().join("data"))
        .env("ROSTER_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ROSTER_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn roster");
    let base = format!("http://127.0.0.1:{port}");
    let rt = client_runtime();
    let mut problems = rt.block_on(async {
        let http = client();
        let mut ready = false;
        for _ in 0..200 {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
                if r.status() == 200 {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if !ready {
            return vec!["the binary did not become ready".to_owned()];
        }
        fuzz_server(&base, &cfg, "fuzz (binary)").await
    });
    let _ = child.kill();
    let _ = child.wait();
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let bad: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("panicked") || l.contains("ERROR"))
        .take(20)
        .collect();
    if !bad.is_empty() {
        problems.push(format!(
            "the binary's stderr has panics or errors:\n{}",
            bad.join("\n")
        ));
    }
    assert!(
        problems.is_empty(),
        "fuzz of the binary (seed {:#x}) found {} problems:\n\n{}",
        cfg.seed,
        problems.len(),
        problems.join("\n\n")
    );
}
