//! Credential and Content-Type headers, valid or mutated.

use rand::rngs::StdRng;
use rand::Rng;

use super::base::Auth;
use super::fixture::basic;
use super::pools::one_of;

pub(super) fn auth_headers(
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
            let v = one_of(
                g,
                &[
                    b"Basic",
                    b"Basic !!!!",
                    b"Basic bm9jb2xvbg==",
                    b"Basic Og==",
                    b"Bearer",
                    b"Bearer ",
                    b"basic Zm9vOmJhcg==",
                    b"Digest x",
                ],
            );
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

pub(super) fn content_type(
    g: &mut StdRng,
    notes: &mut Vec<&'static str>,
) -> Vec<(String, Vec<u8>)> {
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
