//! An MCP server whose tools need OAuth scopes: rmcp's Streamable HTTP
//! transport on axum, behind bearer-guard.
//!
//! ```text
//! cargo run -p bearer-guard-mcp --example mcp_server -- --demo
//! cargo run -p bearer-guard-mcp --example mcp_server -- \
//!     --issuer https://auth.example.com/ --discover --public-url https://mcp.example.com
//! ```
//!
//! What a request meets, from the outside in:
//!
//! 1. [`BearerLayer`]: a valid access token, issued for this MCP server and
//!    no other: its `aud` must be the canonical URL of the MCP endpoint,
//!    `{public_url}/mcp` (RFC 8707; the MCP authorization spec: "MCP servers
//!    MUST validate that access tokens were issued specifically for them").
//!    Without one: `401`, `WWW-Authenticate: Bearer resource_metadata="…"`.
//! 2. [`RequireToolLayer`]: the scopes of the tool the JSON-RPC body calls
//!    (`get_balance` needs `payments:read`, `charge` needs `payments:write`,
//!    any other tool is refused). Without them: `403`,
//!    `error="insufficient_scope", scope="payments:write"`, so that the
//!    client can ask its authorization server for more and retry.
//! 3. rmcp's `StreamableHttpService`, whose tools read the verified
//!    [`Claims`] (they answer with the caller's `client_id` and `sub`).
//!
//! The resource's metadata (RFC 9728), which tells a client where to get a
//! token and with which scopes, is public, at
//! `/.well-known/oauth-protected-resource/mcp` and at
//! `/.well-known/oauth-protected-resource`.
//!
//! With `--demo`, a stand-in authorization server runs on 127.0.0.1
//! (`bearer_guard::testing`, feature `testing`: it forges tokens, never use
//! it in production), and the example prints a token it issued with the
//! client-credentials grant. It prints `listening on ADDR` once it accepts
//! connections.
//!
//! The example lives in the `bearer-guard-mcp` package (`mcp/`), so that
//! rmcp is built only when it is. `mcp/tests` compile this file as a module
//! (hence the `pub` items) and run it against rmcp's client, with tokens
//! from the demo issuer and from oidc-provider.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::Router;
use axum::routing::get;
use bearer_guard::client::TokenSource;
use bearer_guard::introspection::ClientAuth;
use bearer_guard::mcp::{McpPolicy, RequireToolLayer};
use bearer_guard::metadata::ResourceMetadata;
use bearer_guard::testing::{ClientRegistration, TestAuthorizationServer, TestIssuer};
use bearer_guard::{BearerLayer, Claims, Issuer, Requirement, Validator};
use http::request::Parts;
use rmcp::handler::server::{tool::Extension, wrapper::Parameters};
use rmcp::model::{CallToolResult, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::json;

const HELP: &str = "\
mcp_server: an MCP server (POST /mcp) whose tools need OAuth scopes:
get_balance needs payments:read, charge needs payments:write

USAGE:
    mcp_server [OPTIONS]

OPTIONS:
    --listen ADDR       address to listen on [default: 127.0.0.1:8080]
    --public-url URL    the externally visible base URL (behind a proxy);
                        the MCP endpoint is URL/mcp: the `resource` of the
                        metadata and the audience (`aud`) every token must
                        name [default: http://ADDR]
    --issuer URL        the trusted token issuer (`iss`), exact match
    --jwks-file PATH    its verification keys, as a JWKS document
    --jwks-url URL      its verification keys from this JWKS URL, kept fresh
    --discover          find the JWKS through the issuer's metadata
                        (OpenID Connect Discovery, then RFC 8414)
    --allow-http        allow plain http:// for --jwks-url / --discover
                        (loopback test set-ups only)
    --demo              no authorization server needed: run a stand-in one
                        on 127.0.0.1 and print a token it issued
    -h, --help          print this help

Without --demo, --issuer and one of --jwks-file, --jwks-url, --discover are
required.
";

/// The tools and the scope each needs: the one table the policy and the
/// tools' descriptions agree with.
pub const TOOL_SCOPES: [(&str, &str); 2] = [
    ("get_balance", "payments:read"),
    ("charge", "payments:write"),
];

/// What a client needs for basic functionality: reading.
pub const BASIC_SCOPE: &str = "payments:read";

/// The path of the MCP endpoint.
const MCP_PATH: &str = "/mcp";

// ---------------------------------------------------------------------------
// The MCP server: two tools that read the verified claims.
// ---------------------------------------------------------------------------

/// The tools (`#[tool_router]` collects them, `#[tool_handler]` serves
/// them). rmcp makes one per request: the transport is stateless, see
/// [`mcp_service`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Payments;

/// The arguments of `charge`.
#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
pub struct Charge {
    /// The amount to charge, in cents.
    pub amount_cents: u64,
}

#[tool_router]
impl Payments {
    /// Needs `payments:read` (checked by `RequireToolLayer` before rmcp
    /// sees the request).
    #[tool(description = "The balance of the caller's account (scope payments:read).")]
    async fn get_balance(
        &self,
        Extension(parts): Extension<Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let claims = claims(&parts)?;
        Ok(CallToolResult::structured(json!({
            "account": account(claims),
            "balance_cents": 125_000,
            "currency": "EUR",
            "caller": caller(claims),
        })))
    }

    /// Needs `payments:write`.
    #[tool(description = "Charge the caller's account (scope payments:write).")]
    async fn charge(
        &self,
        Extension(parts): Extension<Parts>,
        Parameters(Charge { amount_cents }): Parameters<Charge>,
    ) -> Result<CallToolResult, ErrorData> {
        let claims = claims(&parts)?;
        Ok(CallToolResult::structured(json!({
            "status": "charged",
            "account": account(claims),
            "amount_cents": amount_cents,
            "caller": caller(claims),
        })))
    }
}

#[tool_handler]
impl ServerHandler for Payments {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("bearer-guard-mcp-example", "0.0.0"))
            .with_instructions(
                "A payments account. get_balance needs the scope payments:read, \
                 charge needs payments:write.",
            )
    }
}

/// The verified claims `BearerLayer` put in the request's extensions; rmcp
/// hands each tool the request's `http::request::Parts`.
fn claims(parts: &Parts) -> Result<&Claims, ErrorData> {
    parts
        .extensions
        .get::<Claims>()
        .ok_or_else(|| ErrorData::internal_error("no verified claims: BearerLayer missing", None))
}

/// Whose account: the client's (client credentials), else the user's.
fn account(claims: &Claims) -> Option<&str> {
    claims.client_id().or(claims.subject())
}

/// Who called, as the token says.
fn caller(claims: &Claims) -> serde_json::Value {
    json!({
        "sub": claims.subject(),
        "client_id": claims.client_id(),
        "scopes": claims.scopes().iter().collect::<Vec<_>>(),
    })
}

/// rmcp's Streamable HTTP transport as a tower service, allowing `Host`
/// `public_host` besides the loopback names (rmcp's defence against DNS
/// rebinding refuses every other host with 403).
///
/// Stateless (no `Mcp-Session-Id`): every POST stands alone, carries its
/// token and is authorized on its own, so no session outlives a token or
/// passes from one caller to another (sessions are not authentication).
fn mcp_service(public_host: Option<&str>) -> StreamableHttpService<Payments, NeverSessionManager> {
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true);
    if let Some(host) = public_host {
        config.allowed_hosts.push(host.to_owned());
    }
    StreamableHttpService::new(
        || Ok(Payments),
        NeverSessionManager::default().into(),
        config,
    )
}

// ---------------------------------------------------------------------------
// The protection: bearer-guard around the MCP endpoint, metadata beside it.
// ---------------------------------------------------------------------------

/// The whole application for the MCP endpoint `resource`
/// (`{public_url}/mcp`), with tokens checked by `validator`.
///
/// # Errors
///
/// When `resource` is not an absolute `http(s)` URL without query or
/// fragment.
pub fn app(validator: Validator, resource: &str) -> Result<Router, bearer_guard::BuildError> {
    let metadata = ResourceMetadata::try_new(resource, &validator)?
        // MCP: `scopes_supported` is "the minimal set of scopes necessary
        // for basic functionality", what a client asks for first (every 401
        // names it); `charge` then answers 403 insufficient_scope with the
        // scope to step up to.
        .scopes_supported([BASIC_SCOPE])
        .resource_name("bearer-guard MCP example");
    let policy = TOOL_SCOPES
        .into_iter()
        .fold(McpPolicy::new(), |policy, (tool, scope)| {
            policy.tool(tool, Requirement::scopes_all([scope]))
        });
    let public_host = resource
        .parse::<http::Uri>()
        .ok()
        .and_then(|uri| uri.host().map(str::to_owned));
    let mcp = Router::new()
        .route_service(MCP_PATH, mcp_service(public_host.as_deref()))
        // Inner: the tool's scopes, read from the JSON-RPC body.
        .route_layer(RequireToolLayer::new(policy))
        // Outer: a valid token for this resource; every challenge (the
        // inner layer's 403 insufficient_scope too) points to the metadata.
        // A tool without a rule gets a plain 403: no scope would help.
        .route_layer(BearerLayer::new(validator).resource_metadata(&metadata));
    // The metadata needs no token: outside the layers.
    let mut app = Router::new();
    for path in metadata.paths() {
        let document = metadata.clone();
        app = app.route(&path, get(move || std::future::ready(document.clone())));
    }
    Ok(app.merge(mcp))
}

// ---------------------------------------------------------------------------
// Options, and the server they describe.
// ---------------------------------------------------------------------------

/// The command line (see `HELP`).
#[derive(Debug, Default)]
pub struct Args {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub issuer: Option<String>,
    pub jwks_file: Option<String>,
    pub jwks_url: Option<String>,
    pub discover: bool,
    pub allow_http: bool,
    pub demo: bool,
}

impl Args {
    /// The options in `args` (without the program name); `None` for
    /// `--help`.
    ///
    /// # Errors
    ///
    /// An unknown option, or one without its value.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Option<Args>, String> {
        let mut parsed = Args::default();
        let mut it = args.into_iter();
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| it.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(None),
                "--listen" => parsed.listen = Some(value("--listen")?),
                "--public-url" => parsed.public_url = Some(value("--public-url")?),
                "--issuer" => parsed.issuer = Some(value("--issuer")?),
                "--jwks-file" => parsed.jwks_file = Some(value("--jwks-file")?),
                "--jwks-url" => parsed.jwks_url = Some(value("--jwks-url")?),
                "--discover" => parsed.discover = true,
                "--allow-http" => parsed.allow_http = true,
                "--demo" => parsed.demo = true,
                other => return Err(format!("unknown option {other:?} (see --help)")),
            }
        }
        Ok(Some(parsed))
    }

    /// The trusted issuer, with `resource` as the audience its tokens must
    /// name.
    fn issuer(&self, resource: &str) -> Result<Issuer, String> {
        let Some(iss) = &self.issuer else {
            return Err(
                "--issuer and one of --jwks-file, --jwks-url, --discover are required (or --demo)"
                    .into(),
            );
        };
        let issuer = Issuer::new(iss.clone()).audience(resource);
        Ok(match (&self.jwks_file, &self.jwks_url, self.discover) {
            (Some(path), None, false) => issuer.jwks_file(path),
            (None, Some(url), false) => issuer.jwks_url(url.clone()),
            (None, None, true) => issuer.discover(),
            _ => return Err("one of --jwks-file, --jwks-url, --discover is required".into()),
        })
    }
}

/// The demo's stand-in authorization server, and the client it knows.
pub const DEMO_CLIENT_ID: &str = "demo-client";
/// The secret of [`DEMO_CLIENT_ID`].
pub const DEMO_CLIENT_SECRET: &str = "demo-secret";

/// The server, bound and ready to run.
pub struct Server {
    listener: tokio::net::TcpListener,
    app: Router,
    /// The MCP endpoint's canonical URL: the resource, and the audience.
    pub resource: String,
    /// With `--demo`: the stand-in authorization server (it runs as long as
    /// this handle lives).
    pub demo: Option<TestAuthorizationServer>,
}

impl Server {
    /// Binds `--listen`, starts the demo authorization server if asked,
    /// and builds the validator and the application.
    ///
    /// # Errors
    ///
    /// Options that do not fit together, an address that cannot be bound,
    /// an invalid URL.
    pub async fn bind(args: &Args) -> Result<Server, String> {
        let listen = args.listen.as_deref().unwrap_or("127.0.0.1:8080");
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("the bound address: {e}"))?;
        let public_url = match &args.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{addr}"),
        };
        let resource = format!("{public_url}{MCP_PATH}");

        let issuer_options = args.issuer.is_some()
            || args.jwks_file.is_some()
            || args.jwks_url.is_some()
            || args.discover;
        if args.demo && issuer_options {
            return Err("--demo runs its own issuer: leave out --issuer and its keys".into());
        }
        let (builder, demo) = if args.demo {
            // A stand-in authorization server: discovery, JWKS and a
            // client-credentials token endpoint on 127.0.0.1. Its
            // validator builder is what production configures (the issuer
            // URL, discovery), with plain http allowed on loopback.
            let auth = TestIssuer::new().serve().await;
            auth.register_client(
                ClientRegistration::new(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)
                    .scopes(TOOL_SCOPES.map(|(_, scope)| scope)),
            );
            (
                auth.validator_builder().audience(resource.clone()),
                Some(auth),
            )
        } else {
            let mut builder = Validator::builder().trust(args.issuer(&resource)?);
            if args.allow_http {
                builder = builder.allow_insecure_http();
            }
            (builder, None)
        };
        // Remote keys are fetched on first use: the server starts even if
        // the authorization server is down, and answers 503 until they come.
        let validator = builder.build().map_err(|e| e.to_string())?;
        let app = app(validator, &resource).map_err(|e| format!("--public-url: {e}"))?;
        Ok(Server {
            listener,
            app,
            resource,
            demo,
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        // Known since bind; an error here would be the OS's.
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves until the process ends (the demo authorization server too).
    ///
    /// # Errors
    ///
    /// What the listener reports.
    pub async fn run(self) -> std::io::Result<()> {
        let _demo = self.demo;
        axum::serve(self.listener, self.app).await
    }
}

/// A token from the demo authorization server, obtained as an MCP client
/// does: the client-credentials grant with `resource` = the MCP endpoint.
///
/// # Errors
///
/// What the token endpoint answered.
pub async fn demo_token(
    auth: &TestAuthorizationServer,
    resource: &str,
    scope: &str,
) -> Result<String, bearer_guard::client::TokenError> {
    let source: TokenSource = auth
        .token_source(ClientAuth::basic(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET))
        .resource(resource)
        .scope(scope)
        .build()?;
    Ok(source.token().await?.secret().to_owned())
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match Server::bind(&args).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e}; see --help");
            return ExitCode::from(2);
        }
    };
    let addr = server.addr();
    let resource = server.resource.clone();

    if let Some(auth) = &server.demo {
        let token = match demo_token(auth, &resource, "payments:read").await {
            Ok(token) => token,
            Err(e) => {
                eprintln!("error: the demo token: {e}");
                return ExitCode::FAILURE;
            }
        };
        let issuer = auth.issuer();
        println!("demo authorization server: {issuer}");
        println!("demo token (scope payments:read, for {resource}):\n{token}\n");
        println!(
            "try (with TOKEN set to it): get_balance answers; charge, which needs payments:write, gets 403\n  \
             curl -i -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' \\\n    \
             -H 'Accept: application/json, text/event-stream' \\\n    \
             -d '{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{{\"name\":\"get_balance\"}}}}' \\\n    \
             {resource}\n\
             a token with both scopes (client credentials, RFC 8707 resource):\n  \
             curl -u {DEMO_CLIENT_ID}:{DEMO_CLIENT_SECRET} -d grant_type=client_credentials \\\n    \
             -d resource={resource} -d 'scope=payments:read payments:write' {issuer}/token\n"
        );
    }

    println!("listening on {addr}");
    if let Err(e) = server.run().await {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
