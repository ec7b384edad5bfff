//! A configurable protected API, for trying bearer-guard against real tokens,
//! load generators and other authorization servers.
//!
//! ```text
//! cargo run --release --example resource_server -- \
//!     --issuer https://auth.example.com/ --audience payments --jwks-file jwks.json
//! cargo run --release --example resource_server -- --demo
//! cargo run --release --example resource_server -- \
//!     --issuer https://auth.example.com/ --audience payments --discover
//! ```
//!
//! Routes:
//! - `GET /health`: public, 200 `ok`;
//! - `GET /me`: any valid token; 200 JSON with `sub`, `iss`, `aud`,
//!   `client_id`, `scopes` (array) and `exp`;
//! - `POST /charge`: needs the scope `charge:customer`;
//! - `GET /ping`: any valid token; answers `ok` like `/health`, so that a
//!   load test comparing the two measures the layer alone;
//! - `GET /health/keys`: public, the key set's state and the introspection
//!   counters as JSON.
//!
//! It prints `listening on ADDR` once it accepts connections.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::routing::{get, post};
use axum::{Json, Router};
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerLayer, Claims, ClientAuth, Introspection, RequireScopeLayer, Validator};
use serde_json::{Value, json};

const HELP: &str = "\
resource_server: a protected API (GET /health, GET /me, POST /charge, GET /ping)

USAGE:
    resource_server [OPTIONS]

OPTIONS:
    --listen ADDR       address to listen on [default: 127.0.0.1:8080]
    --issuer URL        accepted token issuer (`iss`), exact match
    --audience AUD      accepted audience (`aud`); repeat for several
    --jwks-file PATH    verification keys, as a JWKS document
    --jwks-url URL      verification keys from this JWKS URL, kept fresh
    --discover          find the JWKS through the issuer's metadata
                        (OpenID Connect Discovery, then RFC 8414)
    --allow-http        allow plain http:// for --jwks-url / --discover /
                        --introspection-url (loopback test set-ups only)
    --introspection-url URL
                        validate opaque tokens at this RFC 7662 endpoint
                        (with --discover, the metadata's endpoint is used
                        when this is absent)
    --client-id ID      client id for introspection
    --client-secret S   client secret for introspection (client_secret_basic)
    --client-secret-post
                        send the client credentials in the form body instead
    --rfc9068           strict RFC 9068 profile: `typ` must be at+jwt, and
                        sub, client_id, iat, jti are required
    --realm REALM       realm of the WWW-Authenticate challenge [default: api]
    --token-cache-capacity N
                        verified-token cache size; 0 turns it off
                        [default: 10000]
    --demo              no authorization server needed: generate a key, trust
                        it, and print tokens to call the API with
    -h, --help          print this help

Without --demo, --issuer, --audience and one of --jwks-file, --jwks-url or
--discover are required; --client-id/--client-secret with --introspection-url
(or --discover) add opaque tokens. With remote keys the server starts even if the
authorization server is down, and answers 503 until its keys arrive.
";

#[derive(Debug, Default)]
struct Args {
    listen: Option<String>,
    issuer: Option<String>,
    audiences: Vec<String>,
    jwks_file: Option<String>,
    jwks_url: Option<String>,
    discover: bool,
    allow_http: bool,
    introspection_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_post: bool,
    rfc9068: bool,
    realm: Option<String>,
    token_cache_capacity: Option<u64>,
    demo: bool,
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
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
            "--listen" => args.listen = Some(value("--listen")?),
            "--issuer" => args.issuer = Some(value("--issuer")?),
            "--audience" => args.audiences.push(value("--audience")?),
            "--jwks-file" => args.jwks_file = Some(value("--jwks-file")?),
            "--jwks-url" => args.jwks_url = Some(value("--jwks-url")?),
            "--discover" => args.discover = true,
            "--allow-http" => args.allow_http = true,
            "--introspection-url" => args.introspection_url = Some(value("--introspection-url")?),
            "--client-id" => args.client_id = Some(value("--client-id")?),
            "--client-secret" => args.client_secret = Some(value("--client-secret")?),
            "--client-secret-post" => args.client_secret_post = true,
            "--realm" => args.realm = Some(value("--realm")?),
            "--token-cache-capacity" => {
                let n = value("--token-cache-capacity")?;
                args.token_cache_capacity = Some(
                    n.parse()
                        .map_err(|_| format!("--token-cache-capacity: {n:?} is not a number"))?,
                );
            }
            "--rfc9068" => args.rfc9068 = true,
            "--demo" => args.demo = true,
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    Ok(Some(args))
}

async fn me(claims: Claims) -> Json<Value> {
    Json(json!({
        "sub": claims.subject(),
        "iss": claims.issuer(),
        "aud": claims.audiences().collect::<Vec<_>>(),
        "client_id": claims.client_id(),
        "scopes": claims.scopes().iter().collect::<Vec<_>>(),
        "exp": claims.expires_at(),
    }))
}

async fn charge(claims: Claims) -> Json<Value> {
    Json(json!({
        "status": "charged",
        "on_behalf_of": claims.client_id().or(claims.subject()),
    }))
}

async fn key_health(validator: &Validator) -> Json<Value> {
    let introspection = validator.introspection_stats().await.map(|s| {
        json!({
            "calls": s.calls,
            "cache_hits": s.cache_hits,
            "active": s.active,
            "inactive": s.inactive,
            "failures": s.failures,
            "overloaded": s.overloaded,
            "cached": s.cached,
        })
    });
    let mut keys = match validator.key_source_stats() {
        None => json!({ "source": "local", "keys": validator.keys().len() }),
        Some(s) => json!({
            "source": "remote",
            "jwks_uri": s.jwks_uri,
            "status": format!("{:?}", s.status),
            "keys": s.keys,
            "fetches": s.fetches,
            "on_demand_fetches": s.on_demand_fetches,
            "failures": s.failures,
            "consecutive_failures": s.consecutive_failures,
            "last_error": s.last_error.map(|e| e.to_string()),
        }),
    };
    keys["introspection"] = introspection.unwrap_or(Value::Null);
    Json(keys)
}

fn app(validator: Validator, realm: &str) -> Result<Router, Box<dyn std::error::Error>> {
    let health_validator = validator.clone();
    let protected = Router::new()
        .route("/charge", post(charge))
        .route_layer(RequireScopeLayer::all(["charge:customer"])?)
        .route("/me", get(me))
        .route("/ping", get(|| async { "ok" }))
        .route_layer(BearerLayer::new(validator).realm(realm)?);
    Ok(Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/health/keys",
            get(move || {
                let v = health_validator.clone();
                async move { key_health(&v).await }
            }),
        )
        .merge(protected))
}

#[tokio::main]
async fn main() -> ExitCode {
    // Key fetches, rotations and failures are reported through `tracing`.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    let args = match parse_args() {
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

    let mut demo = None;
    let mut builder = Validator::builder();
    if args.demo {
        let issuer = TestIssuer::new().issuer_url(
            args.issuer
                .clone()
                .unwrap_or_else(|| "https://demo-issuer.test".into()),
        );
        builder = builder
            .issuer(issuer.issuer())
            .jwks_json(issuer.jwks_json());
        if args.audiences.is_empty() {
            builder = builder.audience("demo-api");
        }
        demo = Some(issuer);
    } else {
        let sources = usize::from(args.jwks_file.is_some())
            + usize::from(args.jwks_url.is_some())
            + usize::from(args.discover);
        let (Some(issuer), 1, false) = (&args.issuer, sources, args.audiences.is_empty()) else {
            eprintln!(
                "error: --issuer, --audience and one of --jwks-file, --jwks-url, --discover are required (or --demo); see --help"
            );
            return ExitCode::from(2);
        };
        builder = builder.issuer(issuer.clone());
        if let Some(path) = &args.jwks_file {
            builder = builder.jwks_file(path);
        }
        if let Some(url) = &args.jwks_url {
            builder = builder.jwks_url(url.clone());
        }
        if args.discover {
            builder = builder.discover();
        }
        if args.allow_http {
            builder = builder.allow_insecure_http();
        }
        let auth = match (&args.client_id, &args.client_secret) {
            (Some(id), Some(secret)) if args.client_secret_post => {
                Some(ClientAuth::post(id.clone(), secret.clone()))
            }
            (Some(id), Some(secret)) => Some(ClientAuth::basic(id.clone(), secret.clone())),
            (None, None) => None,
            _ => {
                eprintln!("error: --client-id and --client-secret go together; see --help");
                return ExitCode::from(2);
            }
        };
        match (auth, &args.introspection_url) {
            (Some(auth), Some(url)) => {
                builder = builder.introspection(Introspection::at(url.clone(), auth));
            }
            // With --discover, the metadata's endpoint.
            (Some(auth), None) if args.discover => {
                builder = builder.introspection(Introspection::discovered(auth));
            }
            (None, None) => {}
            _ => {
                eprintln!(
                    "error: introspection needs --client-id and --client-secret, and --introspection-url or --discover; see --help"
                );
                return ExitCode::from(2);
            }
        }
    }
    for audience in &args.audiences {
        builder = builder.audience(audience.clone());
    }
    if args.rfc9068 {
        builder = builder.rfc9068_profile();
    }
    if let Some(n) = args.token_cache_capacity {
        builder = builder.token_cache_capacity(n);
    }
    let validator = match builder.build() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };

    let listen = args.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr: SocketAddr = listener.local_addr().expect("local address");

    if let Some(issuer) = &demo {
        let audience = args.audiences.first().map_or("demo-api", String::as_str);
        let token = issuer
            .token()
            .audience(audience)
            .scope("charge:customer")
            .expires_in(24 * 3600)
            .sign();
        println!("demo token (scope charge:customer, valid 24 h):\n{token}\n");
        println!("try: curl -H 'Authorization: Bearer {token}' http://{addr}/me\n");
    }

    let app = match app(validator, args.realm.as_deref().unwrap_or("api")) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!("listening on {addr}");
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
