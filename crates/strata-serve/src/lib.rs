//! strata-serve, the dashboard (above the facade: depends on `strata` only among our
//! crates, and only strata-cli depends on it): an axum [`Router`] over an open
//! [`strata::Database`] with the page for people (`/`), the health report (`/health`),
//! Prometheus metrics (`/metrics`) and JSON for scripts (`/api/stats`, `/api/queue`).
//! An application nests [`router`] in its own server; `strata serve` runs [`serve`].
//!
//! Every endpoint only reads: no handler writes to the database or runs SQL given by
//! the client, and the page names the database by its file name only.

#![deny(missing_docs)]
// Library code proves its unwraps: each one left carries an `allow` with the reason it
// cannot fail. Unit tests (cfg(test)) and the integration tests are exempt.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod collect;
mod page;
mod prom;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use strata::{CloseReport, Database, Error, Result};
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

pub use collect::Sample;

/// How the dashboard runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// How often the page refreshes itself and the server takes a sample for the
    /// charts.
    pub refresh: Duration,
    /// Samples kept for the charts (a ring buffer; the oldest goes first).
    pub history: usize,
    /// How often the server takes a health report (`quick_check`) of its own when
    /// the database has no monitor running; with one, the monitor's latest is shown.
    pub health_interval: Duration,
    /// When set, every request needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            refresh: Duration::from_secs(5),
            history: 360,
            health_interval: Duration::from_secs(30),
            token: None,
        }
    }
}

/// The dashboard's routes over `db`, ready to nest in an application's router or to
/// give to [`serve`]. Starts the sampler that feeds the charts (a tokio task that
/// ends when the last clone of the router is dropped), so it must be called inside a
/// tokio runtime.
pub fn router(db: Database, options: ServeOptions) -> Router {
    let token = options.token.clone();
    let state = collect::Dashboard::start(db, &options);
    let routes = Router::new()
        .route("/", get(index))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/api/stats", get(api_stats))
        .route("/api/queue", get(api_queue))
        .with_state(state);
    match token {
        Some(token) => routes.layer(middleware::from_fn_with_state(Arc::new(token), require_token)),
        None => routes,
    }
}

/// Serves the dashboard of `db` on `listener` until `shutdown` completes, then lets
/// requests in flight finish, stops the sampler and the database's monitor and closes
/// the pool. Pass [`shutdown_signal`] to stop on SIGINT or SIGTERM.
pub async fn serve(
    listener: TcpListener,
    db: Database,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<CloseReport> {
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let app = router(db.clone(), options);
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    let closed = db.close().await;
    served.map_err(|err| Error::ServeListen { addr, message: err.to_string() })?;
    closed
}

/// Binds `addr` for [`serve`]: E2020 when the operating system refuses it.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|err| Error::ServeListen { addr: addr.to_string(), message: err.to_string() })
}

/// Checks what `strata serve` is asked to do before it binds: an address beyond
/// loopback needs `allow_remote` and a token (E6030).
pub fn check_exposure(addr: SocketAddr, allow_remote: bool, token: Option<&str>) -> Result<()> {
    match addr.ip().is_loopback() || (allow_remote && token.is_some()) {
        true => Ok(()),
        false => Err(Error::ServeRemoteRefused { addr: addr.to_string() }),
    }
}

/// Checks a bearer token read from `origin` (a file or the environment): trimmed of
/// surrounding whitespace, at least 16 characters, none of them whitespace (E6031).
pub fn parse_token(origin: &str, raw: &str) -> Result<String> {
    let token = raw.trim();
    let bad = |reason: &str| Error::ServeToken { origin: origin.to_string(), reason: reason.to_string() };
    if token.len() < MIN_TOKEN_LEN {
        return Err(bad("the token is shorter than 16 characters"));
    }
    if token.chars().any(char::is_whitespace) {
        return Err(bad("the token holds whitespace"));
    }
    Ok(token.to_string())
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!(target: "strata::serve", "shutdown signal received");
}

/// The shortest bearer token accepted.
const MIN_TOKEN_LEN: usize = 16;

/// The content type of the Prometheus text exposition that prometheus-client writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Refuses a request without the right `Authorization: Bearer` header (401).
async fn require_token(State(token): State<Arc<String>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    match tokens_match(given, &token) {
        true => next.run(request).await,
        false => {
            let mut response = (StatusCode::UNAUTHORIZED, "a bearer token is required\n").into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            response
        }
    }
}

/// Compares two tokens in time that depends on their lengths only, never on where
/// they differ.
fn tokens_match(given: &str, expected: &str) -> bool {
    given.len() == expected.len() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

async fn index(State(dash): State<collect::Dashboard>) -> Response {
    let view = dash.view().await;
    let html = page::render(&view, dash.refresh());
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn health(State(dash): State<collect::Dashboard>) -> Response {
    match dash.health().await {
        Ok(report) => {
            let status = match report.status {
                strata::ops::Status::Critical => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::OK,
            };
            (status, json(&dash.redact(&report))).into_response()
        }
        Err(err) => {
            let body = serde_json::json!({
                "status": "unavailable",
                "code": err.code(),
                "message": dash.redact_text(&err.to_string()),
            });
            (StatusCode::SERVICE_UNAVAILABLE, json(&body)).into_response()
        }
    }
}

async fn metrics(State(dash): State<collect::Dashboard>) -> Response {
    let view = dash.view().await;
    match prom::encode(&view) {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "metrics could not be encoded\n").into_response(),
    }
}

async fn api_stats(State(dash): State<collect::Dashboard>) -> Response {
    let view = dash.view().await;
    json(&view)
}

async fn api_queue(State(dash): State<collect::Dashboard>) -> Response {
    let view = dash.view().await;
    json(&serde_json::json!({ "queues": view.queues, "oldest_ready_age_secs": view.oldest_ready_age_secs }))
}

/// A JSON response with the right content type.
fn json<T: serde::Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_when_equal() {
        assert!(tokens_match("0123456789abcdef", "0123456789abcdef"));
        assert!(!tokens_match("0123456789abcdeX", "0123456789abcdef"));
        assert!(!tokens_match("0123456789abcde", "0123456789abcdef"));
        assert!(!tokens_match("", "0123456789abcdef"));
    }

    #[test]
    fn remote_addresses_need_allow_remote_and_a_token() {
        let local: SocketAddr = "127.0.0.1:7878".parse().unwrap();
        let remote: SocketAddr = "0.0.0.0:7878".parse().unwrap();
        assert!(check_exposure(local, false, None).is_ok());
        assert_eq!(check_exposure(remote, false, None).unwrap_err().code(), "E6030");
        assert_eq!(check_exposure(remote, true, None).unwrap_err().code(), "E6030");
        assert_eq!(check_exposure(remote, false, Some("t")).unwrap_err().code(), "E6030");
        assert!(check_exposure(remote, true, Some("t")).is_ok());
    }

    #[test]
    fn short_or_spaced_tokens_are_refused() {
        assert_eq!(parse_token("env", "short").unwrap_err().code(), "E6031");
        assert_eq!(parse_token("env", "0123456789 abcdef").unwrap_err().code(), "E6031");
        assert_eq!(parse_token("env", "  0123456789abcdef\n").unwrap(), "0123456789abcdef");
    }
}
