//! A case, built from the seed and its id alone: route, method, path, body, headers, encoding.

use std::fmt::Write as _;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::Method;

use super::base::{build_base, Tracked};
use super::body::{gzip, mutate, mutate_bytes, weird, J};
use super::fixture::Ctx;
use super::headers::{auth_headers, content_type};
use super::pools::{junk_segment, one_of};
use super::raw::raw_case;
use super::routes::{pick_method, pick_route, METHODS, R, ROUTES};
use super::{ACCIDENTAL_BODY_MAX, BODY_LIMIT};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// The envelope of the dialect that owns the path.
    Dialect,
    /// The dialect's, or the HTTP parser's own refusal (400, 414 or 431 in the native
    /// envelope, closing the connection): whether the parser accepts such a request is
    /// hyper's business.
    Either,
}

/// A request an HTTP client can send.
pub(super) struct Http {
    pub(super) method: Method,
    pub(super) url: String,
    pub(super) headers: Vec<(String, Vec<u8>)>,
    pub(super) body: Option<Vec<u8>>,
}

pub(super) enum Wire {
    Http(Http),
    Raw { bytes: Vec<u8>, half_close: bool },
}

pub(super) struct Case {
    pub(super) id: u64,
    pub(super) route: R,
    pub(super) method: String,
    /// The path as sent (for the envelope), lossily decoded.
    pub(super) path: String,
    pub(super) wire: Wire,
    pub(super) notes: Vec<&'static str>,
    pub(super) track: Vec<Tracked>,
    pub(super) expect: Expect,
    /// The bytes are no complete HTTP/1 request (only blank lines, a head the client
    /// ends with FIN, or the HTTP/2 preface, on which hyper closes without a reply by
    /// design), so a close without a reply is fine.
    pub(super) silent_ok: bool,
}

impl Case {
    pub(super) fn head(&self) -> bool {
        self.method == "HEAD"
    }

    pub(super) fn describe(&self) -> String {
        match &self.wire {
            Wire::Http(http) => {
                let mut out = format!("{} {}\n", http.method, preview(http.url.as_bytes(), 600));
                for (k, v) in &http.headers {
                    let _ = writeln!(out, "{k}: {}", preview(v, 200));
                }
                if let Some(b) = &http.body {
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

pub(super) fn preview(b: &[u8], max: usize) -> String {
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

/// Builds case `id` of `seed`.
pub(super) fn gen_case(ctx: &Ctx, seed: u64, id: u64) -> Case {
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
            let enc = one_of(
                g,
                &[
                    b"deflate",
                    b"br",
                    b"zstd",
                    b"compress",
                    b"x-unknown",
                    b"gzip, gzip",
                    b"identity, gzip",
                ],
            );
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
        case.wire = Wire::Http(Http {
            method: Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
            url,
            headers,
            body,
        });
    }
    case
}
