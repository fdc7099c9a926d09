//! Raw-TCP cases: the requests an HTTP client cannot send.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use super::body::gzip;
use super::case::{Case, Expect, Wire};
use super::pools::one_of;

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
pub(super) fn raw_case(
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
            let seg = one_of(
                g,
                &[
                    "张三".as_bytes(),
                    "é".as_bytes(),
                    "😀".as_bytes(),
                    b"\xff\xfe",
                    "\u{3000}".as_bytes(),
                ],
            );
            last_seg(&mut target, seg);
            expect = Expect::Either;
            "raw UTF-8 or 8-bit bytes in the path (raw)"
        }
        2 => {
            let seg = one_of(
                g,
                &[b"a\x01b", b"\x7f", b"a\x00b", b"a\tb", b"\x1b[0m", b"a b"],
            );
            last_seg(&mut target, seg);
            expect = Expect::Either;
            "control bytes in the path (raw)"
        }
        3 => {
            let seg = one_of(g, &[b"..", b".", b"../..", b"..\\..", b"%2e%2e", b"a\\b"]);
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
                let v = one_of(
                    g,
                    &[
                        b"99999999999999999999",
                        b"-1",
                        b"abc",
                        b"1e3",
                        b"0x10",
                        b"+5",
                        b"5, 6",
                        b"",
                    ],
                );
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
