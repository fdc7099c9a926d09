//! Lenient reading of what Getui clients send: bodies that are empty, `null`, sent
//! without a Content-Type, and path lists of cids.

use std::collections::HashSet;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use roster_core::{Cid, Error};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use roster_edge::Refusal;

use crate::error::GetuiError;

/// A JSON object body. Empty and `null` bodies read as `{}`; any Content-Type (or none)
/// is accepted; text that is not JSON at all is Getui's code 1.
pub(crate) struct Body(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = GetuiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = roster_edge::read_body(req, state).await?;
        let text = std::str::from_utf8(&bytes).map_err(|_| GetuiError::not_json())?;
        if text.trim().is_empty() {
            return Ok(Body(Map::new()));
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => Ok(Body(m)),
            Ok(_) => Ok(Body(Map::new())),
            Err(_) => Err(GetuiError::not_json()),
        }
    }
}

/// Path parameters whose decoding failures are answered as 20001, not axum's text.
pub(crate) struct P<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for P<T> {
    type Rejection = GetuiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(t)| P(t))
            .map_err(|_| Refusal::BadPath.into())
    }
}

/// A present, non-null field.
pub(crate) fn field<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.get(name).filter(|v| !v.is_null())
}

/// A required, non-empty array of at most `max` entries.
pub(crate) fn array<'a>(
    m: &'a Map<String, Value>,
    name: &str,
    max: usize,
) -> Result<&'a Vec<Value>, Error> {
    match field(m, name) {
        None => Err(Error::empty(name)),
        Some(Value::Array(a)) if a.is_empty() => Err(Error::empty(name)),
        Some(Value::Array(a)) if a.len() > max => Err(Error::over_limit(name)),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(Error::TypeError(name.into())),
    }
}

/// An entry of a list that must be an object; otherwise `{list} type error`.
pub(crate) fn object<'a>(entry: &'a Value, list: &str) -> Result<&'a Map<String, Value>, Error> {
    entry
        .as_object()
        .ok_or_else(|| Error::TypeError(list.into()))
}

/// A required, non-empty string field.
pub(crate) fn string<'a>(m: &'a Map<String, Value>, name: &str) -> Result<&'a str, Error> {
    match field(m, name) {
        None => Err(Error::empty(name)),
        Some(Value::String(s)) if s.is_empty() => Err(Error::empty(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Error::TypeError(name.into())),
    }
}

/// An optional string field (`null` and missing are `None`).
pub(crate) fn opt_string<'a>(
    m: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, Error> {
    match field(m, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::TypeError(name.into())),
    }
}

/// Refuses a list with a repeated entry.
pub(crate) fn unique<'a>(
    items: impl IntoIterator<Item = &'a str>,
    name: &str,
) -> Result<(), Error> {
    let mut seen = HashSet::new();
    for i in items {
        if !seen.insert(i) {
            return Err(Error::duplicate(name));
        }
    }
    Ok(())
}

/// A `$cid,$cid` path segment: 1..=`max` distinct entries, as sent.
pub(crate) fn cid_list(raw: &str, max: usize) -> Result<Vec<&str>, Error> {
    let cids: Vec<&str> = raw.split(',').map(str::trim).collect();
    if cids.iter().all(|c| c.is_empty()) {
        return Err(Error::empty("cid"));
    }
    if cids.len() > max {
        return Err(Error::over_limit("cid"));
    }
    if cids.iter().any(|c| c.is_empty()) {
        return Err(Error::invalid("cid"));
    }
    unique(cids.iter().copied(), "cid")?;
    Ok(cids)
}

/// cids that must exist for a mutation: one that cannot be a cid cannot exist either.
pub(crate) fn target_cids<'a>(cids: impl IntoIterator<Item = &'a str>) -> Result<Vec<Cid>, Error> {
    cids.into_iter()
        .map(|c| Cid::parse(c).map_err(|_| Error::UnknownTarget))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cid_lists() {
        assert_eq!(cid_list("a,b", 2), Ok(vec!["a", "b"]));
        assert_eq!(cid_list("", 2), Err(Error::empty("cid")));
        assert_eq!(cid_list("a,b,c", 2), Err(Error::over_limit("cid")));
        assert_eq!(cid_list("a,a", 2), Err(Error::duplicate("cid")));
        assert_eq!(cid_list("a,,b", 3), Err(Error::invalid("cid")));
    }

    #[test]
    fn arrays() {
        let m: Map<String, Value> =
            serde_json::from_str(r#"{"a":[1],"b":[],"c":"x","d":null,"e":[1,2]}"#).expect("json");
        assert!(array(&m, "a", 1).is_ok());
        assert_eq!(array(&m, "b", 1), Err(Error::empty("b")));
        assert_eq!(array(&m, "c", 1), Err(Error::TypeError("c".into())));
        assert_eq!(array(&m, "d", 1), Err(Error::empty("d")));
        assert_eq!(array(&m, "missing", 1), Err(Error::empty("missing")));
        assert_eq!(array(&m, "e", 1), Err(Error::over_limit("e")));
    }
}
