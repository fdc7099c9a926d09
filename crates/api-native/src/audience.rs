//! Audience counts and listings over nested selectors.

use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use roster_core::audience::Selector;
use roster_core::{limits, AppId, AudienceQuery, Cid};
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type,
};
use utoipa::openapi::{Ref, RefOr};
use utoipa::ToSchema;

use crate::auth::AppAuth;
use crate::error::{ErrorBody, NativeError};
use crate::json::Body;
use crate::{NativeState, UNAUTHENTICATED_APP};

/// Cids fetched from the store per page of a listing.
const PAGE: usize = 10_000;

/// An audience: a selector plus the usual push filters. Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"selector": {"and": [{"phone_type": "android"}, {"not": {"tag": "x"}}]}, "exclude_blacklisted": true}))]
pub struct AudienceIn {
    /// Which devices.
    #[schema(value_type = SelectorSchema)]
    pub selector: Selector,
    /// Leave out blacklisted devices.
    #[serde(default)]
    pub exclude_blacklisted: bool,
    /// Leave out devices with notifications off.
    #[serde(default)]
    pub exclude_notification_off: bool,
}

impl From<AudienceIn> for AudienceQuery {
    fn from(a: AudienceIn) -> Self {
        AudienceQuery {
            selector: a.selector,
            exclude_blacklisted: a.exclude_blacklisted,
            exclude_notification_off: a.exclude_notification_off,
        }
    }
}

/// The OpenAPI schema of a selector (the type read is [`roster_core::audience::Selector`]):
/// one JSON object with exactly one key, nested through `and`, `or` and `not`.
///
/// `and` / `or` (a list of selectors; `and: []` matches all, `or: []` none), `not` (a
/// selector), `all` (`true` every device, `false` none), or a leaf: `phone_type`
/// (`android`/`ios`), `region` (8 digits; a province `PP000000` or city `PPCC0000`
/// matches everything in it), `tag`, `brand` (`unknown` for devices without one),
/// `alias`, `cid` (a list), `crowd` (a smart-crowd sub-task id: its crowd as it was
/// when it succeeded; nothing before; an id the app does not have is a 404),
/// `property` (`{"name", "op", "value"}` over a device field or `properties.<key>`; see
/// docs/selectors.md), `segment` (a saved segment's name, resolved when evaluated; a name
/// the app does not have is a 404). Example: `{"and": [{"phone_type": "android"}, {"or":
/// [{"region": "11000000"}, {"region": "31000000"}]}, {"not": {"tag": "x"}}]}`.
pub struct SelectorSchema;

impl utoipa::ToSchema for SelectorSchema {
    fn name() -> std::borrow::Cow<'static, str> {
        "Selector".into()
    }
}

impl utoipa::PartialSchema for SelectorSchema {
    fn schema() -> RefOr<Schema> {
        let me = || Ref::from_schema_name("Selector");
        let list = || ArrayBuilder::new().items(me());
        let string = |min: usize, max: Option<usize>, pattern: Option<&str>| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(min))
                .max_length(max)
                .pattern(pattern)
        };
        let branches: Vec<(&str, &str, RefOr<Schema>)> = vec![
            ("and", "Devices matching every selector of the list.", list().into()),
            ("or", "Devices matching at least one selector of the list.", list().into()),
            ("not", "Devices not matching the selector.", me().into()),
            (
                "all",
                "`true`: every device of the app; `false`: none.",
                ObjectBuilder::new().schema_type(Type::Boolean).into(),
            ),
            (
                "phone_type",
                "Devices of this OS.",
                Ref::from_schema_name("PhoneType").into(),
            ),
            (
                "region",
                "Devices in this region; a province `PP000000` or city `PPCC0000` matches everything in it.",
                string(8, Some(8), Some("^[0-9]{8}$")).into(),
            ),
            (
                "tag",
                "Devices carrying this custom tag (at most 32 characters, no whitespace).",
                string(1, Some(limits::TAG_MAX_CHARS), Some(TAG_PATTERN)).into(),
            ),
            (
                "brand",
                "Devices of this brand prefix (`unknown` for devices without one).",
                ObjectBuilder::new().schema_type(Type::String).into(),
            ),
            (
                "alias",
                "Devices bound to this alias (fewer than 40 letters, digits, `_` or CJK ideographs).",
                string(
                    1,
                    Some(limits::ALIAS_MAX_CHARS_EXCLUSIVE - 1),
                    Some(ALIAS_PATTERN),
                ).into(),
            ),
            (
                "crowd",
                "The crowd of this smart-crowd sub-task of the app, as it was when it succeeded (nothing before); an id the app does not have is a 404 `not_found`.",
                string(1, Some(64), None).into(),
            ),
            (
                "property",
                PROPERTY_DOC,
                property_schema().into(),
            ),
            (
                "segment",
                "The devices of this saved segment of the app, as it is when the selector is evaluated; a name the app does not have is a 404 `not_found`.",
                string(1, Some(roster_core::segment::NAME_MAX), Some("^[A-Za-z0-9_.-]+$")).into(),
            ),
            (
                "cid",
                "These devices.",
                ArrayBuilder::new()
                    .items(string(1, Some(limits::CID_MAX_LEN), Some(CID_PATTERN)))
                    .into(),
            ),
        ];
        let mut one_of = OneOfBuilder::new().description(Some(
            "One object with exactly one key: `and`, `or`, `not`, `all`, or a leaf.",
        ));
        for (key, doc, value) in branches {
            one_of = one_of.item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some(doc))
                    .property(key, value)
                    .required(key)
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            );
        }
        Schema::OneOf(one_of.build()).into()
    }
}

const PROPERTY_DOC: &str = "Devices whose property compares as asked. `name`: a device field \
    (`app_version`, `os`, `package_name`, `phone_model`, `client_app_id`: text in version order, \
    `1.10.0 > 1.9.2`; `created_at`, `last_login_time`: ms; `login_freq`: distinct login days in \
    the last 100 days as of now; `notification_switch`: boolean) or `properties.<key>` (a \
    free-form property; text or number, by the value given). `op`: `eq`, `ne`, `lt`, `lte`, \
    `gt`, `gte` (not on booleans), `in` (`value` a list), `exists` (`value` true or false), \
    `prefix` (text only). A device lacking the field matches no comparison (`ne` included) and \
    matches `exists: false`. An unknown name, an op the field's type does not take, or a value \
    of the wrong type is a 400.";

/// The schema of a property leaf's object.
fn property_schema() -> ObjectBuilder {
    let scalar = || {
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
    };
    let ops = [
        "eq", "ne", "lt", "lte", "gt", "gte", "in", "exists", "prefix",
    ];
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "name",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(
                    "^(app_version|os|package_name|phone_model|client_app_id|notification_switch|created_at|last_login_time|login_freq|properties\\..{1,128})$",
                )),
        )
        .required("name")
        .property(
            "op",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(ops)),
        )
        .required("op")
        .property(
            "value",
            OneOfBuilder::new()
                .item(scalar())
                .item(ArrayBuilder::new().items(scalar()).max_items(Some(roster_core::property::IN_LIST_MAX))),
        )
        .required("value")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
}

/// A cid: 1–64 printable ASCII characters other than `,` and `/`.
const CID_PATTERN: &str = r"^[!-+\-.0-~]{1,64}$";
/// A custom tag: no whitespace and no control character (Unicode `White_Space` and
/// `Cc`, as the server checks them).
pub(crate) const TAG_PATTERN: &str =
    r"^[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]+$";
/// An alias: letters, digits, `_` and CJK ideographs (the basic block, extension A,
/// compatibility, extensions B–F and the compatibility supplement).
pub(crate) const ALIAS_PATTERN: &str =
    r"^[A-Za-z0-9_\u3400-\u4DBF\u4E00-\u9FFF\uF900-\uFAFF\u{20000}-\u{2EBEF}\u{2F800}-\u{2FA1F}]+$";

/// The size of an audience.
#[derive(Debug, Serialize, ToSchema)]
pub struct CountOut {
    /// Matching devices.
    pub count: u64,
}

/// One line of an audience listing.
#[derive(Debug, Serialize, ToSchema)]
pub struct CidLine {
    /// A matching device.
    pub cid: String,
}

/// Counts an audience.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/audience/count", request_body = AudienceIn,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "The number of matching devices", body = CountOut),
        (status = 400, description = "Invalid selector (an invalid property leaf names the problem) or unknown field; segments that refer to each other in a cycle or nest too deep", body = ErrorBody),
        (status = 404, description = "The selector names a smart crowd or saved segment the app does not have (`not_found`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
    )
)]
pub(crate) async fn count(
    State(state): State<NativeState>,
    auth: AppAuth,
    Body(query): Body<AudienceIn>,
) -> Result<Json<CountOut>, NativeError> {
    let query = AudienceQuery::from(query);
    let count = state.store.count_audience(&auth.app, &query).await?;
    Ok(Json(CountOut { count }))
}

/// Lists an audience as NDJSON, one `{"cid": "…"}` per line, in ordinal order. The
/// listing is read page by page while it streams, so it is not a snapshot: a device
/// written meanwhile may or may not appear.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/audience/cids", request_body = AudienceIn,
    security(("app" = [])),
    params(("app_id" = String, Path, description = "App id")),
    responses(
        (status = 200, description = "NDJSON: one `{\"cid\": \"…\"}` line (the schema) per matching device", body = CidLine, content_type = "application/x-ndjson"),
        (status = 400, description = "Invalid selector (an invalid property leaf names the problem) or unknown field; segments that refer to each other in a cycle or nest too deep", body = ErrorBody),
        (status = 404, description = "The selector names a smart crowd or saved segment the app does not have (`not_found`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
    )
)]
pub(crate) async fn cids(
    State(state): State<NativeState>,
    auth: AppAuth,
    Body(query): Body<AudienceIn>,
) -> Result<Response, NativeError> {
    let query = AudienceQuery::from(query);
    // The first page is read before answering, so a bad query is still a proper error.
    let first = state
        .store
        .audience_page(&auth.app, &query, None, PAGE)
        .await?;
    // Fused: a compression layer polls once more after the end, which an unfused
    // `unfold` answers with a panic.
    let stream =
        futures_util::stream::unfold(Some((state, auth.app, query, first)), |cursor| async move {
            let (state, app, query, page) = cursor?;
            if page.is_empty() {
                return None;
            }
            let chunk = ndjson(&page);
            let next = next_page(&state, &app, &query, page.last().map(|(o, _)| *o)).await;
            match next {
                Ok(next) => Some((
                    Ok::<_, std::io::Error>(chunk),
                    Some((state, app, query, next)),
                )),
                // The status line is gone; ending the body early tells the client.
                Err(e) => {
                    tracing::error!(error = %e, "audience listing failed mid-stream");
                    Some((Ok(chunk), None))
                }
            }
        })
        .fuse();
    Ok((
        [(CONTENT_TYPE, "application/x-ndjson")],
        HttpBody::from_stream(stream),
    )
        .into_response())
}

async fn next_page(
    state: &NativeState,
    app: &AppId,
    query: &AudienceQuery,
    after: Option<u32>,
) -> Result<Vec<(u32, Cid)>, roster_store::StoreError> {
    if after.is_none() {
        return Ok(Vec::new());
    }
    state.store.audience_page(app, query, after, PAGE).await
}

fn ndjson(page: &[(u32, Cid)]) -> String {
    let mut out = String::with_capacity(page.len() * 48);
    for (_, cid) in page {
        out.push_str("{\"cid\":");
        out.push_str(&serde_json::Value::String(cid.to_string()).to_string());
        out.push_str("}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(v: serde_json::Value) -> Result<AudienceQuery, String> {
        serde_json::from_value::<AudienceIn>(v)
            .map(Into::into)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn audience_bodies() {
        let q = read(serde_json::json!({
            "selector": {"and": [{"phone_type": "android"}, {"not": {"tag": "x"}}]},
            "exclude_blacklisted": true
        }))
        .expect("valid");
        assert!(q.exclude_blacklisted && !q.exclude_notification_off);
        for bad in [
            serde_json::json!({"selector": {"all": true}, "limit": 1}),
            serde_json::json!({"selector": {"tag": "x", "brand": "y"}}),
            serde_json::json!({"selector": {}}),
            serde_json::json!({"selector": {"all": true}, "exclude_blacklisted": null}),
            serde_json::json!({}),
        ] {
            assert!(read(bad.clone()).is_err(), "{bad} was accepted");
        }
    }
}
