//! `POST /v1/ask` (docs/live-protocol.md, docs/copilot.md): a plain-language question about the twin,
//! answered by the program that runs the service. The connector knows nothing about the copilot or the
//! analyses (the floors of ARCHITECTURE.md): the program sets an [`AskHandler`] in
//! [`crate::Config::ask`] (the `twinloom` program: the same code as `twinloom ask --json`), and the
//! connector checks the request, runs the handler on a blocking thread with the stage folder and returns
//! its JSON.
//!
//! | case | status |
//! |---|---|
//! | answered, or refused with the reason (`"answered": false`) | 200, the handler's JSON |
//! | no handler in this program | 404 |
//! | another question is being answered | 503 with `Retry-After: 1` (one at a time: analyses are heavy) |
//! | body not JSON `{"question": "…"}`, not UTF-8, over 4 KiB, question empty or over [`MAX_QUESTION_BYTES`] | 400 (over 64 KiB: 413) |
//! | the handler failed (an analysis could not run) | 500 |
//!
//! Every error body is `{"error": "…"}`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use tokio::sync::Semaphore;

/// The longest question accepted, in bytes.
pub const MAX_QUESTION_BYTES: usize = 1000;
/// The largest request body accepted, in bytes.
const MAX_BODY_BYTES: usize = 4096;

/// Answers a question about the twin whose stage is in the given folder: the JSON answer, or why no
/// answer could be computed. Set by the program that runs the service (cheap to clone).
#[derive(Clone)]
pub struct AskHandler(pub Arc<AskFn>);

/// The handler's function: (question, stage folder) → the JSON answer, or why none could be computed.
pub type AskFn = dyn Fn(&str, &Path) -> Result<serde_json::Value, String> + Send + Sync;

impl AskHandler {
    pub fn new(f: impl Fn(&str, &Path) -> Result<serde_json::Value, String> + Send + Sync + 'static) -> Self {
        AskHandler(Arc::new(f))
    }
}

impl std::fmt::Debug for AskHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AskHandler")
    }
}

/// What the route needs: the handler (if the program set one), the stage folder, one answer at a time.
#[derive(Clone)]
pub struct AskRoute {
    handler: Option<AskHandler>,
    stage_dir: PathBuf,
    busy: Arc<Semaphore>,
}

impl AskRoute {
    pub fn new(handler: Option<AskHandler>, stage_dir: PathBuf) -> Self {
        AskRoute { handler, stage_dir, busy: Arc::new(Semaphore::new(1)) }
    }
}

pub fn router(route: AskRoute) -> Router {
    Router::new().route("/v1/ask", post(ask)).layer(DefaultBodyLimit::max(64 * 1024)).with_state(route)
}

fn problem(status: StatusCode, message: impl Into<String>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], serde_json::json!({"error": message.into()}).to_string())
        .into_response()
}

/// The question of a request body, or why it is not one.
fn question(body: &[u8]) -> Result<String, String> {
    if std::str::from_utf8(body).is_err() {
        return Err("the body is not UTF-8 text".into());
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        question: String,
    }
    let b: Body = serde_json::from_slice(body).map_err(|e| format!("expected {{\"question\": \"…\"}}: {e}"))?;
    let q = b.question.trim();
    if q.is_empty() {
        return Err("the question is empty".into());
    }
    if q.len() > MAX_QUESTION_BYTES {
        return Err(format!("the question has {} bytes; at most {MAX_QUESTION_BYTES} are answered", q.len()));
    }
    Ok(q.to_string())
}

async fn ask(State(route): State<AskRoute>, body: axum::body::Bytes) -> Response {
    let Some(handler) = route.handler.clone() else {
        return problem(StatusCode::NOT_FOUND, "this program answers no questions: no copilot is set for POST /v1/ask");
    };
    if body.len() > MAX_BODY_BYTES {
        return problem(
            StatusCode::BAD_REQUEST,
            format!("the body has {} bytes; at most {MAX_BODY_BYTES}", body.len()),
        );
    }
    let q = match question(&body) {
        Ok(q) => q,
        Err(e) => return problem(StatusCode::BAD_REQUEST, e),
    };
    let Ok(permit) = route.busy.clone().try_acquire_owned() else {
        let mut r = problem(StatusCode::SERVICE_UNAVAILABLE, "another question is being answered; retry shortly");
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return r;
    };
    let dir = route.stage_dir.clone();
    let done = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        (handler.0)(&q, &dir)
    })
    .await;
    match done {
        Ok(Ok(answer)) => ([(header::CONTENT_TYPE, "application/json")], answer.to_string()).into_response(),
        Ok(Err(e)) => problem(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => problem(StatusCode::INTERNAL_SERVER_ERROR, format!("the answer failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A POST to the route served on loopback: (status, body).
    async fn post(route: AskRoute, body: &'static str) -> (u16, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, router(route)).await });
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "POST /v1/ask HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).await.unwrap();
        server.abort();
        let status = raw.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        (status, raw.split_once("\r\n\r\n").map_or(String::new(), |(_, b)| b.to_string()))
    }

    #[tokio::test]
    async fn without_a_handler_404_and_with_one_its_answer_or_error() {
        let (status, body) = post(AskRoute::new(None, PathBuf::from(".")), r#"{"question": "hi"}"#).await;
        assert_eq!(status, 404);
        assert!(body.contains("no copilot"), "{body}");
        let echo = AskHandler::new(|q, dir| {
            if q == "fail" {
                return Err("the study failed".into());
            }
            Ok(serde_json::json!({"question": q, "dir": dir.display().to_string()}))
        });
        let route = AskRoute::new(Some(echo), PathBuf::from("/stage"));
        let (status, body) = post(route.clone(), r#"{"question": " Will it clash? "}"#).await;
        assert_eq!(status, 200);
        let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer, serde_json::json!({"question": "Will it clash?", "dir": "/stage"}));
        let (status, body) = post(route.clone(), r#"{"question": "fail"}"#).await;
        assert_eq!((status, body.as_str()), (500, r#"{"error":"the study failed"}"#));
        let (status, _) = post(route, r#"{"question": ""}"#).await;
        assert_eq!(status, 400);
    }

    #[test]
    fn questions_are_checked() {
        assert_eq!(question(br#"{"question": "  Will the robots clash? "}"#).unwrap(), "Will the robots clash?");
        assert!(question(b"{\"question\": \"\xff\"}").unwrap_err().contains("UTF-8"));
        assert!(question(br#"{"question": "   "}"#).unwrap_err().contains("empty"));
        assert!(question(br#"{"q": "x"}"#).is_err());
        let long = format!(r#"{{"question": "{}"}}"#, "a".repeat(1001));
        assert!(question(long.as_bytes()).unwrap_err().contains("1001 bytes"));
    }
}
