//! [`TestAuthorizationServer`]: a [`TestIssuer`] served on 127.0.0.1 as an
//! authorization server (discovery, JWKS, token endpoint, introspection),
//! with the switches a test flips while it runs. hyper's HTTP/1 server on
//! the caller's tokio runtime; what it answers is `oauth`'s.
//!
//! Every request is a peer's input: heads and bodies are read with a limit
//! and within a time, the connections and the recorded requests are
//! bounded, and nothing here panics on what a request holds.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, LengthLimitError, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Map, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::issuer::{TestIssuer, TestKey, TokenBuilder};
use super::oauth::{self, Answer, ClientRegistration, Form, Issued, Known, Tokens};
use crate::introspection::{ClientAuth, Introspection};
use crate::validator::{Validator, ValidatorBuilder};

/// Most connections served at once; further ones wait to be accepted.
const MAX_CONNECTIONS: usize = 256;

/// An endpoint of the [`TestAuthorizationServer`], for its switches and
/// counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// The metadata document, at `/.well-known/openid-configuration`
    /// (OpenID Connect Discovery) and at
    /// `/.well-known/oauth-authorization-server` (RFC 8414).
    Discovery,
    /// The JWKS, at `/jwks`.
    Jwks,
    /// The token endpoint, at `/token` (`POST`).
    Token,
    /// The introspection endpoint, at `/introspect` (`POST`).
    Introspection,
}

impl Endpoint {
    /// The endpoint serving `path`.
    fn of(path: &str) -> Option<Self> {
        match path {
            oauth::OIDC_METADATA_PATH | oauth::RFC8414_METADATA_PATH => Some(Endpoint::Discovery),
            oauth::JWKS_PATH => Some(Endpoint::Jwks),
            oauth::TOKEN_PATH => Some(Endpoint::Token),
            oauth::INTROSPECTION_PATH => Some(Endpoint::Introspection),
            _ => None,
        }
    }

    fn method(self) -> &'static str {
        match self {
            Endpoint::Discovery | Endpoint::Jwks => "GET",
            Endpoint::Token | Endpoint::Introspection => "POST",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Endpoint::Discovery => oauth::OIDC_METADATA_PATH,
            Endpoint::Jwks => oauth::JWKS_PATH,
            Endpoint::Token => oauth::TOKEN_PATH,
            Endpoint::Introspection => oauth::INTROSPECTION_PATH,
        }
    }
}

/// How an endpoint fails, set with [`TestAuthorizationServer::fail`] until
/// [`recover`](TestAuthorizationServer::recover). A failing endpoint still
/// counts and records each request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// Answers this status with an empty body (`500`, `503`, `404`...).
    /// A number that is not a final HTTP status (200 to 599) answers 500.
    Status(u16),
    /// Answers nothing: each request is held until the endpoint's setting
    /// changes (then answered as the new setting says) or the server
    /// stops, so the caller's timeout fires first.
    Hang,
    /// Answers 200 with a body that is not JSON (a document cut short),
    /// as `application/json`.
    Malformed,
}

/// A request an endpoint received, as [`TestAuthorizationServer`] recorded
/// it (before any [`Failure`] applied). Its `Debug` hides secrets: header
/// values, the values of the path's query (`?api_key=***`), and the form's
/// `client_secret`, `client_assertion` and tokens.
///
/// ```
/// use bearer_guard::testing::{Endpoint, TestIssuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let server = TestIssuer::new().serve().await;
/// let _validator = server.validator().await;
/// let fetch = server.last_request(Endpoint::Jwks).unwrap();
/// assert_eq!((fetch.method().as_str(), fetch.path()), ("GET", "/jwks"));
/// assert_eq!(server.requests(Endpoint::Discovery), 1);
/// # }
/// ```
#[derive(Clone)]
pub struct RecordedRequest {
    method: Method,
    path: String,
    headers: HeaderMap,
    form: Form,
}

/// Form parameters whose values a `Debug` hides.
const SECRET_PARAMETERS: &[&str] = &[
    "client_secret",
    "client_assertion",
    "token",
    "access_token",
    "refresh_token",
];

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form: Vec<(&str, &str)> = self
            .form
            .pairs()
            .iter()
            .map(|(name, value)| {
                let shown = if SECRET_PARAMETERS.contains(&name.as_str()) {
                    "<redacted>"
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect();
        let headers: Vec<&str> = self.headers.keys().map(|name| name.as_str()).collect();
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &path_shown(&self.path))
            .field("header_names", &headers)
            .field("form", &form)
            .finish()
    }
}

/// `path` with each query value hidden, as
/// [`EndpointUrl`](crate::jwks::EndpointUrl) shows a URL: the query is where
/// credentials in a URL live.
fn path_shown(path: &str) -> String {
    let Some((path, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let names: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            format!("{name}=***")
        })
        .collect();
    format!("{path}?{}", names.join("&"))
}

impl RecordedRequest {
    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path and query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The header `name`, if it is present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The form parameters of the body, decoded, in order (empty for a
    /// `GET`).
    pub fn form(&self) -> &[(String, String)] {
        self.form.pairs()
    }

    /// The first form parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.form.get(name)
    }

    /// The client id the request presented (HTTP Basic, or the form's
    /// `client_id`), whether or not it authenticated.
    pub fn client_id(&self) -> Option<String> {
        oauth::presented_client_id(self.header(header::AUTHORIZATION.as_str()), &self.form)
    }
}

/// One endpoint's switch, counter and recorded requests.
struct Slot {
    count: watch::Sender<u64>,
    failure: watch::Sender<Option<Failure>>,
    recorded: Mutex<VecDeque<RecordedRequest>>,
}

impl Slot {
    fn new() -> Self {
        Slot {
            count: watch::Sender::new(0),
            failure: watch::Sender::new(None),
            recorded: Mutex::new(VecDeque::new()),
        }
    }

    fn record(&self, request: RecordedRequest) {
        {
            let mut recorded = lock(&self.recorded);
            if recorded.len() >= TestAuthorizationServer::RECORDED_REQUESTS {
                recorded.pop_front();
            }
            recorded.push_back(request);
        }
        self.count.send_modify(|n| *n = n.saturating_add(1));
    }
}

/// The state the server's tasks and its handle share.
struct Shared {
    url: String,
    issuer: RwLock<TestIssuer>,
    clients: RwLock<Vec<ClientRegistration>>,
    tokens: Mutex<Tokens>,
    /// Members the test put over the metadata document.
    metadata: Mutex<Map<String, Value>>,
    /// Seconds.
    token_lifetime: AtomicI64,
    discovery: Slot,
    jwks: Slot,
    token: Slot,
    introspection: Slot,
}

impl Shared {
    fn slot(&self, endpoint: Endpoint) -> &Slot {
        match endpoint {
            Endpoint::Discovery => &self.discovery,
            Endpoint::Jwks => &self.jwks,
            Endpoint::Token => &self.token,
            Endpoint::Introspection => &self.introspection,
        }
    }
}

// A test that panicked while holding a lock leaves the state as it was.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

/// A [`TestIssuer`] served as an authorization server on 127.0.0.1, made by
/// [`TestIssuer::serve`]: the stand-in for your authorization server when
/// what you test is configured the way production is (discovery,
/// introspection, a client's token source).
///
/// | path | what |
/// |---|---|
/// | `/.well-known/openid-configuration`, `/.well-known/oauth-authorization-server` | the metadata document (RFC 8414; its `issuer` is [`issuer`](Self::issuer)) |
/// | `/jwks` | the issuer's public keys |
/// | `/token` | the client-credentials grant for [registered clients](Self::register_client): a JWT (or opaque) access token, RFC 6749 §5.2 errors |
/// | `/introspect` | RFC 7662 for registered clients: the JWTs of the issuer's current keys, the [opaque tokens](Self::opaque_token) it issued, the [answers you set](Self::set_introspection_answer) |
///
/// While it runs, a test rotates the keys ([`add_key`](Self::add_key),
/// [`replace_signing_key`](Self::replace_signing_key),
/// [`remove_key`](Self::remove_key)), makes an endpoint
/// [`fail`](Self::fail) and [`recover`](Self::recover), and reads what each
/// endpoint received ([`requests`](Self::requests),
/// [`wait_for_requests`](Self::wait_for_requests),
/// [`last_request`](Self::last_request)). Dropping the handle stops the
/// server and closes its connections.
///
/// ```
/// use bearer_guard::testing::TestIssuer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = TestIssuer::new().default_audience("payments").serve().await;
/// // Configured as in production: the issuer URL and discovery.
/// let validator = server.validator_builder().audience("payments").build_and_fetch().await?;
/// let claims = validator.validate(&server.token().scope("charge").sign()).await?;
/// assert_eq!(claims.issuer(), Some(server.issuer()));
/// # Ok(()) }
/// ```
pub struct TestAuthorizationServer {
    addr: SocketAddr,
    audience: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl fmt::Debug for TestAuthorizationServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<String> = read(&self.shared.issuer)
            .keys()
            .iter()
            .map(|k| k.kid().to_owned())
            .collect();
        let clients: Vec<String> = read(&self.shared.clients)
            .iter()
            .map(|c| c.id().to_owned())
            .collect();
        f.debug_struct("TestAuthorizationServer")
            .field("issuer", &self.shared.url)
            .field("keys", &kids)
            .field("clients", &clients)
            .finish_non_exhaustive()
    }
}

impl Drop for TestAuthorizationServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestIssuer {
    /// Serves this issuer as an authorization server on `127.0.0.1` (a free
    /// port): see [`TestAuthorizationServer`]. The issuer URL becomes
    /// `http://127.0.0.1:PORT`, in the metadata and in the `iss` of every
    /// token it mints from now on; the keys, default audience and clock
    /// stay.
    ///
    /// The server runs on the current tokio runtime until its handle is
    /// dropped.
    ///
    /// ```
    /// use bearer_guard::testing::TestIssuer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = TestIssuer::new().serve().await;
    /// let validator = server.validator().await; // discovery, for the default audience
    /// assert!(validator.validate(&server.token().sign()).await.is_ok());
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, or if no port on 127.0.0.1 can be bound.
    pub async fn serve(self) -> TestAuthorizationServer {
        TestAuthorizationServer::start(self).await
    }
}

impl TestAuthorizationServer {
    /// The client [`introspection`](Self::introspection) authenticates as,
    /// registered from the start.
    pub const RESOURCE_SERVER_CLIENT_ID: &'static str = "resource-server";
    /// The secret of [`RESOURCE_SERVER_CLIENT_ID`](Self::RESOURCE_SERVER_CLIENT_ID).
    pub const RESOURCE_SERVER_CLIENT_SECRET: &'static str = "resource-server-secret";
    /// Largest request body read, in bytes: a larger one is answered 413.
    pub const MAX_REQUEST_BODY: usize = 64 * 1024;
    /// Longest wait for a request's head (on a new or an idle kept-alive
    /// connection: it is then closed) and for its body (answered 408): a
    /// client that stalls does not hold one of the server's connections
    /// forever.
    pub const READ_TIMEOUT: Duration = Duration::from_secs(30);
    /// How many requests per endpoint [`recorded_requests`](Self::recorded_requests)
    /// keeps (the latest).
    pub const RECORDED_REQUESTS: usize = 32;
    /// How long the token endpoint's access tokens live, unless
    /// [`set_token_lifetime`](Self::set_token_lifetime) says otherwise.
    pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

    #[allow(clippy::expect_used)] // A machine without loopback has nothing to test.
    async fn start(mut issuer: TestIssuer) -> Self {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("TestAuthorizationServer: bind 127.0.0.1");
        let addr = listener
            .local_addr()
            .expect("TestAuthorizationServer: the bound address");
        let url = format!("http://{addr}");
        issuer.set_issuer_url(url.clone());
        let audience = issuer.audience().to_owned();
        let shared = Arc::new(Shared {
            url,
            issuer: RwLock::new(issuer),
            clients: RwLock::new(vec![ClientRegistration::new(
                Self::RESOURCE_SERVER_CLIENT_ID,
                Self::RESOURCE_SERVER_CLIENT_SECRET,
            )]),
            tokens: Mutex::new(Tokens::default()),
            metadata: Mutex::new(Map::new()),
            token_lifetime: AtomicI64::new(seconds(Self::DEFAULT_TOKEN_LIFETIME)),
            discovery: Slot::new(),
            jwks: Slot::new(),
            token: Slot::new(),
            introspection: Slot::new(),
        });
        let task = tokio::spawn(accept(listener, shared.clone()));
        TestAuthorizationServer {
            addr,
            audience,
            shared,
            task,
        }
    }

    /// The issuer URL, `http://127.0.0.1:PORT` (no trailing slash): the
    /// metadata's `issuer` and the `iss` of the tokens.
    pub fn issuer(&self) -> &str {
        &self.shared.url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of `endpoint` (the OpenID Connect path for
    /// [`Endpoint::Discovery`]), as the metadata names it.
    ///
    /// ```
    /// # use bearer_guard::testing::{Endpoint, TestIssuer};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let server = TestIssuer::new().serve().await;
    /// assert_eq!(server.url(Endpoint::Jwks), format!("{}/jwks", server.issuer()));
    /// # }
    /// ```
    pub fn url(&self, endpoint: Endpoint) -> String {
        format!("{}{}", self.shared.url, endpoint.path())
    }

    /// The audience tokens carry by default (the issuer's
    /// [`default_audience`](TestIssuer::default_audience)).
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Starts minting a token with the issuer's current default key (see
    /// [`TestIssuer::token`]); its `iss` is [`issuer`](Self::issuer).
    ///
    /// # Panics
    ///
    /// If every key was removed.
    pub fn token(&self) -> TokenBuilder {
        read(&self.shared.issuer).token()
    }

    /// A copy of the issuer as it is now (keys, audience, clock, URL): it
    /// mints the tokens the server would, for example with a key the
    /// server no longer publishes; later rotations do not change it.
    pub fn snapshot(&self) -> TestIssuer {
        read(&self.shared.issuer).clone()
    }

    /// The JWKS the server publishes now.
    pub fn jwks(&self) -> Value {
        read(&self.shared.issuer).jwks()
    }

    /// Publishes `key` beside the current ones; it does not sign until
    /// [`sign_with`](Self::sign_with) says so (the first step of a
    /// rotation).
    pub fn add_key(&self, key: TestKey) {
        write(&self.shared.issuer).add_key(key);
    }

    /// Makes the published key `kid` the one new tokens are signed with.
    ///
    /// # Panics
    ///
    /// If no key has this `kid`.
    pub fn sign_with(&self, kid: &str) {
        write(&self.shared.issuer).sign_with(kid);
    }

    /// Withdraws the key `kid` from the JWKS; its tokens are no longer
    /// introspected as active. When it was the signing key, the next one
    /// signs.
    pub fn remove_key(&self, kid: &str) {
        write(&self.shared.issuer).remove_key(kid);
    }

    /// A rotation without overlap: `key` signs from now on and is
    /// published, and the key that signed until now (and any key with the
    /// new one's `kid`) is withdrawn.
    ///
    /// ```
    /// use bearer_guard::{ValidationError, keys::Algorithm, testing::ManualClock};
    /// use bearer_guard::testing::{TestIssuer, TestKey};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let clock = ManualClock::new(2_000_000_000);
    /// let server = TestIssuer::new().clock(clock.clone()).serve().await;
    /// let validator = server.validator().await;
    /// let old = server.token().sign();
    ///
    /// server.replace_signing_key(TestKey::generate(Algorithm::ES256).with_kid("next"));
    /// clock.advance(31); // past the validator's unknown-kid cool-down
    /// // The new kid makes the validator fetch the JWKS again...
    /// assert!(validator.validate(&server.token().sign()).await.is_ok());
    /// // ...which no longer holds the old key.
    /// assert_eq!(validator.validate(&old).await.unwrap_err(), ValidationError::UnknownKeyId);
    /// # Ok(()) }
    /// ```
    pub fn replace_signing_key(&self, key: TestKey) {
        let mut issuer = write(&self.shared.issuer);
        let kid = key.kid().to_owned();
        let previous = issuer.keys().first().map(|k| k.kid().to_owned());
        issuer.remove_key(&kid);
        if let Some(previous) = previous {
            issuer.remove_key(&previous);
        }
        issuer.add_key(key);
        issuer.sign_with(&kid);
    }

    /// Registers a client of the token and introspection endpoints (a
    /// registration with the same id is replaced).
    pub fn register_client(&self, client: ClientRegistration) {
        let mut clients = write(&self.shared.clients);
        clients.retain(|c| c.id() != client.id());
        clients.push(client);
    }

    /// How long the token endpoint's access tokens live from now on
    /// (`expires_in` and `exp`); default
    /// [`DEFAULT_TOKEN_LIFETIME`](Self::DEFAULT_TOKEN_LIFETIME).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared
            .token_lifetime
            .store(seconds(lifetime), Ordering::Relaxed);
    }

    /// An opaque access token (a random string) whose introspection answer
    /// is `active: true` with the claims `token` would carry as a JWT,
    /// until their `exp` (on the issuer's clock).
    ///
    /// ```
    /// use bearer_guard::testing::TestIssuer;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = TestIssuer::new().default_audience("payments").serve().await;
    /// let validator = server
    ///     .validator_builder()
    ///     .audience("payments")
    ///     .introspection(server.introspection())
    ///     .build_and_fetch()
    ///     .await?;
    /// let opaque = server.opaque_token(server.token().subject("alice").scope("read"));
    /// let claims = validator.validate(&opaque).await?;
    /// assert_eq!(claims.subject(), Some("alice"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Panics
    ///
    /// If the system's random generator fails.
    #[allow(clippy::expect_used)] // The test machine is broken.
    pub fn opaque_token(&self, token: TokenBuilder) -> String {
        let opaque = oauth::random_token().expect("the system's random generator");
        lock(&self.shared.tokens)
            .known
            .insert(opaque.clone(), Known::Issued(token.into_claims()));
        opaque
    }

    /// Answers the introspection of `token` with `answer`, as is (`{"active":
    /// false}`, an answer without `aud`, a `token_type` of another kind...).
    pub fn set_introspection_answer(&self, token: impl Into<String>, answer: Value) {
        lock(&self.shared.tokens)
            .known
            .insert(token.into(), Known::Answer(answer));
    }

    /// Revokes `token` (a JWT or an opaque one): introspection answers
    /// `active: false` for it from now on.
    pub fn revoke(&self, token: &str) {
        let digest = crate::digest::sha256(token.as_bytes());
        lock(&self.shared.tokens).revoked.push(digest);
    }

    /// Puts the member `name` in the metadata document, over the one the
    /// server writes (an `issuer` that is not the server's, an endpoint
    /// elsewhere, a member of your own).
    pub fn set_metadata(&self, name: &str, value: Value) {
        lock(&self.shared.metadata).insert(name.to_owned(), value);
    }

    /// Makes `endpoint` fail as `failure` says, until
    /// [`recover`](Self::recover).
    ///
    /// ```
    /// use bearer_guard::testing::{Endpoint, Failure, TestIssuer};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = TestIssuer::new().serve().await;
    /// let validator = server.validator().await;
    /// server.fail(Endpoint::Jwks, Failure::Status(500));
    /// assert!(validator.refresh_keys().await.is_err());
    /// // The last good keys still verify.
    /// assert!(validator.validate(&server.token().sign()).await.is_ok());
    /// server.recover(Endpoint::Jwks);
    /// assert!(validator.refresh_keys().await.is_ok());
    /// # Ok(()) }
    /// ```
    pub fn fail(&self, endpoint: Endpoint, failure: Failure) {
        self.shared
            .slot(endpoint)
            .failure
            .send_replace(Some(failure));
    }

    /// Makes `endpoint` answer normally again (and releases the requests a
    /// [`Failure::Hang`] held).
    pub fn recover(&self, endpoint: Endpoint) {
        self.shared.slot(endpoint).failure.send_replace(None);
    }

    /// How many requests `endpoint` received (failed ones included).
    pub fn requests(&self, endpoint: Endpoint) -> u64 {
        *self.shared.slot(endpoint).count.borrow()
    }

    /// Waits until `endpoint` has received `count` requests in all: for
    /// background activity (a scheduled refresh, a spawned renewal)
    /// without sleeping. It waits as long as it takes: wrap it in a
    /// timeout where the request may never come.
    pub async fn wait_for_requests(&self, endpoint: Endpoint, count: u64) {
        let mut counter = self.shared.slot(endpoint).count.subscribe();
        // Fails only when the sender is gone, and `self` holds it.
        let _ = counter.wait_for(|n| *n >= count).await;
    }

    /// The last request `endpoint` received.
    pub fn last_request(&self, endpoint: Endpoint) -> Option<RecordedRequest> {
        lock(&self.shared.slot(endpoint).recorded).back().cloned()
    }

    /// The last [`RECORDED_REQUESTS`](Self::RECORDED_REQUESTS) requests
    /// `endpoint` received, oldest first.
    pub fn recorded_requests(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        lock(&self.shared.slot(endpoint).recorded)
            .iter()
            .cloned()
            .collect()
    }

    /// A validator builder configured as production configures one
    /// against this server: its issuer URL, [`discover`](ValidatorBuilder::discover),
    /// plain `http` allowed (loopback), and the issuer's clock (and HMAC
    /// secrets, which no JWKS publishes). Add the audience to accept.
    pub fn validator_builder(&self) -> ValidatorBuilder {
        let issuer = read(&self.shared.issuer);
        let mut builder = Validator::builder()
            .issuer(self.shared.url.clone())
            .clock(issuer.clock_handle().clone())
            .discover()
            .allow_insecure_http();
        for key in issuer.keys() {
            if let Some(secret) = key.secret() {
                builder = builder.hmac_secret(secret, key.alg(), Some(key.kid()));
            }
        }
        builder
    }

    /// The [`validator_builder`](Self::validator_builder) for the default
    /// [`audience`](Self::audience), built after its first fetch of the
    /// metadata and the keys.
    ///
    /// # Panics
    ///
    /// If the validator cannot be built or its first fetch fails (an
    /// endpoint set to [`fail`](Self::fail), say).
    #[allow(clippy::expect_used)] // A test set-up that cannot start.
    pub async fn validator(&self) -> Validator {
        self.validator_builder()
            .audience(self.audience.clone())
            .build_and_fetch()
            .await
            .expect("TestAuthorizationServer validator")
    }

    /// Introspection at the discovered endpoint, authenticating as
    /// [`RESOURCE_SERVER_CLIENT_ID`](Self::RESOURCE_SERVER_CLIENT_ID) with
    /// `client_secret_basic`: give it to
    /// [`validator_builder`](Self::validator_builder)`().introspection(..)`.
    pub fn introspection(&self) -> Introspection {
        Introspection::discovered(ClientAuth::basic(
            Self::RESOURCE_SERVER_CLIENT_ID,
            Self::RESOURCE_SERVER_CLIENT_SECRET,
        ))
    }

    /// A client-credentials token source (feature `client`) for a
    /// [registered client](Self::register_client), configured as
    /// production configures one: the token endpoint found from the issuer
    /// URL, plain `http` allowed (loopback), and the issuer's clock.
    ///
    /// ```
    /// use bearer_guard::introspection::ClientAuth;
    /// use bearer_guard::testing::{ClientRegistration, TestIssuer};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let server = TestIssuer::new().serve().await;
    /// server.register_client(ClientRegistration::new("orders", "s3cret").scopes(["charge"]));
    /// let source = server
    ///     .token_source(ClientAuth::basic("orders", "s3cret"))
    ///     .resource("payments")
    ///     .build()?;
    /// let token = source.token().await?;
    /// let validator = server.validator_builder().audience("payments").build_and_fetch().await?;
    /// let claims = validator.validate(token.secret()).await?;
    /// assert_eq!(claims.client_id(), Some("orders"));
    /// assert!(claims.scopes().contains("charge"));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "client")]
    pub fn token_source(&self, auth: ClientAuth) -> crate::client::TokenSourceBuilder {
        let clock = read(&self.shared.issuer).clock_handle().clone();
        crate::client::TokenSource::client_credentials(auth)
            .issuer(self.shared.url.clone())
            .clock(clock)
            .allow_insecure_http()
    }

    /// Stops the server and waits until it has: the port is closed, and
    /// the connections it served are being closed. Dropping the handle
    /// does the same without waiting.
    pub async fn shutdown(mut self) {
        self.task.abort();
        // Cancelled: the accept loop and its connections are dropped.
        let _ = (&mut self.task).await;
    }
}

/// `duration` in whole seconds, as the `i64` claims count in.
fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// Accepts connections (at most [`MAX_CONNECTIONS`] at once) and serves
/// each in a task of this one's: when this task is aborted, they are too.
async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept(), if connections.len() < MAX_CONNECTIONS => {
                match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve_connection(stream, shared.clone()));
                    }
                    // Out of file descriptors, say: try again shortly
                    // rather than spin.
                    Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                }
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let service = service_fn(move |request| {
        let shared = shared.clone();
        async move { Ok::<_, Infallible>(handle(&shared, request).await) }
    });
    // A connection that breaks ends here; nothing to report.
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(TestAuthorizationServer::READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

/// Answers one request: route, read the body (bounded), record, apply the
/// endpoint's failure, answer.
async fn handle(shared: &Shared, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let Some(endpoint) = Endpoint::of(request.uri().path()) else {
        return empty(StatusCode::NOT_FOUND);
    };
    if request.method().as_str() != endpoint.method() {
        let mut response = empty(StatusCode::METHOD_NOT_ALLOWED);
        let allow = HeaderValue::from_static(endpoint.method());
        response.headers_mut().insert(header::ALLOW, allow);
        return response;
    }
    let (parts, body) = request.into_parts();
    // A declared length over the limit is refused before reading anything.
    let limit = TestAuthorizationServer::MAX_REQUEST_BODY;
    if body.size_hint().lower() > u64::try_from(limit).unwrap_or(u64::MAX) {
        return empty(StatusCode::PAYLOAD_TOO_LARGE);
    }
    let reading = Limited::new(body, limit).collect();
    let body = match tokio::time::timeout(TestAuthorizationServer::READ_TIMEOUT, reading).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<LengthLimitError>() => {
            return empty(StatusCode::PAYLOAD_TOO_LARGE);
        }
        Ok(Err(_)) => return empty(StatusCode::BAD_REQUEST),
        Err(_) => return empty(StatusCode::REQUEST_TIMEOUT),
    };
    let form = Form::parse(&body);
    let slot = shared.slot(endpoint);
    slot.record(RecordedRequest {
        method: parts.method.clone(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: parts.headers.clone(),
        form: form.clone(),
    });
    loop {
        let failure = slot.failure.borrow().clone();
        match failure {
            None => break,
            Some(Failure::Status(code)) => {
                let status = StatusCode::from_u16(code)
                    .ok()
                    .filter(|s| (200..600).contains(&s.as_u16()))
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return empty(status);
            }
            Some(Failure::Malformed) => {
                return body_response(
                    StatusCode::OK,
                    Bytes::from_static(br#"{"issuer": "http://127.0.0.1", "keys": [{"kty""#),
                    "application/json",
                );
            }
            Some(Failure::Hang) => {
                let mut changes = slot.failure.subscribe();
                let _ = changes
                    .wait_for(|f| !matches!(f, Some(Failure::Hang)))
                    .await;
            }
        }
    }
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match endpoint {
        Endpoint::Discovery => {
            let document = oauth::metadata(&shared.url, &lock(&shared.metadata));
            json(StatusCode::OK, &document, "application/json")
        }
        Endpoint::Jwks => {
            let jwks = read(&shared.issuer).jwks();
            json(StatusCode::OK, &jwks, "application/jwk-set+json")
        }
        Endpoint::Token => token_endpoint(shared, authorization, &form),
        Endpoint::Introspection => {
            let answer = {
                let issuer = read(&shared.issuer);
                let clients = read(&shared.clients);
                let tokens = lock(&shared.tokens);
                oauth::introspection_answer(&issuer, &clients, &tokens, authorization, &form)
            };
            oauth_response(&answer)
        }
    }
}

fn token_endpoint(
    shared: &Shared,
    authorization: Option<&str>,
    form: &Form,
) -> Response<Full<Bytes>> {
    let lifetime = shared.token_lifetime.load(Ordering::Relaxed);
    let (answer, issued) = {
        let issuer = read(&shared.issuer);
        let clients = read(&shared.clients);
        oauth::token_answer(&issuer, &clients, authorization, form, lifetime)
    };
    if let Some(Issued::Opaque { token, claims }) = issued
        && !lock(&shared.tokens).remember_issued(token, claims)
    {
        return oauth_response(&Answer {
            status: 500,
            body: serde_json::json!({
                "error": "server_error",
                "error_description": "too many opaque tokens issued",
            }),
        });
    }
    let mut response = oauth_response(&answer);
    // RFC 6749 §5.1.
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// An answer of the token or introspection endpoint; a 401 carries the
/// Basic challenge (RFC 6749 §5.2).
fn oauth_response(answer: &Answer) -> Response<Full<Bytes>> {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json(status, &answer.body, "application/json");
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"test authorization server\""),
        );
    }
    response
}

fn json(status: StatusCode, body: &Value, content_type: &'static str) -> Response<Full<Bytes>> {
    body_response(status, Bytes::from(body.to_string()), content_type)
}

fn body_response(
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}
