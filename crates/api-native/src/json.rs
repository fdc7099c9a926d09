//! A JSON body extractor whose failures use the native envelope.

use std::fmt;
use std::marker::PhantomData;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_ENCODING;
use axum::http::StatusCode;
use axum::Json;
use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::error::NativeError;

/// The largest request body the native API reads by default, in bytes (after
/// decompression); the server's edge may be configured otherwise.
pub const BODY_LIMIT: usize = roster_edge::DEFAULT_MAX_BODY_BYTES;

/// A JSON object body, read like [`axum::Json`] but answered in the native envelope on
/// every failure: a body that is not the documented JSON object is `invalid_param` with
/// serde's explanation (which names the field, an unknown one included, and its
/// position), a body over [`BODY_LIMIT`] is 413, and a body that is not
/// `application/json` or arrives in a `Content-Encoding` the server did not undo is 415.
///
/// A derived `Deserialize` also reads a struct from a JSON array of its fields in order;
/// the native API documents objects only, so it reads objects only.
pub struct Body<T>(pub T);

/// A JSON array of objects, read as [`Body`] reads one.
pub struct Bodies<T>(pub Vec<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = NativeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Object(v) = extract::<Object<T>, S>(req, state).await?;
        Ok(Body(v))
    }
}

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Bodies<T> {
    type Rejection = NativeError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let all = extract::<Vec<Object<T>>, S>(req, state).await?;
        Ok(Bodies(all.into_iter().map(|Object(v)| v).collect()))
    }
}

async fn extract<T: DeserializeOwned, S: Send + Sync>(
    req: Request,
    state: &S,
) -> Result<T, NativeError> {
    // The server's decompression layer removes the encodings it undoes; any left is one
    // it does not know (when it lets those through), so the bytes are not JSON.
    if let Some(enc) = req.headers().get(CONTENT_ENCODING) {
        if !enc.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(NativeError::unsupported_media_type(
                "Content-Encoding is not supported: send identity or gzip",
            ));
        }
    }
    match Json::<T>::from_request(req, state).await {
        Ok(Json(v)) => Ok(v),
        Err(rejection) => Err(rejected(&rejection)),
    }
}

/// A `T` that only a JSON object deserializes into.
#[derive(Debug)]
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct OnlyMaps<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for OnlyMaps<T> {
            type Value = T;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }

        d.deserialize_map(OnlyMaps(PhantomData)).map(Object)
    }
}

fn rejected(rejection: &JsonRejection) -> NativeError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            NativeError::unsupported_media_type("Content-Type must be application/json")
        }
        JsonRejection::JsonDataError(e) => NativeError::invalid_body(without_prefix(
            &e.body_text(),
            "Failed to deserialize the JSON body into the target type: ",
        )),
        JsonRejection::JsonSyntaxError(e) => NativeError::invalid_body(without_prefix(
            &e.body_text(),
            "Failed to parse the request body as JSON: ",
        )),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            roster_edge::Refusal::BodyTooLarge.into()
        }
        other => NativeError::invalid_body(&other.body_text()),
    }
}

fn without_prefix<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.strip_prefix(prefix).unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Pair {
        a: u8,
        #[serde(rename = "type")]
        b: Option<String>,
    }

    fn read<T: DeserializeOwned>(json: &str) -> Result<T, String> {
        match Json::<T>::from_bytes(json.as_bytes()) {
            Ok(Json(v)) => Ok(v),
            Err(e) => Err(rejected(&e).to_string()),
        }
    }

    #[test]
    fn objects_only_and_unknown_fields_named() {
        let ok: Object<Pair> = read(r#"{"a": 1, "type": "x"}"#).expect("object");
        assert_eq!(
            ok.0,
            Pair {
                a: 1,
                b: Some("x".into())
            }
        );
        assert!(
            read::<Object<Pair>>(r#"[1, "x"]"#).is_err(),
            "a struct from an array"
        );
        let e = read::<Vec<Object<Pair>>>(r#"[{"a": 1}, {"a": 1, "tags": []}]"#)
            .expect_err("unknown field");
        assert!(e.contains("tags") && e.contains("[1]"), "{e}");
        let e = read::<Vec<Object<Pair>>>(r#"[[1, null]]"#).expect_err("array item");
        assert!(e.contains("a JSON object"), "{e}");
    }
}
