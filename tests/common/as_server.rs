//! A stand-in authorization server on 127.0.0.1 for the remote-key tests:
//! serves discovery metadata and a JWKS, counts the hits, and can be told to
//! fail in each way a real one does.

use std::collections::{HashMap, HashSet};
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
use axum::routing::{get, post};
use bearer_guard::Validator;
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

/// How the introspection endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum IntroMode {
    /// 200 with the registered answer for the token (else `active: false`).
    Serve,
    /// Like `Serve`, but holds every answer until `open_gate`.
    Gated,
    /// This status, empty body.
    Status(u16),
    /// Never answers.
    Hang,
    /// 200 with this raw body.
    Raw(String),
    /// 200 streaming this many bytes.
    Stream(usize),
}

/// The client authentication the introspection endpoint demands.
#[derive(Clone)]
pub enum ExpectedAuth {
    Basic {
        id: String,
        secret: String,
    },
    Post {
        id: String,
        secret: String,
    },
    /// Verifies the assertion with this validator (issuer = client id,
    /// audience = the endpoint URL) and refuses a reused `jti`.
    PrivateKeyJwt {
        client_id: String,
        validator: Validator,
    },
}

/// What the introspection endpoint received.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub authorization: Option<String>,
    pub form: Vec<(String, String)>,
}

impl SeenRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

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
    /// Introspection: token -> answer.
    pub intro_answers: Mutex<HashMap<String, serde_json::Value>>,
    pub intro_mode: Mutex<IntroMode>,
    pub intro_auth: Mutex<ExpectedAuth>,
    pub intro_seen: Mutex<Vec<SeenRequest>>,
    pub intro_jtis: Mutex<HashSet<String>>,
    /// The introspection call count, observable.
    pub intro_calls: watch::Sender<usize>,
    /// Introspection requests being answered now, and the most at once.
    pub intro_in_flight: AtomicUsize,
    pub intro_peak: AtomicUsize,
    /// Mirrors `intro_in_flight`, observable.
    pub intro_busy: watch::Sender<usize>,
    pub gate: watch::Sender<bool>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AsServer state")
    }
}

/// The client the tests' resource server authenticates as by default.
pub const CLIENT_ID: &str = "rs:1 é";
pub const CLIENT_SECRET: &str = "p@ss/w+rd";

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
            intro_answers: Mutex::new(HashMap::new()),
            intro_mode: Mutex::new(IntroMode::Serve),
            intro_auth: Mutex::new(ExpectedAuth::Basic {
                id: CLIENT_ID.into(),
                secret: CLIENT_SECRET.into(),
            }),
            intro_seen: Mutex::new(Vec::new()),
            intro_jtis: Mutex::new(HashSet::new()),
            intro_calls: watch::channel(0).0,
            intro_in_flight: AtomicUsize::new(0),
            intro_peak: AtomicUsize::new(0),
            intro_busy: watch::channel(0).0,
            gate: watch::channel(false).0,
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(oidc_metadata))
            .route(
                "/.well-known/oauth-authorization-server",
                get(rfc8414_metadata),
            )
            .route("/jwks", get(jwks_endpoint))
            .route("/introspect", post(introspect_endpoint))
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

    pub fn introspection_url(&self) -> String {
        format!("http://{}/introspect", self.addr)
    }

    /// Registers the introspection answer for `token`.
    pub fn answer(&self, token: &str, answer: serde_json::Value) {
        self.state
            .intro_answers
            .lock()
            .unwrap()
            .insert(token.to_owned(), answer);
    }

    pub fn set_intro_mode(&self, mode: IntroMode) {
        *self.state.intro_mode.lock().unwrap() = mode;
    }

    pub fn expect_auth(&self, auth: ExpectedAuth) {
        *self.state.intro_auth.lock().unwrap() = auth;
    }

    pub fn intro_calls(&self) -> usize {
        *self.state.intro_calls.borrow()
    }

    /// The most introspection requests the endpoint answered at once.
    pub fn intro_peak(&self) -> usize {
        self.state.intro_peak.load(Ordering::SeqCst)
    }

    pub fn seen(&self) -> Vec<SeenRequest> {
        self.state.intro_seen.lock().unwrap().clone()
    }

    /// Waits until the introspection endpoint has been called `n` times.
    pub async fn wait_for_intro_calls(&self, n: usize) {
        let mut rx = self.state.intro_calls.subscribe();
        rx.wait_for(|c| *c >= n).await.unwrap();
    }

    /// Waits until the introspection endpoint answers no request.
    pub async fn wait_for_intro_idle(&self) {
        let mut rx = self.state.intro_busy.subscribe();
        rx.wait_for(|n| *n == 0).await.unwrap();
    }

    /// Releases the answers held in `IntroMode::Gated`.
    pub fn open_gate(&self) {
        self.state.gate.send_replace(true);
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

/// Counts a request in flight until dropped (answered or abandoned).
struct InFlight(Arc<Inner>);

impl InFlight {
    fn new(state: &Arc<Inner>) -> Self {
        let now = state.intro_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.intro_peak.fetch_max(now, Ordering::SeqCst);
        state.intro_busy.send_replace(now);
        InFlight(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let now = self.0.intro_in_flight.fetch_sub(1, Ordering::SeqCst) - 1;
        self.0.intro_busy.send_replace(now);
    }
}

async fn introspect_endpoint(
    State((state, addr)): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _in_flight = InFlight::new(&state);
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let seen = SeenRequest {
        authorization: headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        form,
    };
    state.intro_seen.lock().unwrap().push(seen.clone());
    state.intro_calls.send_modify(|c| *c += 1);
    let expected = state.intro_auth.lock().unwrap().clone();
    let authenticated = match expected {
        ExpectedAuth::Basic { id, secret } => {
            use base64::Engine as _;
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let want = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    enc(&id),
                    enc(&secret)
                ))
            );
            seen.authorization.as_deref() == Some(want.as_str())
        }
        ExpectedAuth::Post { id, secret } => {
            seen.param("client_id") == Some(id.as_str())
                && seen.param("client_secret") == Some(secret.as_str())
                && seen.authorization.is_none()
        }
        ExpectedAuth::PrivateKeyJwt {
            client_id,
            validator,
        } => {
            let ok_type = seen.param("client_assertion_type")
                == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
            match (ok_type, seen.param("client_assertion")) {
                (true, Some(assertion)) => match validator.validate(assertion).await {
                    Ok(claims) => {
                        let fresh = claims
                            .jwt_id()
                            .is_some_and(|j| state.intro_jtis.lock().unwrap().insert(j.to_owned()));
                        let lifetime = claims.expires_at().unwrap_or(i64::MAX)
                            - claims.issued_at().unwrap_or(0);
                        claims.subject() == Some(client_id.as_str())
                            && claims
                                .audiences()
                                .eq([format!("http://{addr}/introspect").as_str()])
                            && fresh
                            && lifetime <= 60
                    }
                    Err(_) => false,
                },
                _ => false,
            }
        }
    };
    if !authenticated {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let mode = state.intro_mode.lock().unwrap().clone();
    let answer = || {
        let token = seen.param("token").unwrap_or_default();
        let answer = state
            .intro_answers
            .lock()
            .unwrap()
            .get(token)
            .cloned()
            .unwrap_or_else(|| serde_json::json!({"active": false}));
        axum::Json(answer).into_response()
    };
    match mode {
        IntroMode::Serve => answer(),
        IntroMode::Gated => {
            let mut open = state.gate.subscribe();
            let _ = open.wait_for(|o| *o).await;
            answer()
        }
        IntroMode::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        IntroMode::Hang => std::future::pending().await,
        IntroMode::Raw(body) => {
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        IntroMode::Stream(len) => Response::new(Body::new(Endless { remaining: len })),
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

/// What the remote-key and introspection tests start from: a manual clock at
/// `T0`, an issuer with one ES256 key (`kid: a`) on that clock, and a server
/// publishing its JWKS.
pub struct Setup {
    pub clock: bearer_guard::testing::ManualClock,
    pub issuer: bearer_guard::testing::TestIssuer,
    pub server: AsServer,
}

/// The manual clock's start: 2033-05-18.
pub const T0: i64 = 2_000_000_000;

pub async fn setup(audience: &str) -> Setup {
    use bearer_guard::keys::Algorithm;
    use bearer_guard::testing::{TestIssuer, TestKey};
    let clock = bearer_guard::testing::ManualClock::new(T0);
    let issuer = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256).with_kid("a")])
        .default_audience(audience)
        .clock(clock.clone());
    let server = AsServer::start(issuer.jwks_json()).await;
    Setup {
        clock,
        issuer,
        server,
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
