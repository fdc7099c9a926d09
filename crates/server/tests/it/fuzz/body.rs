//! Bodies: JSON that serde_json cannot represent, and its structural and byte-level mutations.

use std::io::Write as _;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde_json::Value;

use super::pools::{odd_string, one_of, BAD_ESCAPES, INVALID_UTF8, NON_JSON, NUMS};

#[derive(Clone, Debug)]
pub(super) enum J {
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
    pub(super) fn from_value(v: &Value) -> J {
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

    pub(super) fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.emit(&mut out);
        out
    }

    pub(super) fn contains_str(&self, needle: &str) -> bool {
        match self {
            J::Str(s) => s == needle,
            J::Arr(a) => a.iter().any(|v| v.contains_str(needle)),
            J::Obj(o) => o.iter().any(|(k, v)| k == needle || v.contains_str(needle)),
            _ => false,
        }
    }
}

pub(super) fn weird(g: &mut StdRng) -> J {
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
pub(super) fn mutate(j: &mut J, g: &mut StdRng, notes: &mut Vec<&'static str>) {
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
pub(super) fn mutate_bytes(
    b: &mut Vec<u8>,
    g: &mut StdRng,
    safe: bool,
    notes: &mut Vec<&'static str>,
) {
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
            let bad = one_of(g, INVALID_UTF8);
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
            let tail = one_of(g, &[b"}", b",", b"]", b"\0", b" x", b"{}"]);
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
            *b = one_of(g, NON_JSON).to_vec();
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

pub(super) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(bytes);
    e.finish().unwrap_or_default()
}

pub(super) use roster_testkit::gunzip;
