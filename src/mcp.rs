//! Per-tool requirements for MCP servers (feature `mcp`): the Model Context
//! Protocol names the tool a request calls inside its JSON-RPC body
//! (`tools/call`, `params.name`), where a route requirement cannot see it.
//!
//! [`RequireToolLayer`] goes inside the [`BearerLayer`](crate::BearerLayer),
//! reads each `POST` body (bounded in size and time), finds the method and
//! the tool, prompt or resource it names, checks the verified
//! `Claims` against the [`McpPolicy`], and passes the body
//! on unchanged:
//!
//! - scopes missing: `403` with `WWW-Authenticate: Bearer
//!   error="insufficient_scope", scope="…"` naming every scope the request
//!   needs (for a batch, of every message), so that the client can step up
//!   and retry (the enclosing layer adds `resource_metadata` and the realm);
//! - a tool without a rule: refused (plain `403`) unless
//!   [`McpPolicy::allow_unknown_tools`];
//! - `Mcp-Method` / `Mcp-Name` headers (revision 2026-07-28) that disagree
//!   with the body: `400` with JSON-RPC error `-32020` (`HeaderMismatch`).
//!   The decision is always taken on the body: a header can refuse a
//!   request, never grant one;
//! - a body that is not strict JSON (a member name twice at any depth, which
//!   two parsers could read differently): `400` with `-32700`; a body over
//!   [`McpPolicy::max_body`]: `413`; one slower than
//!   [`McpPolicy::body_timeout`]: `408`;
//! - no token (behind [`allow_anonymous`](crate::BearerLayer::allow_anonymous)):
//!   `401`, whose `scope="…"` names what the body's tools need when the
//!   body can be read (a body that cannot gets the plain `401`, never the
//!   statuses above).
//!
//! Other methods (`GET` and `DELETE` of older revisions, `tools/list`,
//! `initialize`, responses to server requests) need only the valid token
//! the enclosing layer already checked, unless a
//! [`method`](McpPolicy::method) rule says more.
//!
//! ```
//! use axum::{Router, routing::post};
//! use bearer_guard::{BearerLayer, Requirement};
//! use bearer_guard::mcp::{McpPolicy, RequireToolLayer};
//! # let validator = bearer_guard::testing::TestIssuer::new().validator();
//!
//! let policy = McpPolicy::new()
//!     .tool("get_balance", Requirement::scopes_all(["payments:read"]))
//!     .tool("charge", Requirement::scopes_all(["payments:write"]));
//! let app: Router = Router::new()
//!     .route("/mcp", post(|body: String| async move { body }))
//!     .layer(RequireToolLayer::new(policy))
//!     .layer(BearerLayer::new(validator));
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use http::header::{CONTENT_ENCODING, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::Claims;
use crate::http::{AuthError, Requirement};
use crate::limits::{DEFAULT_MAX_MCP_BODY, DEFAULT_MCP_BODY_TIMEOUT};

/// JSON-RPC: the text is not JSON (here also: not strict JSON).
const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a valid request object.
const INVALID_REQUEST: i64 = -32600;
/// MCP 2026-07-28: a mirrored header disagrees with the body.
const HEADER_MISMATCH: i64 = -32020;

/// What a tool without a rule gets.
#[derive(Clone, Debug)]
enum UnknownTools {
    Deny,
    Allow,
    Require(Requirement),
}

/// What a message names: a tool, a prompt or a resource.
#[derive(Clone, Copy, Debug)]
enum Subject<'a> {
    Tool(&'a str),
    Prompt(&'a str),
    Resource(&'a str),
}

/// The rules of an MCP endpoint: what each tool, prompt, resource or
/// method needs of the token. A message needs the rule of what it names
/// (the tool of `tools/call`; the prompt of `prompts/get` and of a
/// `completion/complete` about it; the resource of `resources/read`,
/// `resources/subscribe`, `resources/unsubscribe` and of a
/// `completion/complete` about it) and the rule of its method, both.
///
/// Prompts and resources without a rule need only the token (tools
/// without one are refused): resources are matched by their exact URI, so
/// guard a server that normalizes URIs (or serves templates) with a
/// [`method`](Self::method) rule. Tasks (`tasks/*`) are named by an id,
/// not a tool: the server must bind a task to the caller that started it.
#[derive(Clone, Debug)]
pub struct McpPolicy {
    tools: HashMap<String, Requirement>,
    prompts: HashMap<String, Requirement>,
    resources: HashMap<String, Requirement>,
    methods: HashMap<String, Requirement>,
    unknown_tools: UnknownTools,
    max_body: usize,
    body_timeout: Duration,
}

impl Default for McpPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl McpPolicy {
    /// No rules yet: every tool is refused, everything else needs only a
    /// valid token.
    pub fn new() -> Self {
        McpPolicy {
            tools: HashMap::new(),
            prompts: HashMap::new(),
            resources: HashMap::new(),
            methods: HashMap::new(),
            unknown_tools: UnknownTools::Deny,
            max_body: DEFAULT_MAX_MCP_BODY,
            body_timeout: DEFAULT_MCP_BODY_TIMEOUT,
        }
    }

    /// `tools/call` of the tool `name` needs `requirement`.
    #[must_use]
    pub fn tool(mut self, name: impl Into<String>, requirement: Requirement) -> Self {
        self.tools.insert(name.into(), requirement);
        self
    }

    /// `prompts/get` of the prompt `name` needs `requirement`.
    #[must_use]
    pub fn prompt(mut self, name: impl Into<String>, requirement: Requirement) -> Self {
        self.prompts.insert(name.into(), requirement);
        self
    }

    /// `resources/read` of exactly `uri` needs `requirement`.
    #[must_use]
    pub fn resource(mut self, uri: impl Into<String>, requirement: Requirement) -> Self {
        self.resources.insert(uri.into(), requirement);
        self
    }

    /// Every request with this JSON-RPC `method` (`tools/list`,
    /// `resources/read` of a resource without a rule of its own, …) needs
    /// `requirement`.
    #[must_use]
    pub fn method(mut self, method: impl Into<String>, requirement: Requirement) -> Self {
        self.methods.insert(method.into(), requirement);
        self
    }

    /// A tool without a rule needs `requirement` (instead of being
    /// refused). The last of this and
    /// [`allow_unknown_tools`](Self::allow_unknown_tools) holds.
    #[must_use]
    pub fn unknown_tools(mut self, requirement: Requirement) -> Self {
        self.unknown_tools = UnknownTools::Require(requirement);
        self
    }

    /// A tool without a rule needs only a valid token (and its method's
    /// rule), instead of being refused. The last of this and
    /// [`unknown_tools`](Self::unknown_tools) holds.
    #[must_use]
    pub fn allow_unknown_tools(mut self) -> Self {
        self.unknown_tools = UnknownTools::Allow;
        self
    }

    /// The largest body read, in bytes (default
    /// [`crate::limits::DEFAULT_MAX_MCP_BODY`]);
    /// a larger one is answered `413`.
    #[must_use]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The longest wait for the whole body (default
    /// [`crate::limits::DEFAULT_MCP_BODY_TIMEOUT`]);
    /// a slower one is answered `408`.
    #[must_use]
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// The rules one JSON-RPC message needs (none: a valid token only);
    /// `Err` for a tool refused outright.
    fn requirements(
        &self,
        method: &str,
        subject: Option<Subject<'_>>,
    ) -> Result<Vec<&Requirement>, ()> {
        let mut rules = Vec::with_capacity(2);
        match subject {
            Some(Subject::Tool(tool)) => match (self.tools.get(tool), &self.unknown_tools) {
                (Some(rule), _) | (None, UnknownTools::Require(rule)) => rules.push(rule),
                (None, UnknownTools::Allow) => {}
                (None, UnknownTools::Deny) => return Err(()),
            },
            Some(Subject::Prompt(prompt)) => rules.extend(self.prompts.get(prompt)),
            Some(Subject::Resource(uri)) => rules.extend(self.resources.get(uri)),
            None => {}
        }
        rules.extend(self.methods.get(method));
        Ok(rules)
    }
}

/// The [`Layer`] of [`RequireTool`]: per-tool requirements of an MCP
/// endpoint (see the [module](self)).
#[derive(Clone, Debug)]
pub struct RequireToolLayer {
    policy: Arc<McpPolicy>,
}

impl RequireToolLayer {
    /// A layer enforcing `policy`.
    pub fn new(policy: McpPolicy) -> Self {
        RequireToolLayer {
            policy: Arc::new(policy),
        }
    }
}

impl<S> Layer<S> for RequireToolLayer {
    type Service = RequireTool<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireTool {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service made by [`RequireToolLayer`].
#[derive(Clone, Debug)]
pub struct RequireTool<S> {
    inner: S,
    policy: Arc<McpPolicy>,
}

/// The response future of [`RequireTool`] (boxed: it reads the body before
/// calling the inner service).
pub type RequireToolFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireTool<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: http_body::Body + From<Bytes> + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: Default + From<String> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RequireToolFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready serves this request; a clone
        // takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let policy = self.policy.clone();
        Box::pin(async move {
            // Requests without a body to read (an older revision's GET
            // stream and DELETE): the token the enclosing layer checked.
            if [Method::GET, Method::HEAD, Method::DELETE, Method::OPTIONS].contains(req.method()) {
                return inner.call(req).await;
            }
            let (parts, body) = req.into_parts();
            // `None` behind a layer that lets token-less requests through:
            // the body is read (bounded as any) only to name the scopes
            // the 401 asks for.
            let claims = parts.extensions.get::<Claims>().cloned();
            // A body that cannot be read: its status for a request with a
            // token; for one without, the 401 it would get anyway (the
            // challenge that starts a client's discovery), without a hint.
            let unreadable = |status| match claims {
                Some(_) => plain(status),
                None => AuthError::MissingToken.into_http_response(None),
            };
            // The decision is taken on the bytes the server will read: an
            // encoded body would be read differently after decoding.
            if parts
                .headers
                .get_all(CONTENT_ENCODING)
                .iter()
                .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"))
            {
                return Ok(unreadable(StatusCode::UNSUPPORTED_MEDIA_TYPE));
            }
            let bytes = match tokio::time::timeout(policy.body_timeout, read(body, policy.max_body))
                .await
            {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(status)) => return Ok(unreadable(status)),
                Err(_) => return Ok(unreadable(StatusCode::REQUEST_TIMEOUT)),
            };
            let Some(claims) = claims else {
                return Ok(unauthenticated(&policy, &parts.headers, &bytes));
            };
            if let Err(refusal) = authorize(&policy, &claims, &parts.headers, &bytes) {
                return Ok(refusal);
            }
            inner
                .call(Request::from_parts(parts, ReqBody::from(bytes)))
                .await
        })
    }
}

/// The whole body in one buffer of at most `max` bytes (one allocation
/// growing with the data, whatever the number of frames); `413` beyond it.
async fn read<B>(body: B, max: usize) -> Result<Bytes, StatusCode>
where
    B: http_body::Body,
{
    let mut body = std::pin::pin!(body);
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| StatusCode::BAD_REQUEST)?;
        if let Ok(data) = frame.into_data() {
            if buffer.len().saturating_add(data.remaining()) > max {
                return Err(StatusCode::PAYLOAD_TOO_LARGE);
            }
            buffer.put(data);
        }
    }
    Ok(buffer.freeze())
}

/// The 401 for a request without a token: `scope="…"` names what the
/// body's tools, prompts or resources need, when the body is well-formed
/// and every rule it needs is known (no other detail for a caller that
/// has not authenticated).
fn unauthenticated<B: Default + From<String>>(
    policy: &McpPolicy,
    headers: &HeaderMap,
    body: &[u8],
) -> Response<B> {
    let hint = needed::<B>(policy, headers, body)
        .ok()
        .and_then(|rules| rules.into_iter().cloned().reduce(Requirement::and))
        .and_then(|all| all.scope_hint());
    AuthError::MissingToken.into_hinted_response(None, hint)
}

/// Checks every message of the body; the refusal to send otherwise.
fn authorize<B: Default + From<String>>(
    policy: &McpPolicy,
    claims: &Claims,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Response<B>> {
    let all = needed(policy, headers, body)?
        .into_iter()
        .cloned()
        .reduce(Requirement::and);
    match all.map(|n| n.check(claims)) {
        Some(Err(error)) => {
            tracing::debug!(%error, "MCP request refused");
            Err(error.into_http_response(None))
        }
        _ => Ok(()),
    }
}

/// The distinct rules every message of the body needs; the refusal to
/// send when the body or its headers are not acceptable, or name a tool
/// without a rule.
fn needed<'p, B: Default + From<String>>(
    policy: &'p McpPolicy,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<&'p Requirement>, Response<B>> {
    let Some(document) = crate::json::parse_strict(body) else {
        return Err(rpc_error(None, PARSE_ERROR, "Parse error: not strict JSON"));
    };
    let (messages, batch) = match &document {
        Value::Array(items) if !items.is_empty() => (items.iter().collect::<Vec<_>>(), true),
        Value::Object(_) => (vec![&document], false),
        _ => return Err(rpc_error(None, INVALID_REQUEST, "Invalid Request")),
    };
    // Each distinct rule once, however many messages need it (a batch of
    // one tool called many times makes one challenge, not a huge one).
    let mut rules: Vec<&'p Requirement> = Vec::new();
    for message in messages {
        let Value::Object(object) = message else {
            return Err(rpc_error(None, INVALID_REQUEST, "Invalid Request"));
        };
        let id = object.get("id").cloned();
        let Some(method) = object.get("method") else {
            // A response to a server request: it names nothing.
            if batch {
                continue;
            }
            check_headers(headers, None, None, id)?;
            return Ok(Vec::new());
        };
        let Some(method) = method.as_str() else {
            return Err(rpc_error(id, INVALID_REQUEST, "Invalid Request: method"));
        };
        let params = object.get("params");
        let Ok(subject) = subject(method, params) else {
            return Err(rpc_error(
                id,
                INVALID_REQUEST,
                "Invalid Request: params names no tool, prompt or resource",
            ));
        };
        if batch {
            // Mirrored headers describe one message; a batch has none to agree with.
            if headers.contains_key("mcp-method") || headers.contains_key("mcp-name") {
                return Err(rpc_error(id, HEADER_MISMATCH, "Header mismatch: a batch"));
            }
        } else {
            let mirrored = mirrored(method)
                .and_then(|member| params.and_then(|p| p.get(member)))
                .and_then(Value::as_str);
            check_headers(headers, Some(method), mirrored, id.clone())?;
        }
        match policy.requirements(method, subject) {
            Ok(named) => {
                for rule in named {
                    if !rules.iter().any(|r| std::ptr::eq(*r, rule)) {
                        rules.push(rule);
                    }
                }
            }
            Err(()) => {
                tracing::debug!(method, "MCP request refused: a tool without a rule");
                return Err(AuthError::Forbidden {
                    requirement: "a tool without a rule".to_owned(),
                }
                .into_http_response(None));
            }
        }
    }
    Ok(rules)
}

/// What a message names, from its `params`: `Ok(None)` for a method that
/// names nothing, `Err` when the name it must carry is missing.
fn subject<'a>(method: &str, params: Option<&'a Value>) -> Result<Option<Subject<'a>>, ()> {
    let member = |name: &str| {
        params
            .and_then(|p| p.get(name))
            .and_then(Value::as_str)
            .ok_or(())
    };
    Ok(Some(match method {
        "tools/call" => Subject::Tool(member("name")?),
        "prompts/get" => Subject::Prompt(member("name")?),
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            Subject::Resource(member("uri")?)
        }
        "completion/complete" => {
            let reference = params.and_then(|p| p.get("ref")).ok_or(())?;
            let field = |name: &str| reference.get(name).and_then(Value::as_str).ok_or(());
            match field("type")? {
                "ref/prompt" => Subject::Prompt(field("name")?),
                "ref/resource" => Subject::Resource(field("uri")?),
                _ => return Err(()),
            }
        }
        _ => return Ok(None),
    }))
}

/// The `params` member naming what a method acts on, for the methods whose
/// name the 2026-07-28 revision mirrors in `Mcp-Name`.
fn named(method: &str) -> Option<&'static str> {
    match method {
        "tools/call" | "prompts/get" => Some("name"),
        "resources/read" => Some("uri"),
        _ => None,
    }
}

/// The `params` member that `Mcp-Name` mirrors beyond [`named`]: rmcp also
/// sends and checks it for subscriptions (`uri`) and tasks (`taskId`).
fn mirrored(method: &str) -> Option<&'static str> {
    match method {
        "resources/subscribe" | "resources/unsubscribe" => Some("uri"),
        _ if method.starts_with("tasks/") => Some("taskId"),
        _ => named(method),
    }
}

/// `Mcp-Method` and `Mcp-Name`, where present, must say what the body says
/// (each at most once; `Mcp-Name` decoded from `=?base64?…?=`).
fn check_headers<B: Default + From<String>>(
    headers: &HeaderMap,
    method: Option<&str>,
    name: Option<&str>,
    id: Option<Value>,
) -> Result<(), Response<B>> {
    let mismatch = |what: &str| {
        rpc_error(
            id.clone(),
            HEADER_MISMATCH,
            &format!("Header mismatch: {what} does not match the body"),
        )
    };
    if let Some(value) = single(headers, "mcp-method").map_err(|()| mismatch("Mcp-Method"))?
        && Some(value.as_str()) != method
    {
        return Err(mismatch("Mcp-Method"));
    }
    if let Some(value) = single(headers, "mcp-name").map_err(|()| mismatch("Mcp-Name"))?
        && Some(value.as_str()) != name
    {
        return Err(mismatch("Mcp-Name"));
    }
    Ok(())
}

/// A header's decoded value: `Ok(None)` when absent, `Err` when repeated or
/// not decodable.
fn single(headers: &HeaderMap, name: &str) -> Result<Option<String>, ()> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    let text = value.to_str().map_err(drop)?;
    match text
        .strip_prefix("=?base64?")
        .and_then(|t| t.strip_suffix("?="))
    {
        Some(encoded) => {
            let bytes = STANDARD.decode(encoded).map_err(drop)?;
            String::from_utf8(bytes).map(Some).map_err(drop)
        }
        None => Ok(Some(text.to_owned())),
    }
}

/// A `400` with a JSON-RPC error object (its `id` when known).
fn rpc_error<B: From<String>>(id: Option<Value>, code: i64, message: &str) -> Response<B> {
    let mut error = json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}});
    if let (Some(id), Some(object)) = (id, error.as_object_mut()) {
        object.insert("id".to_owned(), id);
    }
    let mut response = Response::new(B::from(error.to_string()));
    *response.status_mut() = StatusCode::BAD_REQUEST;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A response with only a status.
fn plain<B: Default>(status: StatusCode) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = status;
    response
}
