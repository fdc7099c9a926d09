//! `POST /user/count`: how many devices match conditions on phone type, region and tag.

use axum::extract::State;
use axum::response::Response;
use roster_core::{AudienceQuery, Error, PhoneType, RegionCode, Selector, TagName};
use serde_json::{json, Map, Value};

use crate::body::{field, object, string, Body};
use crate::error::{ok, GetuiError};
use crate::{GetuiState, GetuiToken};

/// One leaf per value of a condition's key.
fn leaf(key: &str, value: &str) -> Result<Selector, Error> {
    let invalid = |_| Error::invalid("values");
    Ok(match key {
        "phone_type" => {
            Selector::PhoneType(PhoneType::parse(value).ok_or_else(|| Error::invalid("values"))?)
        }
        "region" => Selector::Region(RegionCode::parse(value).map_err(invalid)?),
        "custom_tag" => Selector::Tag(TagName::parse(value).map_err(invalid)?),
        _ => return Err(Error::invalid("key")),
    })
}

/// `{tag: [{key, values, opt_type}]}` as a selector: conditions intersect; within one,
/// `or` is any value, `and` every value, `not` none of them.
pub(crate) fn conditions(body: &Map<String, Value>) -> Result<Selector, Error> {
    let list = match field(body, "tag") {
        None => return Err(Error::empty("tag")),
        Some(Value::Array(a)) if a.is_empty() => return Err(Error::empty("tag")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(Error::TypeError("tag".into())),
    };
    let mut parts = Vec::with_capacity(list.len());
    for cond in list {
        let cond = object(cond, "tag")?;
        let key = string(cond, "key")?;
        if !matches!(key, "phone_type" | "region" | "custom_tag") {
            return Err(Error::invalid("key"));
        }
        let values = match cond.get("values").filter(|v| !v.is_null()) {
            None => return Err(Error::empty("values")),
            Some(Value::Array(a)) if a.is_empty() => return Err(Error::empty("values")),
            Some(Value::Array(a)) => a,
            Some(_) => return Err(Error::TypeError("values".into())),
        };
        let mut leaves = Vec::with_capacity(values.len());
        for v in values {
            match v {
                Value::String(s) if s.is_empty() => return Err(Error::empty("values")),
                Value::String(s) => leaves.push(leaf(key, s)?),
                _ => return Err(Error::TypeError("values".into())),
            }
        }
        parts.push(match string(cond, "opt_type")? {
            "or" => Selector::Or(leaves),
            "and" => Selector::And(leaves),
            "not" => Selector::Not(Box::new(Selector::Or(leaves))),
            _ => return Err(Error::invalid("opt_type")),
        });
    }
    Ok(Selector::And(parts))
}

/// Counts the app's devices that match; blacklisted devices are not counted, because
/// they receive no pushes.
pub(crate) async fn count(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    let query = AudienceQuery {
        selector: conditions(&body)?,
        exclude_blacklisted: true,
        exclude_notification_off: false,
    };
    let n = state.store.count_audience(&auth.app, &query).await?;
    Ok(ok(Some(json!({ "user_count": n }))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Selector, Error> {
        conditions(v.as_object().expect("object"))
    }

    #[test]
    fn errors_name_the_parameter() {
        assert_eq!(parse(json!({})), Err(Error::empty("tag")));
        assert_eq!(parse(json!({"tag": []})), Err(Error::empty("tag")));
        assert_eq!(
            parse(json!({"tag": "x"})),
            Err(Error::TypeError("tag".into()))
        );
        let c =
            |k: &str, v: Value, o: &str| json!({"tag": [{"key": k, "values": v, "opt_type": o}]});
        assert_eq!(
            parse(c("os", json!(["a"]), "or")),
            Err(Error::invalid("key"))
        );
        assert_eq!(
            parse(c("phone_type", json!([]), "or")),
            Err(Error::empty("values"))
        );
        assert_eq!(
            parse(c("phone_type", json!(["windows"]), "or")),
            Err(Error::invalid("values"))
        );
        assert_eq!(
            parse(c("region", json!(["110"]), "or")),
            Err(Error::invalid("values"))
        );
        assert_eq!(
            parse(c("custom_tag", json!(["a b"]), "or")),
            Err(Error::invalid("values"))
        );
        assert_eq!(
            parse(c("custom_tag", json!([1]), "or")),
            Err(Error::TypeError("values".into()))
        );
        assert_eq!(
            parse(c("custom_tag", json!(["a"]), "xor")),
            Err(Error::invalid("opt_type"))
        );
        assert_eq!(
            parse(json!({"tag": [{"key": "custom_tag", "values": ["a"]}]})),
            Err(Error::empty("opt_type"))
        );
        assert!(parse(c("region", json!(["11000000", "31010000"]), "not")).is_ok());
    }
}
