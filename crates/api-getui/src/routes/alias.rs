//! Aliases: bind, query both ways, batch unbind, unbind all.

use axum::extract::State;
use axum::response::Response;
use roster_core::{limits, Alias, Cid, Error};
use serde_json::{json, Map, Value};

use crate::body::{array, object, string, target_cids, unique, Body, P};
use crate::error::{ok, GetuiError};
use crate::{GetuiState, GetuiToken};

/// Reads `data_list` into (cid, alias) pairs: ≤ 1000 entries, valid aliases, and no cid
/// twice (a cid has one alias, so a second entry for it is ambiguous).
fn pairs(body: &Map<String, Value>) -> Result<Vec<(Cid, Alias)>, Error> {
    let list = array(body, "data_list", limits::ALIAS_BATCH)?;
    let mut raw = Vec::with_capacity(list.len());
    for entry in list {
        let entry = object(entry, "data_list")?;
        let cid = string(entry, "cid")?;
        let alias = Alias::parse(string(entry, "alias")?)?;
        raw.push((cid, alias));
    }
    unique(raw.iter().map(|(c, _)| *c), "cid")?;
    let cids = target_cids(raw.iter().map(|(c, _)| *c))?;
    Ok(cids
        .into_iter()
        .zip(raw.into_iter().map(|(_, a)| a))
        .collect())
}

/// `POST /user/alias`: binds each cid to its alias, all or nothing.
pub(crate) async fn bind(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    let pairs = pairs(&body)?;
    state.store.bind_aliases(&auth.app, &pairs).await?;
    Ok(ok(None))
}

/// `DELETE /user/alias`: unbinds each (cid, alias) pair, all or nothing.
pub(crate) async fn unbind(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    Body(body): Body,
) -> Result<Response, GetuiError> {
    let pairs = pairs(&body)?;
    state.store.unbind_aliases(&auth.app, &pairs).await?;
    Ok(ok(None))
}

/// `GET /user/alias/cid/{cid}`: the alias of a cid (`""` when it has none).
pub(crate) async fn of_cid(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    P((_, cid)): P<(String, String)>,
) -> Result<Response, GetuiError> {
    let cid = Cid::parse(cid).map_err(|_| Error::UnknownTarget)?;
    let alias = state.store.alias_of(&auth.app, &cid).await?;
    let alias = alias.as_ref().map(Alias::as_str).unwrap_or("");
    Ok(ok(Some(json!({ "alias": alias }))))
}

/// `GET /user/cid/alias/{alias}`: the cids bound to an alias.
pub(crate) async fn cids_of(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    P((_, alias)): P<(String, String)>,
) -> Result<Response, GetuiError> {
    let alias = Alias::parse(alias)?;
    let cids = state.store.cids_of_alias(&auth.app, &alias).await?;
    Ok(ok(Some(json!({ "cid": cids }))))
}

/// `DELETE /user/alias/{alias}`: unbinds every cid of an alias.
pub(crate) async fn unbind_all(
    State(state): State<GetuiState>,
    auth: GetuiToken,
    P((_, alias)): P<(String, String)>,
) -> Result<Response, GetuiError> {
    let alias = Alias::parse(alias)?;
    state.store.unbind_alias(&auth.app, &alias).await?;
    Ok(ok(None))
}
