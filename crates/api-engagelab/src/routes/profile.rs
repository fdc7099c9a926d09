//! `POST /v1/user/profile`.

use axum::extract::{Request, State};
use axum::Json;
use roster_core::quota::LimitedAction;
use roster_core::user::Uid;
use roster_core::Cid;
use serde_json::{json, Value};

use crate::auth::EngagelabAuth;
use crate::body::ProfileQuery;
use crate::error::EngagelabError;
use crate::{render, EngagelabState};

/// Queries up to 100 users' profiles by EUID, one result per EUID in request order.
pub(crate) async fn query(
    State(state): State<EngagelabState>,
    auth: EngagelabAuth,
    req: Request,
) -> Result<Json<Value>, EngagelabError> {
    let body = roster_edge::read_body(req, &state).await?;
    // Counted before the body is checked, as at EngageLab.
    state
        .quota
        .take(&auth.app, &LimitedAction::EngagelabProfile)
        .await?;
    let ProfileQuery { euids, pick } = ProfileQuery::parse(&body)?;
    // An EUID that is not positive names no user: it is answered as unknown.
    let uids: Vec<Uid> = euids.iter().map(|e| Uid::new(*e)).collect();
    let users = state.store.get_users(&auth.app, &uids).await?;
    let names = state.store.identity_names(&auth.app).await?;
    let mut data = Vec::with_capacity(euids.len());
    for euid in euids {
        let Some(user) = users.iter().find(|u| u.uid.get() == euid) else {
            data.push(
                json!({ "euid": euid, "user_identities": null, "user_properties": null,
                              "device_properties": null, "contacts": null, "error_code": 55108 }),
            );
            continue;
        };
        let cids: Vec<Cid> = user
            .registration_ids()
            .into_iter()
            .filter_map(|c| Cid::parse(c).ok())
            .collect();
        let devices = state
            .store
            .get_devices(&auth.app, &cids, (state.clock)())
            .await?;
        data.push(render::render(user, &names, &devices, &pick));
    }
    Ok(Json(
        json!({ "code": 0, "message": "success", "data": data }),
    ))
}
