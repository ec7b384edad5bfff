//! An MCP client acting on its own behalf (client credentials, the MCP
//! client-credentials extension): given only the server's URL and its
//! credentials, it finds its own way in and calls a tool.
//!
//! ```text
//! cargo run -p bearer-guard-mcp --example mcp_client -- \
//!     --client-id orders --client-secret s3cret \
//!     --scope payments:read --scope payments:write \
//!     --call get_balance --call charge='{"amount": 5}' https://mcp.example.com/mcp
//! ```
//!
//! What it does, as the MCP specification's authorization section asks:
//!
//! 1. sends `initialize` without a token; the 401's `WWW-Authenticate`
//!    names the resource's metadata (RFC 9728) and the scopes to ask for;
//! 2. reads the metadata, checks that its `resource` is the URL it called
//!    (§3.3), picks the authorization server (`--issuer`, which must be
//!    listed, or the first listed), reads that server's metadata (RFC 8414,
//!    MCP's URL order) and checks its `issuer`;
//! 3. asks the token endpoint for a token for that resource (`resource`,
//!    RFC 8707) with `client_secret_basic` or `private_key_jwt` (whose
//!    assertion's audience is the server's issuer);
//! 4. lists the tools and calls each `--call` (by default the first tool
//!    listed); a 403 `insufficient_scope` makes it ask for the union of its
//!    scopes and those named, within `--scope`, and send again.
//!
//! All of it is `bearer_guard::client::ResourceClient`; this file plugs it
//! into rmcp's Streamable HTTP client transport.
//!
//! The MCP conformance suite runs it as `mcp_client … URL` with the
//! credentials in `MCP_CONFORMANCE_CONTEXT` (JSON: `client_id` and
//! `client_secret`, or `private_key_pem` and `signing_algorithm`), which
//! this client reads when no credentials are given as flags.

use std::borrow::Cow;
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use bearer_guard::client::{AccessToken, ResourceClient, ResourceError};
use bearer_guard::introspection::ClientAuth;
use bearer_guard::keys::{Algorithm, SigningKey};
use bearer_guard::limits::MAX_AUTHORIZATION_RETRIES;
use futures_util::stream::BoxStream;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use rmcp::ServiceExt;
use rmcp::model::{
    CallToolRequestParams, ClientCapabilities, ClientConfig, ClientJsonRpcMessage, Implementation,
    ProtocolVersion,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClient, StreamableHttpClientTransportConfig, StreamableHttpError,
    StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use serde_json::Value;
use sse_stream::{Error as SseError, Sse};
use tokio::sync::Mutex;

const HELP: &str = "\
mcp_client: calls an MCP server's tools, finding its own way in (RFC 9728, client credentials)

USAGE:
    mcp_client [OPTIONS] URL

OPTIONS:
    --client-id ID          the client's id
    --client-secret SECRET  authenticate with client_secret_basic
    --private-key PEM_FILE  authenticate with private_key_jwt (a PKCS#8 key)
    --alg ALG               the key's algorithm [default: ES256]
    --issuer URL            the authorization server the credentials belong
                            to; the server's metadata must list it
    --scope SCOPE           a scope the client may ask for (repeatable); a
                            step-up beyond these fails. Default: whatever the
                            server names
    --call TOOL[=JSON]      call TOOL with these arguments (repeatable); by
                            default the first tool listed, without arguments
    --allow-http            allow http:// URLs to loopback hosts (test set-ups)
    -h, --help              this text

Without --client-id, the credentials come from MCP_CONFORMANCE_CONTEXT (the
MCP conformance suite's JSON: client_id with client_secret, or
private_key_pem with signing_algorithm).
";

/// What the command line says.
pub struct Options {
    url: String,
    auth: ClientAuth,
    issuer: Option<String>,
    scopes: Vec<String>,
    calls: Vec<(String, serde_json::Map<String, Value>)>,
    insecure: bool,
}

/// Reads the options (`Err("")` for `--help`).
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, String> {
    let mut args = args.into_iter();
    let (mut id, mut secret, mut key, mut alg) = (None, None, None, "ES256".to_owned());
    let (mut issuer, mut scopes, mut calls, mut insecure, mut url) =
        (None, Vec::new(), Vec::new(), false, None);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--client-id" => id = Some(value("--client-id")?),
            "--client-secret" => secret = Some(value("--client-secret")?),
            "--private-key" => {
                let path = value("--private-key")?;
                key = Some(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?);
            }
            "--alg" => alg = value("--alg")?,
            "--issuer" => issuer = Some(value("--issuer")?),
            "--scope" => scopes.push(value("--scope")?),
            "--call" => {
                let spec = value("--call")?;
                let (name, arguments) = match spec.split_once('=') {
                    Some((name, json)) => match serde_json::from_str(json) {
                        Ok(Value::Object(map)) => (name.to_owned(), map),
                        _ => {
                            return Err(format!(
                                "--call {name}: the arguments are not a JSON object"
                            ));
                        }
                    },
                    None => (spec, serde_json::Map::new()),
                };
                calls.push((name, arguments));
            }
            // `--allow-http` as the other examples spell it.
            "--allow-http" | "--allow-insecure-http" => insecure = true,
            other if other.starts_with('-') => return Err(format!("unknown option {other}")),
            other => url = Some(other.to_owned()),
        }
    }
    let url = url.ok_or("the server's URL is missing")?;
    let auth = match (id, secret, key) {
        (Some(id), Some(secret), None) => ClientAuth::basic(id, secret),
        (Some(id), None, Some(pem)) => private_key_jwt(id, &pem, &alg)?,
        (Some(_), _, _) => return Err("give one of --client-secret and --private-key".into()),
        (None, _, _) => conformance_context()?,
    };
    Ok(Options {
        url,
        auth,
        issuer,
        scopes,
        calls,
        insecure,
    })
}

fn private_key_jwt(id: String, pem: &[u8], alg: &str) -> Result<ClientAuth, String> {
    let alg: Algorithm = alg
        .parse()
        .map_err(|_| format!("unknown algorithm {alg}"))?;
    let key = SigningKey::from_pem(pem, alg).map_err(|e| format!("the private key: {e}"))?;
    Ok(ClientAuth::private_key_jwt(id, key))
}

/// The credentials the MCP conformance suite hands its client.
fn conformance_context() -> Result<ClientAuth, String> {
    let context = std::env::var("MCP_CONFORMANCE_CONTEXT")
        .map_err(|_| "no credentials: give --client-id (see --help)".to_owned())?;
    let context: Value =
        serde_json::from_str(&context).map_err(|e| format!("MCP_CONFORMANCE_CONTEXT: {e}"))?;
    let text = |name: &str| context.get(name).and_then(Value::as_str).map(str::to_owned);
    let id = text("client_id").ok_or("MCP_CONFORMANCE_CONTEXT has no client_id")?;
    match (text("client_secret"), text("private_key_pem")) {
        (Some(secret), _) => Ok(ClientAuth::basic(id, secret)),
        (None, Some(pem)) => private_key_jwt(
            id,
            pem.as_bytes(),
            &text("signing_algorithm").unwrap_or_else(|| "ES256".into()),
        ),
        (None, None) => {
            Err("MCP_CONFORMANCE_CONTEXT has neither client_secret nor private_key_pem".into())
        }
    }
}

/// rmcp's HTTP client with the token of a [`ResourceClient`]: the first
/// request goes without one (its 401 says where to find everything), and a
/// 401 or 403 is handed to the resource client, then the request sent
/// again, a few times at most.
#[derive(Clone)]
struct Authorized {
    http: reqwest::Client,
    access: ResourceClient,
    token: Arc<Mutex<Option<AccessToken>>>,
}

type HttpError = StreamableHttpError<reqwest::Error>;

fn failed(e: ResourceError) -> HttpError {
    StreamableHttpError::Io(std::io::Error::other(e))
}

impl Authorized {
    /// `send` with the current token, again after each challenge.
    async fn authorized<T, F, Fut>(&self, send: F) -> Result<T, HttpError>
    where
        F: Fn(Option<String>) -> Fut,
        Fut: Future<Output = Result<T, HttpError>>,
    {
        let mut token = self.token.lock().await.clone();
        if token.is_none() && self.access.protected_resource().is_some() {
            token = Some(self.access.token().await.map_err(failed)?);
        }
        let mut attempt = 0;
        loop {
            let result = send(token.as_ref().map(|t| t.secret().to_owned())).await;
            let (status, challenge) = match &result {
                Err(StreamableHttpError::AuthRequired(e)) => {
                    (StatusCode::UNAUTHORIZED, e.www_authenticate_header.clone())
                }
                Err(StreamableHttpError::InsufficientScope(e)) => {
                    (StatusCode::FORBIDDEN, e.www_authenticate_header.clone())
                }
                _ => {
                    *self.token.lock().await = token;
                    return result;
                }
            };
            if attempt == MAX_AUTHORIZATION_RETRIES {
                return result;
            }
            attempt += 1;
            let mut headers = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_str(&challenge) {
                headers.insert(http::header::WWW_AUTHENTICATE, value);
            }
            self.access
                .challenged(status, &headers, token.as_ref())
                .await
                .map_err(failed)?;
            let fresh = self.access.token().await.map_err(failed)?;
            eprintln!(
                "mcp_client: {status}; sending again with a token for scope {:?}",
                self.access.scope()
            );
            token = Some(fresh);
        }
    }
}

impl StreamableHttpClient for Authorized {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.authorized(|token| {
            self.http.post_message(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, HttpError> {
        self.authorized(|token| {
            self.http.post_message_with_response_limits(
                uri.clone(),
                message.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
                limits,
            )
        })
        .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), HttpError> {
        self.authorized(|token| {
            self.http.delete_session(
                uri.clone(),
                session_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        _auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, HttpError> {
        self.authorized(|token| {
            self.http.get_stream(
                uri.clone(),
                session_id.clone(),
                last_event_id.clone(),
                token,
                custom_headers.clone(),
            )
        })
        .await
    }
}

/// What a run found and did, as `main` prints it.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The resource's `resource`, once discovered.
    pub resource: Option<String>,
    /// The authorization server's issuer.
    pub issuer: Option<String>,
    /// The tools listed.
    pub tools: Vec<String>,
    /// Each call: the tool, whether it failed (`isError`), its text.
    pub calls: Vec<(String, bool, String)>,
    /// The scopes asked for at the end (space-separated).
    pub scope: String,
}

/// Connects, lists the tools and makes the calls.
pub async fn run(options: Options) -> Result<Outcome, Box<dyn std::error::Error>> {
    let mut outcome = Outcome::default();
    let mut access = ResourceClient::builder(options.url.clone(), options.auth);
    if let Some(issuer) = options.issuer {
        access = access.issuer(issuer);
    }
    if !options.scopes.is_empty() {
        access = access.scopes(options.scopes);
    }
    if options.insecure {
        access = access.allow_insecure_http();
    }
    let http = Authorized {
        http: reqwest::Client::new(),
        access: access.build()?,
        token: Arc::default(),
    };
    let transport = StreamableHttpClientTransport::with_client(
        http.clone(),
        StreamableHttpClientTransportConfig::with_uri(options.url.as_str()),
    );
    // The 2025-11-25 wire (initialize, then requests), which every server
    // of today speaks and the conformance suite runs.
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("bearer-guard-mcp-client", env!("CARGO_PKG_VERSION")),
    )
    .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE);
    let client = info.serve(transport).await?;
    outcome.resource = http
        .access
        .protected_resource()
        .map(|r| r.resource().to_owned());
    outcome.issuer = http.access.authorization_server().map(|s| s.issuer.clone());
    let tools = client.list_tools(Default::default()).await?;
    outcome.tools = tools.tools.iter().map(|t| t.name.to_string()).collect();
    let mut calls = options.calls;
    if calls.is_empty() {
        let first = outcome.tools.first().ok_or("the server lists no tool")?;
        calls.push((first.clone(), serde_json::Map::new()));
    }
    for (name, arguments) in calls {
        let result = client
            .call_tool(CallToolRequestParams::new(name.clone()).with_arguments(arguments))
            .await?;
        let text: Vec<Cow<'_, str>> = result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| Cow::Borrowed(t.text.as_str())))
            .collect();
        outcome
            .calls
            .push((name, result.is_error == Some(true), text.join(" ")));
    }
    outcome.scope = http.access.scope();
    client.cancel().await?;
    Ok(outcome)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(e) if e.is_empty() => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("mcp_client: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match run(options).await {
        Ok(outcome) => {
            if let (Some(resource), Some(issuer)) = (&outcome.resource, &outcome.issuer) {
                println!("resource {resource}, authorization server {issuer}");
            }
            println!("tools: {}", outcome.tools.join(", "));
            for (name, failed, text) in &outcome.calls {
                let failed = if *failed { " (error)" } else { "" };
                println!("{name}{failed}: {text}");
            }
            println!("scope: {}", outcome.scope);
            ExitCode::SUCCESS
        }
        Err(e) => {
            let mut message = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                message.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("mcp_client: {message}");
            ExitCode::FAILURE
        }
    }
}
