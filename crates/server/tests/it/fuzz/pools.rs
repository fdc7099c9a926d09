//! Pools of awkward values (numbers, strings, escapes, non-JSON, bad UTF-8) and junk path segments.

use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

pub(super) const NUMS: &[&str] = &[
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
pub(super) const BAD_ESCAPES: &[&str] = &[
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

pub(super) const NON_JSON: &[&[u8]] = &[
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

pub(super) const INVALID_UTF8: &[&[u8]] = &[
    b"\xff",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x80",
    b"\xe4\xb8",
    b"\xfe\xfe",
];

/// One of the byte strings of `pool` (never empty, so never the fallback).
pub(super) fn one_of(g: &mut StdRng, pool: &[&'static [u8]]) -> &'static [u8] {
    pool.choose(g).copied().unwrap_or_default()
}

pub(super) fn odd_string(g: &mut StdRng) -> String {
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
pub(super) fn enc(s: &str) -> String {
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
pub(super) fn junk_segment(g: &mut StdRng) -> String {
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
