//! Custom tags: overwrite one cid's tags, batch bind/unbind one tag, query.

use axum::extract::State;
use axum::response::Response;
use roster_core::quota::LimitedAction;
use roster_core::{limits, Cid, Error, TagName};
use serde_json::{json, Map, Value};

use crate::auth::OwnLimit;
use crate::body::{array, field, unique, Body, P};
use crate::error::{ok, GetuiError};
use crate::{GetuiState, GetuiToken};

/// The tag list of an overwrite: ≤ 100 distinct tags, each valid, ≤ 512 characters in all.
/// An empty list clears the cid's tags.
fn tag_list(body: &Map<String, Value>) -> Result<Vec<TagName>, Error> {
    let list = match field(body, "custom_tag") {
        None => return Err(Error::empty("custom_tag")),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(Error::TypeError("custom_tag".into())),
    };
    if list.len() > limits::TAGS_PER_CID {
        return Err(Error::over_limit("custom_tag"));
    }
    let mut tags = Vec::with_capacity(list.len());
    for t in list {
        let Value::String(s) = t else {
            return Err(Error::TypeError("custom_tag".into()));
        };
        tags.push(TagName::parse(s.as_str())?);
    }
    TagName::check_list(&tags)?;
    Ok(tags)
}

/// `POST /user/custom_tag/cid/{cid}`: replaces the cid's tags.
pub(crate) async fn overwrite(
    State(state): State<GetuiState>,
    auth: GetuiToken<OwnLimit>,
    P((_, cid)): P<(String, String)>,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    // Counted per cid as written, before anything is checked, as at Getui.
    state
        .quota
        .take(&auth.app, &LimitedAction::TagOverwrite(cid.clone()))
        .await?;
    let tags = tag_list(&body)?;
    let cid = Cid::parse(cid).map_err(|_| Error::UnknownTarget)?;
    state.store.replace_tags(&auth.app, &cid, &tags).await?;
    Ok(ok(None))
}

/// `GET /user/custom_tag/cid/{cid}`: `{cid: ["t1 t2"]}`, or `{cid: []}` without tags.
pub(crate) async fn query(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    P((_, cid)): P<(String, String)>,
) -> Result<Response, GetuiError> {
    let cid = Cid::parse(cid).map_err(|_| Error::UnknownTarget)?;
    let tags = state.store.tags_of(&auth.app, &cid).await?;
    let joined: Vec<String> = if tags.is_empty() {
        Vec::new()
    } else {
        vec![tags
            .iter()
            .map(TagName::as_str)
            .collect::<Vec<_>>()
            .join(" ")]
    };
    Ok(ok(Some(json!({ cid.as_str(): joined }))))
}

/// The tag in the path and the `cid` list of a batch call.
fn batch_input(tag: String, body: &Map<String, Value>) -> Result<(TagName, Vec<String>), Error> {
    let tag = TagName::parse(tag)?;
    let list = array(body, "cid", limits::TAG_BATCH_CIDS)?;
    let mut cids = Vec::with_capacity(list.len());
    for c in list {
        match c {
            Value::String(s) if !s.is_empty() => cids.push(s.clone()),
            Value::String(_) => return Err(Error::invalid("cid")),
            _ => return Err(Error::TypeError("cid".into())),
        }
    }
    unique(cids.iter().map(String::as_str), "cid")?;
    Ok((tag, cids))
}

/// Runs a batch: cids that cannot exist are reported `"false"` without a store call.
async fn batch(
    state: &GetuiState,
    auth: &GetuiToken<OwnLimit>,
    tag: String,
    body: &Map<String, Value>,
    add: bool,
) -> Result<Response, GetuiError> {
    state
        .quota
        .take(&auth.app, &LimitedAction::TagBatch)
        .await?;
    let (tag, raw) = batch_input(tag, body)?;
    let parsed: Vec<Option<Cid>> = raw.iter().map(|c| Cid::parse(c.as_str()).ok()).collect();
    let valid: Vec<Cid> = parsed.iter().flatten().cloned().collect();
    let results = if add {
        state.store.add_tag(&auth.app, &tag, &valid).await?
    } else {
        state.store.remove_tag(&auth.app, &tag, &valid).await?
    };
    let mut results = results.into_iter();
    let mut data = Map::new();
    for (raw, parsed) in raw.iter().zip(parsed) {
        let done = parsed.is_some() && results.next().unwrap_or(false);
        data.insert(raw.clone(), Value::String(done.to_string()));
    }
    Ok(ok(Some(Value::Object(data))))
}

/// `PUT /user/custom_tag/batch/{custom_tag}`: adds one tag to up to 1000 cids.
pub(crate) async fn batch_bind(
    State(state): State<GetuiState>,
    auth: GetuiToken<OwnLimit>,
    P((_, tag)): P<(String, String)>,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    batch(&state, &auth, tag, &body, true).await
}

/// `DELETE /user/custom_tag/batch/{custom_tag}`: removes one tag from up to 1000 cids.
pub(crate) async fn batch_unbind(
    State(state): State<GetuiState>,
    auth: GetuiToken<OwnLimit>,
    P((_, tag)): P<(String, String)>,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    batch(&state, &auth, tag, &body, false).await
}
