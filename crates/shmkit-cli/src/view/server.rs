//! The HTTP and WebSocket face: routes that turn requests into [`Feed`]s and census calls, and
//! the access rules of [`access`](super::access) in front of every one of them.
//!
//! | route | what |
//! | --- | --- |
//! | `GET /` | the index page: every segment, live |
//! | `GET /view?target=T[&format=F]` | a segment's page (404/403/400 with the CLI's words if it cannot be opened) |
//! | `GET /static/{view.js,style.css}` | the pages' script and style, embedded in the binary |
//! | `GET /api/segments` | every segment, as `shmkit ls --json` |
//! | `GET /api/info?target=T` | one segment, as `shmkit info --json` |
//! | `GET /ws/index` | WebSocket: the census as JSON, once a second |
//! | `GET /ws/view?target=T[&format=F]` | WebSocket: the browser sends `next`, the server answers with the newest frame or value (binary, see [`Item`](super::feed::Item)); and once a second `{"type":"info", ...}` |
//!
//! No route writes anything.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use shmkit::Format;

use super::access;
use super::feed::{Feed, Item};
use crate::error::Error;
use crate::target::Target;

const INDEX_HTML: &str = include_str!("assets/index.html");
const VIEW_HTML: &str = include_str!("assets/view.html");
const VIEW_JS: &str = include_str!("assets/view.js");
const STYLE_CSS: &str = include_str!("assets/style.css");

/// How often pages get the census and the statistics.
const REFRESH: Duration = Duration::from_secs(1);

/// What every handler knows.
#[derive(Debug)]
pub struct App {
    pub token: String,
    pub bound: SocketAddr,
    /// The format `shmkit view --format` gave, for pages that do not name one.
    pub format: Option<Format>,
}

/// The router with the access rules in front.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/view", get(view_page))
        .route(
            "/static/view.js",
            get(|| asset(VIEW_JS, "text/javascript; charset=utf-8")),
        )
        .route(
            "/static/style.css",
            get(|| asset(STYLE_CSS, "text/css; charset=utf-8")),
        )
        .route("/api/segments", get(api_segments))
        .route("/api/info", get(api_info))
        .route("/ws/index", get(ws_index))
        .route("/ws/view", get(ws_view))
        .fallback(|| async { page_error(StatusCode::NOT_FOUND, "no such page") })
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The access rules (see [`access`]); sets the token's cookie when the URL carried the token.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let headers = req.headers();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST).unwrap_or("");
    if !access::host_allowed(host, app.bound) {
        return page_error(
            StatusCode::FORBIDDEN,
            &format!(
                "the Host {host:?} does not name this server: use the URL shmkit view printed \
                 (a Host check against DNS rebinding)"
            ),
        );
    }
    if let Some(origin) = text(header::ORIGIN) {
        if !access::origin_allowed(origin, app.bound) {
            return page_error(
                StatusCode::FORBIDDEN,
                &format!("requests from the page of {origin:?} are refused"),
            );
        }
    }
    let cookie = access::cookie_name(app.bound.port());
    let query = req.uri().query();
    let shown = access::shown_token(
        query,
        text(header::AUTHORIZATION),
        text(header::COOKIE),
        &cookie,
    );
    if !shown.is_some_and(|t| access::same(t, &app.token)) {
        let why = match shown {
            None => "this page needs the access token",
            Some(_) => "wrong access token",
        };
        return page_error(
            StatusCode::FORBIDDEN,
            &format!(
                "{why}: open the URL with ?token=… that `shmkit view` printed as the first line \
                 of its output"
            ),
        );
    }
    let in_url = query.is_some_and(|q| q.split('&').any(|kv| kv.starts_with("token=")));
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if in_url {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{cookie}={}; Path=/; HttpOnly; SameSite=Strict",
            app.token
        )) {
            h.insert(header::SET_COOKIE, v);
        }
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; \
             style-src 'self'; script-src 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Text safe inside HTML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A page that says what went wrong, with its status.
fn page_error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>shmkit view: {code}</title>\
         <link rel=stylesheet href=/static/style.css><body><header><a href=/>shmkit view</a></header>\
         <main><p class=error id=error>shmkit: {msg}</p></main>",
        code = status.as_u16(),
        msg = escape(message)
    );
    (status, Html(body)).into_response()
}

/// The HTTP status for a failed open: as the error's kind says.
fn status_of(e: &Error) -> StatusCode {
    match e {
        Error::Shmkit(e) => match e.kind() {
            shmkit::ErrorKind::NotFound => StatusCode::NOT_FOUND,
            shmkit::ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
            shmkit::ErrorKind::InvalidName | shmkit::ErrorKind::InvalidInput => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        Error::Failed(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The target and format a page's query names; otherwise the status and what is wrong.
fn page_target(
    app: &App,
    q: &HashMap<String, String>,
) -> Result<(Target, Option<Format>), (StatusCode, String)> {
    let bad = |why: String| (StatusCode::BAD_REQUEST, why);
    let Some(t) = q.get("target").filter(|t| !t.is_empty()) else {
        return Err(bad("which segment? add ?target=NAME".into()));
    };
    let target = Target::parse(t).map_err(|why| bad(format!("invalid target {t:?}: {why}")))?;
    let format = match q.get("format").filter(|f| !f.is_empty()) {
        Some(f) => Some(
            crate::util::parse_format(f)
                .map_err(|why| bad(format!("invalid format {f:?}: {why}")))?,
        ),
        None => app.format.clone(),
    };
    Ok((target, format))
}

async fn index() -> Html<&'static str> {
    Html(INDEX_HTML)
}

/// A segment's page, once the segment is known to open.
async fn view_page(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (target, format) = match page_target(&app, &q) {
        Ok(t) => t,
        Err((status, why)) => return page_error(status, &why),
    };
    let opened = tokio::task::spawn_blocking(move || Feed::open(&target, format).map(|_| ())).await;
    match opened {
        Ok(Ok(())) => Html(VIEW_HTML).into_response(),
        Ok(Err(e)) => page_error(status_of(&e), &e.to_string()),
        Err(_) => page_error(StatusCode::INTERNAL_SERVER_ERROR, "the open failed"),
    }
}

fn json_response(v: Result<Value, Error>) -> Response {
    match v {
        Ok(v) => ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response(),
        Err(e) => (
            status_of(&e),
            [(header::CONTENT_TYPE, "application/json")],
            json!({ "error": format!("shmkit: {e}") }).to_string(),
        )
            .into_response(),
    }
}

async fn census() -> Result<Value, Error> {
    tokio::task::spawn_blocking(|| crate::cmd::ls::census_json().map(Value::Array))
        .await
        .unwrap_or_else(|_| Err(Error::Failed("the census failed".into())))
}

async fn api_segments() -> Response {
    json_response(census().await)
}

async fn info_of(target: Target) -> Result<Value, Error> {
    tokio::task::spawn_blocking(move || crate::cmd::info::json_of(&target))
        .await
        .unwrap_or_else(|_| Err(Error::Failed("the inspection failed".into())))
}

async fn api_info(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match page_target(&app, &q) {
        Ok((target, _)) => json_response(info_of(target).await),
        Err((status, why)) => page_error(status, &why),
    }
}

/// The index's WebSocket: the census, once a second, until the page goes.
async fn ws_index(ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(|mut socket| async move {
        let mut tick = tokio::time::interval(REFRESH);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let msg = match census().await {
                        Ok(list) => json!({"type": "census", "segments": list}),
                        Err(e) => json!({"type": "error", "message": format!("shmkit: {e}")}),
                    };
                    if socket.send(Message::Text(msg.to_string().into())).await.is_err() {
                        return;
                    }
                }
                got = socket.recv() => match got {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    _ => {}
                },
            }
        }
    })
}

/// What the feed thread hands to the socket.
enum FromFeed {
    Hello(Value),
    Item(Item),
    Error(String),
}

/// A segment's WebSocket.
async fn ws_view(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let (target, format) = match page_target(&app, &q) {
        Ok(t) => t,
        Err((status, why)) => return page_error(status, &why),
    };
    ws.on_upgrade(move |socket| view_session(socket, target, format))
}

/// The feed on a thread of its own: one item per `next` from the page, always the newest.
fn start_feed(
    target: Target,
    format: Option<Format>,
    wants: std::sync::mpsc::Receiver<()>,
    items: tokio::sync::mpsc::Sender<FromFeed>,
    gone: Arc<AtomicBool>,
) {
    std::thread::spawn(move || {
        let mut feed = match Feed::open(&target, format) {
            Ok(f) => f,
            Err(e) => {
                let _ = items.blocking_send(FromFeed::Error(format!("shmkit: {e}")));
                return;
            }
        };
        let hello = json!({
            "type": "hello",
            "target": target.to_string(),
            "kind": feed.kind(),
            "format": feed.format().map(ToString::to_string),
        });
        if items.blocking_send(FromFeed::Hello(hello)).is_err() {
            return;
        }
        let is_gone = || gone.load(Ordering::Relaxed);
        loop {
            match wants.recv_timeout(Duration::from_millis(200)) {
                Ok(()) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !is_gone() => continue,
                Err(_) => return,
            }
            let msg = match feed.next(&is_gone) {
                Ok(Some(item)) => FromFeed::Item(item),
                Ok(None) => return,
                Err(e) => FromFeed::Error(format!("shmkit: {e}")),
            };
            let stop = matches!(msg, FromFeed::Error(_));
            if items.blocking_send(msg).is_err() || stop {
                return;
            }
        }
    });
}

async fn view_session(mut socket: WebSocket, target: Target, format: Option<Format>) {
    let (want_tx, want_rx) = std::sync::mpsc::channel();
    let (item_tx, mut item_rx) = tokio::sync::mpsc::channel(1);
    let gone = Arc::new(AtomicBool::new(false));
    start_feed(target.clone(), format, want_rx, item_tx, gone.clone());
    let mut tick = tokio::time::interval(REFRESH);
    let mut feed_ended = false;
    loop {
        tokio::select! {
            got = socket.recv() => match got {
                Some(Ok(Message::Text(t))) if t.as_str() == "next" => {
                    // The feed may have ended with an error the page has been told.
                    let _ = want_tx.send(());
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
            from = item_rx.recv(), if !feed_ended => {
                let msg = match from {
                    Some(FromFeed::Item(item)) => Message::Binary(item.encode().into()),
                    Some(FromFeed::Hello(v)) => Message::Text(v.to_string().into()),
                    Some(FromFeed::Error(e)) => {
                        Message::Text(json!({"type": "error", "message": e}).to_string().into())
                    }
                    None => {
                        feed_ended = true;
                        continue;
                    }
                };
                if socket.send(msg).await.is_err() {
                    break;
                }
            }
            _ = tick.tick() => {
                let msg = match info_of(target.clone()).await {
                    Ok(info) => json!({"type": "info", "segment": info}),
                    Err(e) => json!({"type": "gone", "message": format!("shmkit: {e}")}),
                };
                if socket.send(Message::Text(msg.to_string().into())).await.is_err() {
                    break;
                }
            }
        }
    }
    gone.store(true, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
