//! The command API (docs/write-back.md): `POST /v1/commands`, `GET /v1/commands/{id}`,
//! `POST /v1/commands/{id}/approve` and `POST /v1/autonomy/stop`, each with `Authorization: Bearer
//! <token>`. Answers are JSON: the command, or `{"error": "..."}` with 400, 401, 404, 409 or 503 (the
//! audit journal refused the entry, so nothing was written).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use super::engine::{Command, CommandError, CommandRequest, Engine};

/// The command routes, on their own state (merged into the live server's router).
pub fn router(engine: Arc<Engine>) -> Router {
    Router::new()
        .route("/v1/commands", post(submit))
        .route("/v1/commands/{id}", get(show))
        .route("/v1/commands/{id}/approve", post(approve))
        .route("/v1/autonomy/stop", post(stop_autonomy))
        .with_state(engine)
}

/// The command routes of the plain listener when commands are served over TLS elsewhere: each answers
/// `403` naming the TLS address.
pub fn refusing_router(tls: std::net::SocketAddr) -> Router {
    let refuse = move || async move {
        let msg = format!("commands are accepted over TLS only, on https://{tls}");
        (StatusCode::FORBIDDEN, axum::Json(json!({"error": msg}))).into_response()
    };
    Router::new()
        .route("/v1/commands", post(refuse))
        .route("/v1/commands/{id}", get(refuse))
        .route("/v1/commands/{id}/approve", post(refuse))
        .route("/v1/autonomy/stop", post(refuse))
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Bearer ").map(str::trim)
}

/// The JSON error answer of `e`.
pub fn error_response(e: &CommandError) -> Response {
    let status = match e {
        CommandError::Unauthorized => StatusCode::UNAUTHORIZED,
        CommandError::BadRequest(_) => StatusCode::BAD_REQUEST,
        CommandError::NotFound(_) => StatusCode::NOT_FOUND,
        CommandError::Conflict(_) => StatusCode::CONFLICT,
        CommandError::Audit(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut r = (status, axum::Json(json!({"error": e.to_string()}))).into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    }
    r
}

fn answer(status: StatusCode, r: Result<Command, CommandError>) -> Response {
    match r {
        Ok(cmd) => (status, axum::Json(cmd)).into_response(),
        Err(e) => error_response(&e),
    }
}

/// Parses a command request body, naming what is wrong.
pub fn parse_request(body: &[u8]) -> Result<CommandRequest, CommandError> {
    serde_json::from_slice(body).map_err(|e| CommandError::BadRequest(format!("command body: {e}")))
}

async fn submit(State(e): State<Arc<Engine>>, headers: HeaderMap, body: Bytes) -> Response {
    let r = async {
        let origin = e.authenticate(bearer(&headers))?;
        e.submit(origin, parse_request(&body)?).await
    };
    answer(StatusCode::CREATED, r.await)
}

async fn show(State(e): State<Arc<Engine>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let r = async {
        e.authenticate(bearer(&headers))?;
        e.get(&id).await
    };
    answer(StatusCode::OK, r.await)
}

async fn approve(State(e): State<Arc<Engine>>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let r = async {
        let origin = e.authenticate(bearer(&headers))?;
        e.approve(&id, origin).await
    };
    answer(StatusCode::OK, r.await)
}

async fn stop_autonomy(State(e): State<Arc<Engine>>, headers: HeaderMap) -> Response {
    let r = async {
        let origin = e.authenticate(bearer(&headers))?;
        e.stop_autonomy(&origin).await
    };
    match r.await {
        Ok(()) => axum::Json(json!({"autonomy": "stopped"})).into_response(),
        Err(err) => error_response(&err),
    }
}
