//! Bulk import and export of devices and users over HTTP: the request body and the response are
//! streamed, so neither grows with the app (`docs/import-export.md`). The work is the
//! store's drivers ([`roster_store::bulk`]), which the CLI runs too.

use axum::body::Body as HttpBody;
use axum::extract::{RawQuery, Request, State};
use axum::http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::TryStreamExt;
use roster_core::audience::Selector;
use roster_core::{AudienceQuery, Error};
use roster_store::bulk::{self, ExportFormat, ImportFormat, ImportOptions};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AppAuth;
use crate::error::{ErrorBody, NativeError};
use crate::{NativeState, UNAUTHENTICATED_APP};

fn invalid(param: &str) -> NativeError {
    Error::Invalid(param.into()).into()
}

/// A refused line of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineErrorOut {
    /// 1-based line number (a CSV header is line 1).
    pub line: u64,
    /// Why it was refused.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportOut {
    /// Lines read (blank lines and a CSV header included).
    pub lines: u64,
    /// Lines that inserted or changed a device or user (`inserted` + `updated`).
    pub imported: u64,
    /// New devices (users).
    pub inserted: u64,
    /// Known devices (users) changed.
    pub updated: u64,
    /// Lines whose device (user) already was as they say (nothing written).
    pub unchanged: u64,
    /// Lines refused.
    pub failed: u64,
    /// The first 1,000 refused lines, in line order.
    pub errors: Vec<LineErrorOut>,
    /// Whether the import stopped at `max_errors` before the end of the body.
    pub stopped: bool,
}

impl From<bulk::ImportSummary> for ImportOut {
    fn from(s: bulk::ImportSummary) -> Self {
        ImportOut {
            lines: s.lines,
            imported: s.imported,
            inserted: s.inserted,
            updated: s.updated,
            unchanged: s.unchanged,
            failed: s.failed,
            errors: s
                .errors
                .into_iter()
                .map(|e| LineErrorOut {
                    line: e.line,
                    message: e.message,
                })
                .collect(),
            stopped: s.stopped,
        }
    }
}

/// One device line of an export (`application/x-ndjson`), the shape import reads back:
/// every stored fact, `login_freq` as of the export, and the login days it derives
/// from. On import every field but `cid` may be absent (keep; a new device gets the
/// default) and the nullable ones `null` (clear); `login_freq` is ignored.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceLineOut {
    /// The device.
    pub cid: String,
    /// `app` or `mini_program`.
    pub kind: roster_core::DeviceKind,
    /// `android` or `ios`.
    pub phone_type: roster_core::PhoneType,
    /// Vendor brand prefix.
    pub brand: Option<String>,
    /// Model.
    pub phone_model: Option<String>,
    /// Package name.
    pub package_name: Option<String>,
    /// Client app id.
    pub client_app_id: Option<String>,
    /// Vendor push token.
    pub device_token: Option<String>,
    /// The bind_dt channel the token came through.
    pub device_token_type: Option<roster_core::DtType>,
    /// Notification switch.
    pub notification_switch: bool,
    /// 8-digit region code.
    pub region: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// OS version.
    pub os: Option<String>,
    /// Free-form properties (replace the stored ones on import).
    #[schema(value_type = Object)]
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Online.
    pub online: bool,
    /// Registration time, ms.
    pub create_time: i64,
    /// Last login time, ms.
    pub last_login_time: i64,
    /// Distinct login days in the last 100, as of the export (ignored on import).
    pub login_freq: i64,
    /// iOS badge.
    pub badge: i64,
    /// Blacklisted.
    pub blacklisted: bool,
    /// Alias.
    pub alias: Option<String>,
    /// Custom tags, sorted (replace the stored ones on import).
    pub tags: Vec<String>,
    /// Login days, `YYYY-MM-DD` in China Standard Time, ascending (added on import).
    pub login_days: Vec<String>,
}

/// The import body's schema: NDJSON device lines (the shape export writes; every field
/// but `cid` optional), or a Getui-style CSV. Not limited in size: it is streamed.
pub struct ImportBody;

impl utoipa::ToSchema for ImportBody {}

impl utoipa::PartialSchema for ImportBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some(
                "NDJSON: one device (or user) object per line (see docs/import-export.md), or a CSV with a header line (Getui-style for devices, UMS-style for users).",
            ))
            .into()
    }
}

fn import_query(raw: Option<&str>) -> Result<ImportOptions, NativeError> {
    let mut o = ImportOptions::default();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match &*k {
            "format" => o.format = Some(ImportFormat::parse(&v).ok_or_else(|| invalid("format"))?),
            "max_errors" => {
                o.max_errors = Some(
                    v.parse()
                        .ok()
                        .filter(|n| *n > 0)
                        .ok_or_else(|| invalid("max_errors"))?,
                )
            }
            other => return Err(invalid(&format!("query parameter {other}"))),
        }
    }
    Ok(o)
}

/// Imports devices from a streamed NDJSON (or Getui-style CSV) body, line by line, in
/// transactions of 10,000 lines through the same rules as every write (the alias cap,
/// the tag cap). A refused line does not stop the others: the reply lists it with its
/// 1-based line number. Idempotent: importing the same body again changes nothing.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/import/devices",
    request_body(content((ImportBody = "application/x-ndjson"), (ImportBody = "text/csv"))),
    security(("app" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("format" = Option<String>, Query, description = "`ndjson` or `getui-csv`; detected from the first line when absent"),
        ("max_errors" = Option<u64>, Query, description = "Stop after this many refused lines (the reply says `stopped`)"),
    ),
    responses(
        (status = 200, description = "What the import did, with the refused lines", body = ImportOut),
        (status = 400, description = "`format` or `max_errors` malformed, an unknown query parameter, or a first line that is neither JSON nor a CSV header naming `cid` (`invalid_param`); nothing was imported", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
    )
)]
pub(crate) async fn import_devices(
    State(state): State<NativeState>,
    auth: AppAuth,
    RawQuery(raw): RawQuery,
    req: Request,
) -> Result<Json<ImportOut>, NativeError> {
    import(state, auth, raw, req, Target::Devices).await
}

/// What an import route brings in.
#[derive(Clone, Copy)]
enum Target {
    Devices,
    Users,
}

/// The streamed import both routes run.
async fn import(
    state: NativeState,
    auth: AppAuth,
    raw: Option<String>,
    req: Request,
    target: Target,
) -> Result<Json<ImportOut>, NativeError> {
    let opts = import_query(raw.as_deref())?;
    if let Some(enc) = req.headers().get(CONTENT_ENCODING) {
        if !enc.as_bytes().eq_ignore_ascii_case(b"identity") {
            return Err(NativeError::unsupported_media_type(
                "Content-Encoding is not supported: send identity or gzip",
            ));
        }
    }
    let ct = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if !["application/x-ndjson", "text/csv"]
        .iter()
        .any(|m| media.eq_ignore_ascii_case(m))
    {
        return Err(NativeError::unsupported_media_type(
            "send Content-Type: application/x-ndjson or text/csv",
        ));
    }
    let body = req
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(body);
    let clock = state.clock.clone();
    let store = state.store.as_ref();
    let summary = match target {
        Target::Devices => {
            bulk::import_devices(store, &auth.app, reader, opts, &*clock, &mut |_| {}).await?
        }
        Target::Users => {
            bulk::import_users(store, &auth.app, reader, opts, &*clock, &mut |_| {}).await?
        }
    };
    Ok(Json(summary.into()))
}

/// One UMS binding of a user line.
#[derive(Debug, Serialize, ToSchema)]
pub struct BindingLineOut {
    /// The UMS field (`tag`, `phone`, `email`, `app`, `wechatoa`, `wechatmp`,
    /// `alipaylife`, `dingtalkcc`, `wechatwk`, `wechatwk_linkedcorp`).
    pub field: String,
    /// `all`, a channel key or a sender code of the app.
    pub bind_id: String,
    /// The bound value.
    pub value: String,
}

/// One user line of an export (`application/x-ndjson`), the shape `import/users` reads
/// back: everything the user holds but its uid, which the importing store assigns.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserLineOut {
    /// Identity name → values, sorted.
    #[schema(value_type = Object)]
    pub identities: std::collections::BTreeMap<String, Vec<String>>,
    /// Properties (merged into the stored ones on import).
    #[schema(value_type = Object)]
    pub properties: serde_json::Map<String, serde_json::Value>,
    /// Contact kind → value.
    #[schema(value_type = Object)]
    pub contacts: std::collections::BTreeMap<String, String>,
    /// UMS bindings (phone and email under `all` are the contacts), sorted.
    pub bindings: Vec<BindingLineOut>,
}

/// Imports users from a streamed NDJSON (or UMS-style CSV) body, line by line, in
/// transactions of 10,000 lines. Each line's user is found by its identities (as
/// `identify` finds it) or created; its identities are attached, properties merged,
/// contacts set and bindings bound. Custom identity names must exist in the app,
/// registration ids must be its devices (import devices first), bind ids must be its
/// UMS channels or senders; a line that breaks one is refused with its 1-based line
/// number and the others land. Idempotent: importing the same body again changes
/// nothing.
#[utoipa::path(
    post, path = "/api/v1/apps/{app_id}/import/users",
    request_body(content((ImportBody = "application/x-ndjson"), (ImportBody = "text/csv"))),
    security(("app" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("format" = Option<String>, Query, description = "`ndjson` or `ums-csv`; detected from the first line when absent"),
        ("max_errors" = Option<u64>, Query, description = "Stop after this many refused lines (the reply says `stopped`)"),
    ),
    responses(
        (status = 200, description = "What the import did (`inserted`: new users), with the refused lines", body = ImportOut),
        (status = 400, description = "`format` malformed or not a user format, `max_errors` malformed, an unknown query parameter, or a first line that is neither JSON nor a CSV header naming `userid` (`invalid_param`); nothing was imported", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
    )
)]
pub(crate) async fn import_users(
    State(state): State<NativeState>,
    auth: AppAuth,
    RawQuery(raw): RawQuery,
    req: Request,
) -> Result<Json<ImportOut>, NativeError> {
    import(state, auth, raw, req, Target::Users).await
}

/// Exports the app's users in uid order, streamed page by page: NDJSON lines that
/// `import/users` reads back into the same users (but their uids), or CSV (each cell
/// the JSON of the NDJSON field).
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/export/users",
    security(("app" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("format" = Option<String>, Query, description = "`ndjson` (default) or `csv`"),
    ),
    responses(
        (status = 200, description = "One user per line: NDJSON (`application/x-ndjson`) or CSV with a header (`text/csv`)", content((UserLineOut = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, description = "`format` malformed or an unknown query parameter (`invalid_param`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
    )
)]
pub(crate) async fn export_users(
    State(state): State<NativeState>,
    auth: AppAuth,
    RawQuery(raw): RawQuery,
) -> Result<Response, NativeError> {
    let mut format = ExportFormat::Ndjson;
    for (k, v) in form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        match &*k {
            "format" => format = ExportFormat::parse(&v).ok_or_else(|| invalid("format"))?,
            other => return Err(invalid(&format!("query parameter {other}"))),
        }
    }
    let first = state
        .store
        .export_users(&auth.app, None, bulk::PAGE)
        .await?;
    let app = auth.app;
    Ok(streamed(
        format.content_type(),
        format.user_head(),
        first,
        move |page: &bulk::UserPage, chunk: &mut Vec<u8>| {
            format.write_users(&page.lines, chunk);
            page.lines.len() >= bulk::PAGE
        },
        move |page: &bulk::UserPage| {
            let (state, app, last) = (state.clone(), app.clone(), page.last);
            Box::pin(async move { state.store.export_users(&app, last, bulk::PAGE).await })
        },
    ))
}

/// A streamed export: `head`, then each page as `write` writes it (true: a full page,
/// more may follow), `next` reading the page after one. A failure after the first
/// page ends the body early (the status line is gone), which tells the client.
fn streamed<P: Send + 'static>(
    content_type: &'static str,
    head: Vec<u8>,
    first: P,
    write: impl Fn(&P, &mut Vec<u8>) -> bool + Send + Sync + 'static,
    next: impl Fn(&P) -> futures_util::future::BoxFuture<'static, roster_store::StoreResult<P>>
        + Send
        + Sync
        + 'static,
) -> Response {
    let io = std::sync::Arc::new((write, next));
    let stream = futures_util::stream::unfold(Some((first, head)), move |cursor| {
        let io = io.clone();
        async move {
            let (page, mut chunk) = cursor?;
            let (write, next) = &*io;
            if !write(&page, &mut chunk) {
                return if chunk.is_empty() {
                    None
                } else {
                    Some((Ok::<_, std::io::Error>(chunk), None))
                };
            }
            match next(&page).await {
                Ok(p) => Some((Ok(chunk), Some((p, Vec::new())))),
                Err(e) => {
                    tracing::error!(error = %e, "export failed mid-stream");
                    Some((Ok(chunk), None))
                }
            }
        }
    });
    // Fused: a compression layer polls once more after the end.
    let stream = futures_util::StreamExt::fuse(stream);
    (
        [(CONTENT_TYPE, content_type)],
        HttpBody::from_stream(stream),
    )
        .into_response()
}

fn export_query(raw: Option<&str>) -> Result<(ExportFormat, Option<AudienceQuery>), NativeError> {
    let (mut format, mut query) = (ExportFormat::Ndjson, None);
    for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match &*k {
            "format" => format = ExportFormat::parse(&v).ok_or_else(|| invalid("format"))?,
            "selector" => {
                let selector: Selector =
                    serde_json::from_str(&v).map_err(|e| invalid(&format!("selector: {e}")))?;
                query = Some(AudienceQuery {
                    selector,
                    exclude_blacklisted: false,
                    exclude_notification_off: false,
                });
            }
            other => return Err(invalid(&format!("query parameter {other}"))),
        }
    }
    Ok((format, query))
}

/// Exports the app's devices (those matching `selector`, if given) in ordinal order,
/// streamed page by page: NDJSON lines that `import/devices` reads back into the same
/// devices, or CSV. Each page of 10,000 is one consistent snapshot; the whole export is
/// not (a device written meanwhile may or may not appear).
#[utoipa::path(
    get, path = "/api/v1/apps/{app_id}/export/devices",
    security(("app" = [])),
    params(
        ("app_id" = String, Path, description = "App id"),
        ("format" = Option<String>, Query, description = "`ndjson` (default) or `csv`"),
        ("selector" = Option<String>, Query, description = "A selector (URL-encoded JSON, as `audience/count` takes it); all devices when absent"),
    ),
    responses(
        (status = 200, description = "One device per line: NDJSON (`application/x-ndjson`) or CSV with a header (`text/csv`)", content((DeviceLineOut = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, description = "`format` or `selector` malformed, a crowd leaf, or an unknown query parameter (`invalid_param`)", body = ErrorBody),
        (status = 401, description = UNAUTHENTICATED_APP, body = ErrorBody),
    )
)]
pub(crate) async fn export_devices(
    State(state): State<NativeState>,
    auth: AppAuth,
    RawQuery(raw): RawQuery,
) -> Result<Response, NativeError> {
    let (format, query) = export_query(raw.as_deref())?;
    let now = (state.clock)();
    // The first page is read before answering, so a bad query is still a proper error.
    let first = state
        .store
        .export_devices(&auth.app, query.as_ref(), None, bulk::PAGE, now)
        .await?;
    let app = auth.app;
    let query = std::sync::Arc::new(query);
    type Page = (Vec<roster_core::bulk::ExportedDevice>, Option<u32>);
    Ok(streamed(
        format.content_type(),
        format.head(),
        first,
        move |(page, _): &Page, chunk: &mut Vec<u8>| {
            format.write(page, chunk);
            page.len() >= bulk::PAGE
        },
        move |(_, last): &Page| {
            let (state, app, query, last) = (state.clone(), app.clone(), query.clone(), *last);
            Box::pin(async move {
                state
                    .store
                    .export_devices(&app, query.as_ref().as_ref(), last, bulk::PAGE, now)
                    .await
            })
        },
    ))
}
