//! A stand-in authorization server on 127.0.0.1 for the remote-key tests:
//! serves discovery metadata and a JWKS, counts the hits, and can be told to
//! fail in each way a real one does.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http_body::Frame;
use tokio::sync::watch;

/// How the JWKS endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// 200 with the current JWKS.
    Serve,
    /// This status, empty body.
    Status(u16),
    /// Accepts the request and never answers.
    Hang,
    /// 200 with a body that is not JSON.
    NotJson,
    /// 200 streaming this many bytes, without Content-Length.
    Stream(usize),
    /// 200 with this Content-Length declared up front.
    DeclaredLength(u64),
    /// 302 to this location.
    Redirect(String),
}

#[derive(Debug)]
pub struct Inner {
    pub jwks: Mutex<String>,
    pub mode: Mutex<Mode>,
    pub cache_control: Mutex<Option<String>>,
    pub etag: Mutex<Option<String>>,
    pub last_modified: Mutex<Option<String>>,
    /// The `issuer` the metadata names (default: the server's own URL).
    pub issuer: Mutex<Option<String>>,
    /// Whether `/.well-known/openid-configuration` exists (else only RFC 8414).
    pub oidc_route: Mutex<bool>,
    pub jwks_hits: AtomicUsize,
    pub metadata_hits: AtomicUsize,
    /// Conditional headers seen on the last JWKS request.
    pub last_if_none_match: Mutex<Option<String>>,
    pub last_if_modified_since: Mutex<Option<String>>,
    /// The JWKS hit count, observable.
    pub hits: watch::Sender<usize>,
}

#[derive(Clone, Debug)]
pub struct AsServer {
    pub addr: SocketAddr,
    pub state: Arc<Inner>,
}

impl AsServer {
    /// Starts a server publishing `jwks`.
    pub async fn start(jwks: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Inner {
            jwks: Mutex::new(jwks),
            mode: Mutex::new(Mode::Serve),
            cache_control: Mutex::new(None),
            etag: Mutex::new(None),
            last_modified: Mutex::new(None),
            issuer: Mutex::new(None),
            oidc_route: Mutex::new(true),
            jwks_hits: AtomicUsize::new(0),
            metadata_hits: AtomicUsize::new(0),
            last_if_none_match: Mutex::new(None),
            last_if_modified_since: Mutex::new(None),
            hits: watch::channel(0).0,
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(oidc_metadata))
            .route(
                "/.well-known/oauth-authorization-server",
                get(rfc8414_metadata),
            )
            .route("/jwks", get(jwks_endpoint))
            .route(
                "/moved",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/jwks")]) }),
            )
            .with_state((state.clone(), addr));
        tokio::spawn(async move { axum::serve(listener, app).await });
        AsServer { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn jwks_url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    pub fn set_jwks(&self, jwks: String) {
        *self.state.jwks.lock().unwrap() = jwks;
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn jwks_hits(&self) -> usize {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    /// Waits until the JWKS endpoint has been hit `n` times.
    pub async fn wait_for_hits(&self, n: usize) {
        let mut rx = self.state.hits.subscribe();
        rx.wait_for(|h| *h >= n).await.unwrap();
    }
}

type AppState = (Arc<Inner>, SocketAddr);

fn metadata(state: &Inner, addr: SocketAddr) -> Response {
    state.metadata_hits.fetch_add(1, Ordering::SeqCst);
    let issuer = state
        .issuer
        .lock()
        .unwrap()
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    axum::Json(serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("http://{addr}/jwks"),
        "introspection_endpoint": format!("http://{addr}/introspect"),
        "token_endpoint": format!("http://{addr}/token"),
        "grant_types_supported": ["client_credentials"],
    }))
    .into_response()
}

async fn oidc_metadata(State((state, addr)): State<AppState>) -> Response {
    if !*state.oidc_route.lock().unwrap() {
        return StatusCode::NOT_FOUND.into_response();
    }
    metadata(&state, addr)
}

async fn rfc8414_metadata(State((state, addr)): State<AppState>) -> Response {
    metadata(&state, addr)
}

async fn jwks_endpoint(State((state, _)): State<AppState>, headers: HeaderMap) -> Response {
    let hits = state.jwks_hits.fetch_add(1, Ordering::SeqCst) + 1;
    state.hits.send_replace(hits);
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    *state.last_if_none_match.lock().unwrap() = header_str(header::IF_NONE_MATCH);
    *state.last_if_modified_since.lock().unwrap() = header_str(header::IF_MODIFIED_SINCE);
    let mode = state.mode.lock().unwrap().clone();
    match mode {
        Mode::Serve => {
            let etag = state.etag.lock().unwrap().clone();
            let last_modified = state.last_modified.lock().unwrap().clone();
            let not_modified = match (&etag, header_str(header::IF_NONE_MATCH)) {
                (Some(e), Some(seen)) => *e == seen,
                _ => match (&last_modified, header_str(header::IF_MODIFIED_SINCE)) {
                    (Some(lm), Some(seen)) => *lm == seen,
                    _ => false,
                },
            };
            let mut response = if not_modified {
                StatusCode::NOT_MODIFIED.into_response()
            } else {
                (
                    [(header::CONTENT_TYPE, "application/jwk-set+json")],
                    state.jwks.lock().unwrap().clone(),
                )
                    .into_response()
            };
            let h = response.headers_mut();
            if let Some(cc) = state.cache_control.lock().unwrap().clone() {
                h.insert(header::CACHE_CONTROL, cc.parse().unwrap());
            }
            if let Some(e) = etag {
                h.insert(header::ETAG, e.parse().unwrap());
            }
            if let Some(lm) = last_modified {
                h.insert(header::LAST_MODIFIED, lm.parse().unwrap());
            }
            response
        }
        Mode::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Mode::Hang => std::future::pending().await,
        Mode::NotJson => "<html>login page</html>".into_response(),
        Mode::Stream(len) => Response::new(Body::new(Endless { remaining: len })),
        Mode::DeclaredLength(len) => Response::builder()
            .header(header::CONTENT_LENGTH, len)
            .body(Body::new(Endless {
                remaining: len as usize,
            }))
            .unwrap(),
        Mode::Redirect(location) => {
            (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
        }
    }
}

/// A body of `remaining` bytes of spaces, sent in 64 KiB frames.
struct Endless {
    remaining: usize,
}

impl http_body::Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(64 * 1024);
        self.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b' '; n])))))
    }
}

/// A TCP server that accepts connections and never answers (nor closes).
pub async fn silent_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

/// An address on 127.0.0.1 where nothing listens.
pub async fn refused_addr() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    addr
}
