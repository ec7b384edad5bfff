//! A configurable protected API, for trying bearer-guard against real tokens,
//! load generators and other authorization servers.
//!
//! ```text
//! cargo run --release --example resource_server -- \
//!     --issuer https://auth.example.com/ --audience payments --jwks-file jwks.json
//! cargo run --release --example resource_server -- --demo
//! cargo run --release --example resource_server -- \
//!     --issuer https://auth.example.com/ --audience payments --discover
//! cargo run --release --example resource_server -- --config docs/config.example.toml
//! ```
//!
//! With `--config PATH` (or the environment variable `BEARER_GUARD_CONFIG`),
//! the validator and the layer come from a `.toml`, `.json` or `.yaml` file
//! described by `bearer_guard::config` (`docs/config.example.toml` shows
//! every field) instead of the issuer options.
//!
//! Routes:
//! - `GET /health`: public, 200 `ok`;
//! - `GET /me`: any valid token; 200 JSON with `sub`, `iss`, `aud`,
//!   `client_id`, `scopes`, `roles` and `permissions` (arrays) and `exp`;
//! - `POST /charge`: needs the scope `charge:customer`;
//! - `GET /ping`: any valid token; answers `ok` like `/health`, so that a
//!   load test comparing the two measures the layer alone;
//! - `GET /admin`: needs one of the roles given by `--admin-role` (default
//!   `admin`), read from where `--roles-from` says; a plain 403 otherwise;
//! - `GET /health/ready`: public, the verdict only (`{"status": ..}`), 200
//!   when tokens can be validated (`ready`, `degraded`), 503 when not;
//! - `GET /metrics`: every bearer-guard metric in the Prometheus text
//!   format (public unless `--ops-listen` moves it);
//! - `GET /health/keys`: public, the key sets' state and counts and the
//!   introspection counters as JSON, without URLs or errors;
//! - `GET /.well-known/oauth-protected-resource` (and the form suffixed
//!   with the `--public-url` path): public, the resource's RFC 9728
//!   metadata; every challenge points to it.
//!
//! With `--dpop` (or `--dpop-only`), DPoP-bound tokens are accepted with
//! `Authorization: DPoP` and a `DPoP` proof (RFC 9449).
//!
//! With `--ops-listen ADDR`, a second listener (for operators only, not
//! exposed) serves the details: `/health/ready` with every issuer's key
//! health and last error, `/health/keys` with the JWKS URLs (credentials
//! hidden) and last errors, and `/metrics`. The public listener never
//! serves URLs or errors.
//!
//! It prints `listening on ADDR` once it accepts connections.

use std::net::SocketAddr;
use std::process::ExitCode;

use axum::routing::{get, post};
use axum::{Json, Router};
use bearer_guard::config::Config;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{
    BearerLayer, Claims, Issuer, RequireLayer, Requirement, Validator,
    claims::RoleSource,
    dpop::DpopOptions,
    introspection::{ClientAuth, Introspection},
    mcp::{McpPolicy, RequireToolLayer},
    metadata::ResourceMetadata,
    response::ProblemJson,
};
use http::HeaderName;
use serde_json::{Value, json};

const HELP: &str = "\
resource_server: a protected API (GET /health, GET /me, POST /charge, GET /ping, GET /admin,\nGET /.well-known/oauth-protected-resource, GET /health/ready, GET /metrics, GET /health/keys)

USAGE:
    resource_server [OPTIONS]

OPTIONS:
    --listen ADDR       address to listen on [default: 127.0.0.1:8080]
    --ops-listen ADDR   also listen here for operators: /health/ready and
                        /health/keys with per-issuer detail (JWKS URLs,
                        last errors), and /metrics (moved off the public
                        listener). The public listener serves verdicts and
                        counts only.
    --config PATH       the validator and the layer from this .toml, .json or
                        .yaml file (see bearer_guard::config and
                        docs/config.example.toml) instead of --issuer and
                        the issuer and introspection options; the layer and
                        server options below apply on top of the file
                        [default: $BEARER_GUARD_CONFIG]
    --issuer URL        a trusted token issuer (`iss`), exact match; repeat
                        for several, each with its own keys and audiences:
                        the issuer options below apply to the --issuer
                        before them
    --issuer-template T a multi-tenant issuer, `{tenant}` in T (Entra:
                        https://login.microsoftonline.com/{tenant}/v2.0),
                        the tenant confirmed by the token's `tid`; issuer
                        options apply to it as to --issuer
  issuer options:
    --audience AUD      accepted audience (`aud`); repeat for several
    --jwks-file PATH    verification keys, as a JWKS document
    --jwks-url URL      verification keys from this JWKS URL, kept fresh
    --discover          find the JWKS through the issuer's metadata
                        (OpenID Connect Discovery, then RFC 8414)
    --jwks-refresh SECS with --jwks-url or --discover: refresh the keys
                        every SECS seconds, whatever the server's max-age
                        says [default: max-age, clamped to 60 s - 24 h]
    --jwks-cooldown SECS
                        at most one refetch per SECS seconds for a token
                        naming an unknown kid [default: 30]
    --client-id-allow ID
                        the client-id mode for tokens without `aud` (AWS
                        Cognito): `client_id` must be one of these
                        (repeatable); use instead of --audience
    --token-use USE     require the `token_use` claim to be USE (Cognito:
                        access)
    --roles-from SRC    where roles are: claim:NAME, pointer:/JSON/POINTER,
                        keycloak-realm, keycloak-client:ID, cognito-groups,
                        zitadel (repeatable) [default: claim:roles]
    --permissions-from SRC
                        where permissions are, as --roles-from
                        [default: claim:permissions]
    --tenant ID         with --issuer-template: an allowed tenant
                        (repeatable; without it the first 100 are allowed)
    --rfc9068           strict RFC 9068 profile: `typ` must be at+jwt, and
                        sub, client_id, iat, jti are required
  layer and server options:
    --allow-http        allow plain http:// for --jwks-url / --discover /
                        --introspection-url (loopback test set-ups only)
    --introspection-url URL
                        validate opaque tokens at this RFC 7662 endpoint
                        (with --discover on the first issuer, the
                        metadata's endpoint is used when this is absent)
    --client-id ID      client id for introspection
    --client-secret S   client secret for introspection (client_secret_basic)
    --client-secret-post
                        send the client credentials in the form body instead
    --introspection-may-omit CLAIM
                        accept introspection answers without CLAIM (`aud`,
                        a required claim), for a server that leaves it out
                        and restricts its answers itself; checked where
                        present (repeatable) [answers must carry them]
    --token-header NAME also read the token from this header (Google IAP:
                        x-goog-iap-jwt-assertion)
    --token-cookie NAME also read the token from this cookie (Cloudflare
                        Access: CF_Authorization)
    --admin-role ROLE   a role that opens GET /admin (repeatable; any one
                        suffices) [default: admin]
    --realm REALM       realm of the WWW-Authenticate challenge [default: api]
    --token-cache-capacity N
                        verified-token cache size; 0 turns it off
                        [default: 10000]
    --dpop              also accept DPoP-bound tokens (RFC 9449) with
                        `Authorization: DPoP` and a `DPoP` proof
    --dpop-only         accept DPoP-bound tokens only (no Bearer)
    --dpop-nonce        with --dpop: require server nonces (DPoP-Nonce)
    --redis-url URL     share the DPoP replay cache and the introspection
                        cache with the other replicas on this Redis
                        (build with --features redis): redis://host:port
                        or, over TLS, rediss://[:password@]host:port (the
                        server's certificate checked against the system's
                        roots, or --redis-ca)
    --redis-cluster URLS
                        the same on a Redis Cluster: some of its nodes,
                        comma-separated (redis://10.0.0.1:6379,redis://
                        10.0.0.2:6379, or rediss://... for TLS); the others
                        are learned from them
    --redis-ca FILE     trust only these PEM certificates for the Redis
                        server's (a private or managed service's CA)
    --redis-client-cert FILE --redis-client-key FILE
                        present this client certificate (PEM) and key to
                        a Redis that asks for one (tls-auth-clients yes)
    --mcp-tool NAME=SCOPES
                        serve an MCP endpoint at POST /mcp (it echoes the
                        JSON-RPC body) whose `tools/call` of NAME needs
                        SCOPES (comma-separated): 403 insufficient_scope
                        without them, 400 -32020 when Mcp-Name disagrees
                        with the body (repeatable; other tools refused)
    --mcp-allow-unknown-tools
                        with --mcp-tool: tools without a rule need only a
                        valid token
    --public-url URL    the externally visible base URL (behind a proxy):
                        what DPoP proofs' `htu` is checked against, and the
                        `resource` of the metadata [default: http://ADDR]
    --problem-json      refusals carry an RFC 9457 application/problem+json
                        body (status and challenges unchanged)
    --demo              no authorization server needed: generate a key, trust
                        it, and print tokens to call the API with
    -h, --help          print this help

Without --demo or --config, at least one --issuer (or --issuer-template)
is required, each with --audience (or --client-id-allow) and one of
--jwks-file, --jwks-url or --discover; --client-id/--client-secret with
--introspection-url (or --discover) add opaque tokens. With remote keys the
server starts even if an authorization server is down, and answers 503 for
its tokens until its keys arrive.
";

/// One trusted issuer's options.
#[derive(Debug, Default)]
struct IssuerArgs {
    issuer: Option<String>,
    template: Option<String>,
    audiences: Vec<String>,
    jwks_file: Option<String>,
    jwks_url: Option<String>,
    discover: bool,
    jwks_refresh: Option<u64>,
    jwks_cooldown: Option<u64>,
    client_ids: Vec<String>,
    token_use: Option<String>,
    roles_from: Vec<RoleSource>,
    permissions_from: Vec<RoleSource>,
    tenants: Vec<String>,
    rfc9068: bool,
}

#[derive(Debug, Default)]
struct Args {
    listen: Option<String>,
    /// The operators' listener (--ops-listen): health detail and metrics.
    ops_listen: Option<String>,
    /// The validator and the layer from --config (or BEARER_GUARD_CONFIG).
    config: Option<Config>,
    /// The issuers, in order; options before the first --issuer go to it.
    issuers: Vec<IssuerArgs>,
    allow_http: bool,
    introspection_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_post: bool,
    /// Claims introspection answers may leave out.
    may_omit: Vec<String>,
    token_header: Option<String>,
    token_cookie: Option<String>,
    admin_roles: Vec<String>,
    /// --mcp-tool NAME=SCOPES, in order.
    mcp_tools: Vec<(String, Vec<String>)>,
    mcp_allow_unknown_tools: bool,
    realm: Option<String>,
    token_cache_capacity: Option<u64>,
    demo: bool,
    problem_json: bool,
    dpop: bool,
    dpop_only: bool,
    dpop_nonce: bool,
    public_url: Option<String>,
    redis_url: Option<String>,
    redis_cluster: Option<String>,
    redis_ca: Option<String>,
    redis_client_cert: Option<String>,
    redis_client_key: Option<String>,
}

impl Args {
    /// The issuer the next issuer option applies to.
    fn current(&mut self) -> &mut IssuerArgs {
        if self.issuers.is_empty() {
            self.issuers.push(IssuerArgs::default());
        }
        let last = self.issuers.len() - 1;
        &mut self.issuers[last]
    }

    /// Starts a new issuer, unless the options so far had none.
    fn start_issuer(&mut self) -> &mut IssuerArgs {
        let fresh = self
            .issuers
            .last()
            .is_some_and(|i| i.issuer.is_none() && i.template.is_none());
        if !fresh {
            self.issuers.push(IssuerArgs::default());
        }
        self.current()
    }
}

fn role_source(spec: &str) -> Result<RoleSource, String> {
    Ok(match spec.split_once(':') {
        Some(("claim", name)) => RoleSource::Claim(name.to_owned()),
        Some(("pointer", pointer)) => RoleSource::Pointer(pointer.to_owned()),
        Some(("keycloak-client", client)) => RoleSource::KeycloakClient(client.to_owned()),
        None if spec == "keycloak-realm" => RoleSource::KeycloakRealm,
        None if spec == "cognito-groups" => RoleSource::CognitoGroups,
        None if spec == "zitadel" => RoleSource::Zitadel,
        _ => return Err(format!("unknown role source {spec:?} (see --help)")),
    })
}

/// The configuration file at `path`: TOML, JSON or YAML, by its extension.
fn load_config(path: &str) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--config {path}: {e}"))?;
    let parsed = match std::path::Path::new(path)
        .extension()
        .and_then(|e| e.to_str())
    {
        Some("toml") => toml::from_str(&text).map_err(|e| e.to_string()),
        Some("json") => serde_json::from_str(&text).map_err(|e| e.to_string()),
        Some("yaml" | "yml") => serde_yaml_ng::from_str(&text).map_err(|e| e.to_string()),
        _ => {
            return Err(format!(
                "--config {path}: expected a .toml, .json or .yaml file"
            ));
        }
    };
    parsed.map_err(|e| format!("--config {path}: {e}"))
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut args = Args::default();
    let mut config_path = None;
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
            "--ops-listen" => args.ops_listen = Some(value("--ops-listen")?),
            "--config" => config_path = Some(value("--config")?),
            "--issuer" => args.start_issuer().issuer = Some(value("--issuer")?),
            "--issuer-template" => args.start_issuer().template = Some(value("--issuer-template")?),
            "--audience" => args.current().audiences.push(value("--audience")?),
            "--jwks-file" => args.current().jwks_file = Some(value("--jwks-file")?),
            "--jwks-url" => args.current().jwks_url = Some(value("--jwks-url")?),
            "--jwks-refresh" | "--jwks-cooldown" => {
                let v = value(flag.as_str())?;
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("{flag}: {v:?} is not a number of seconds"))?;
                if flag == "--jwks-refresh" {
                    args.current().jwks_refresh = Some(secs);
                } else {
                    args.current().jwks_cooldown = Some(secs);
                }
            }
            "--discover" => args.current().discover = true,
            "--client-id-allow" => args.current().client_ids.push(value("--client-id-allow")?),
            "--token-use" => args.current().token_use = Some(value("--token-use")?),
            "--roles-from" => {
                let source = role_source(&value("--roles-from")?)?;
                args.current().roles_from.push(source);
            }
            "--permissions-from" => {
                let source = role_source(&value("--permissions-from")?)?;
                args.current().permissions_from.push(source);
            }
            "--tenant" => args.current().tenants.push(value("--tenant")?),
            "--rfc9068" => args.current().rfc9068 = true,
            "--allow-http" => args.allow_http = true,
            "--introspection-url" => args.introspection_url = Some(value("--introspection-url")?),
            "--client-id" => args.client_id = Some(value("--client-id")?),
            "--client-secret" => args.client_secret = Some(value("--client-secret")?),
            "--client-secret-post" => args.client_secret_post = true,
            "--introspection-may-omit" => args.may_omit.push(value("--introspection-may-omit")?),
            "--token-header" => args.token_header = Some(value("--token-header")?),
            "--token-cookie" => args.token_cookie = Some(value("--token-cookie")?),
            "--admin-role" => args.admin_roles.push(value("--admin-role")?),
            "--realm" => args.realm = Some(value("--realm")?),
            "--token-cache-capacity" => {
                let n = value("--token-cache-capacity")?;
                args.token_cache_capacity = Some(
                    n.parse()
                        .map_err(|_| format!("--token-cache-capacity: {n:?} is not a number"))?,
                );
            }
            "--demo" => args.demo = true,
            "--problem-json" => args.problem_json = true,
            "--dpop" => args.dpop = true,
            "--dpop-only" => args.dpop_only = true,
            "--dpop-nonce" => args.dpop_nonce = true,
            "--public-url" => args.public_url = Some(value("--public-url")?),
            "--redis-url" => args.redis_url = Some(value("--redis-url")?),
            "--redis-cluster" => args.redis_cluster = Some(value("--redis-cluster")?),
            "--redis-ca" => args.redis_ca = Some(value("--redis-ca")?),
            "--redis-client-cert" => {
                args.redis_client_cert = Some(value("--redis-client-cert")?);
            }
            "--redis-client-key" => args.redis_client_key = Some(value("--redis-client-key")?),
            "--mcp-tool" => {
                let spec = value("--mcp-tool")?;
                let (name, scopes) = spec
                    .split_once('=')
                    .ok_or_else(|| format!("--mcp-tool: {spec:?} is not NAME=SCOPES"))?;
                let scopes: Vec<String> = scopes
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                args.mcp_tools.push((name.to_owned(), scopes));
            }
            "--mcp-allow-unknown-tools" => args.mcp_allow_unknown_tools = true,
            other => return Err(format!("unknown option {other:?} (see --help)")),
        }
    }
    let config_path = match config_path {
        Some(path) => Some(("--config", path)),
        None => std::env::var("BEARER_GUARD_CONFIG")
            .ok()
            .filter(|p| !p.is_empty())
            .map(|path| ("BEARER_GUARD_CONFIG", path)),
    };
    if let Some((source, path)) = config_path {
        let conflict = if !args.issuers.is_empty() {
            Some("--issuer, --issuer-template and the issuer options")
        } else if args.demo {
            Some("--demo")
        } else if args.introspection_url.is_some()
            || args.client_id.is_some()
            || args.client_secret.is_some()
            || args.client_secret_post
        {
            Some("the introspection options (use the file's [introspection])")
        } else {
            None
        };
        if let Some(conflict) = conflict {
            return Err(format!(
                "{source} ({path}) cannot be combined with {conflict} (see --help)"
            ));
        }
        args.config = Some(load_config(&path)?);
    }
    Ok(Some(args))
}

/// One issuer's configuration, from its options.
fn issuer(a: &IssuerArgs) -> Result<Issuer, String> {
    let mut i = match (&a.issuer, &a.template) {
        (Some(iss), None) => Issuer::new(iss.clone()),
        (None, Some(template)) => {
            let mut i = Issuer::tenant_template(template.clone());
            if !a.tenants.is_empty() {
                i = i.tenants(a.tenants.iter().cloned());
            }
            i
        }
        _ => return Err("issuer options need an --issuer or --issuer-template first".into()),
    };
    let sources = usize::from(a.jwks_file.is_some())
        + usize::from(a.jwks_url.is_some())
        + usize::from(a.discover);
    if sources != 1 || (a.audiences.is_empty() && a.client_ids.is_empty()) {
        return Err(
            "each issuer needs --audience (or --client-id-allow) and one of --jwks-file, --jwks-url, --discover"
                .into(),
        );
    }
    for audience in &a.audiences {
        i = i.audience(audience.clone());
    }
    if !a.client_ids.is_empty() {
        i = i.allowed_client_ids(a.client_ids.iter().cloned());
    }
    if let Some(token_use) = &a.token_use {
        i = i.require_claim_equals("token_use", token_use.clone());
    }
    for source in &a.roles_from {
        i = i.roles_from(source.clone());
    }
    for source in &a.permissions_from {
        i = i.permissions_from(source.clone());
    }
    if let Some(path) = &a.jwks_file {
        i = i.jwks_file(path);
    }
    if let Some(url) = &a.jwks_url {
        i = i.jwks_url(url.clone());
    }
    if a.discover {
        i = i.discover();
    }
    if a.jwks_refresh.is_some() || a.jwks_cooldown.is_some() {
        let mut o = bearer_guard::jwks::JwksOptions::default();
        if let Some(secs) = a.jwks_refresh {
            let every = std::time::Duration::from_secs(secs);
            o = o.refresh_bounds(every, every).default_refresh(every);
        }
        if let Some(secs) = a.jwks_cooldown {
            o = o.cooldown(std::time::Duration::from_secs(secs));
        }
        i = i.jwks_options(o);
    }
    if a.rfc9068 {
        i = i.rfc9068_profile();
    }
    Ok(i)
}

async fn me(claims: Claims) -> Json<Value> {
    Json(json!({
        "sub": claims.subject(),
        "iss": claims.issuer(),
        "aud": claims.audiences().collect::<Vec<_>>(),
        "client_id": claims.client_id(),
        "scopes": claims.scopes().iter().collect::<Vec<_>>(),
        "roles": claims.roles().iter().collect::<Vec<_>>(),
        "permissions": claims.permissions().iter().collect::<Vec<_>>(),
        "exp": claims.expires_at(),
    }))
}

async fn charge(claims: Claims) -> Json<Value> {
    Json(json!({
        "status": "charged",
        "on_behalf_of": claims.client_id().or(claims.subject()),
    }))
}

/// The key sets and introspection counters; with `detail`, the JWKS URL
/// (credentials hidden) and the last error too.
async fn key_health(validator: &Validator, detail: bool) -> Json<Value> {
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
    // The top-level fields describe the first key set (one issuer, as this
    // example configures it); `issuers` lists every one.
    let remote = validator.remote_keys();
    let mut keys = match remote.first().map(|k| k.stats()) {
        None => json!({ "source": "local", "keys": validator.keys().len() }),
        Some(s) => {
            let mut keys = json!({
                "source": "remote",
                "status": format!("{:?}", s.status),
                "keys": s.keys,
                "fetches": s.fetches,
                "on_demand_fetches": s.on_demand_fetches,
                "failures": s.failures,
                "consecutive_failures": s.consecutive_failures,
            });
            if detail {
                keys["jwks_uri"] = json!(s.jwks_uri);
                keys["last_error"] = json!(s.last_error.map(|e| e.to_string()));
            }
            keys
        }
    };
    keys["issuers"] = remote
        .iter()
        .map(|k| {
            let s = k.stats();
            json!({"issuer": k.issuer(), "status": format!("{:?}", s.status), "keys": s.keys})
        })
        .collect();
    keys["introspection"] = introspection.unwrap_or(Value::Null);
    Json(keys)
}

/// The process's Prometheus recorder, installed on first use: every
/// bearer-guard metric, rendered by `GET /metrics`.
fn prometheus() -> &'static metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE.get_or_init(|| {
        // Buckets, so that the duration is a histogram (aggregatable across
        // replicas), not the exporter's default summary.
        let builder = metrics_exporter_prometheus::PrometheusBuilder::new();
        let buckets = [
            0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025, 0.1, 0.5, 2.0,
        ];
        let builder = match builder.set_buckets_for_metric(
            metrics_exporter_prometheus::Matcher::Full(
                "bearer_guard_validation_duration_seconds".into(),
            ),
            &buckets,
        ) {
            Ok(b) => b,
            Err(_) => metrics_exporter_prometheus::PrometheusBuilder::new(),
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

fn app(
    validator: Validator,
    args: &Args,
    addr: SocketAddr,
) -> Result<Router, Box<dyn std::error::Error>> {
    let health_validator = validator.clone();
    prometheus();
    let config_layer = args.config.as_ref().and_then(|c| c.layer.as_ref());
    let public_url = args
        .public_url
        .clone()
        .or_else(|| config_layer.and_then(|l| l.public_url.clone()))
        .unwrap_or_else(|| format!("http://{addr}"));
    let metadata = ResourceMetadata::try_new(public_url.clone(), &validator)?
        .scopes_supported(["charge:customer"])
        .resource_name("bearer-guard resource_server example");
    // With --config, the file's [layer] options, and the flags over them.
    let mut layer = match &args.config {
        Some(config) => config.layer(validator)?,
        None => BearerLayer::new(validator),
    };
    if args.realm.is_some() || config_layer.is_none_or(|l| l.realm.is_none()) {
        layer = layer.try_realm(args.realm.as_deref().unwrap_or("api"))?;
    }
    layer = layer.resource_metadata(&metadata);
    // DPoP proofs are checked against this URL: by default the address
    // this server listens on (set --public-url behind a proxy).
    if args.public_url.is_some() || config_layer.is_none_or(|l| l.public_url.is_none()) {
        layer = layer.try_public_url(public_url)?;
    }
    if let Some(name) = &args.token_header {
        layer = layer.token_header(HeaderName::try_from(name.as_str())?);
    }
    if let Some(name) = &args.token_cookie {
        layer = layer.token_cookie(name.clone());
    }
    // The MCP endpoint, when tools are named: the tool is read from the
    // JSON-RPC body, inside the bearer layer.
    let mut mcp = McpPolicy::new();
    for (name, scopes) in &args.mcp_tools {
        let requirement = Requirement::try_scopes_all(scopes.clone())
            .map_err(|e| format!("--mcp-tool {name}: {e}"))?;
        mcp = mcp.tool(name.clone(), requirement);
    }
    if args.mcp_allow_unknown_tools {
        mcp = mcp.allow_unknown_tools();
    }
    let mcp = (!args.mcp_tools.is_empty()).then(|| RequireToolLayer::new(mcp));
    let routes = || -> Result<Router, Box<dyn std::error::Error>> {
        // After the other routes: `route_layer` above covers only those.
        let mcp_route = match &mcp {
            Some(layer) => Router::new().route(
                "/mcp",
                post(|body: String| async move { body }).layer(layer.clone()),
            ),
            None => Router::new(),
        };
        Ok(Router::new()
            .route("/charge", post(charge))
            .route_layer(RequireLayer::new(Requirement::scopes_all([
                "charge:customer",
            ])))
            .route("/me", get(me))
            .route("/ping", get(|| async { "ok" }))
            .route(
                "/admin",
                get(|| async { "ok" }).route_layer(RequireLayer::new(Requirement::roles_any(
                    if args.admin_roles.is_empty() {
                        vec!["admin".to_owned()]
                    } else {
                        args.admin_roles.clone()
                    },
                ))),
            )
            .merge(mcp_route))
    };
    // RFC 9457 problem documents as refusal bodies, or empty bodies.
    let protected = if args.problem_json {
        routes()?.route_layer(layer.error_body(ProblemJson))
    } else {
        routes()?.route_layer(layer)
    };
    let mut router = Router::new();
    for path in metadata.paths() {
        let document = metadata.clone();
        router = router.route(&path, get(move || std::future::ready(document.clone())));
    }
    let ready_validator = health_validator.clone();
    router = router
        .route("/health", get(|| async { "ok" }))
        // The verdict, and counts: nothing that names an internal URL or
        // repeats an error (those are on the operators' listener).
        .route(
            "/health/ready",
            get(move || {
                let health = ready_validator.health();
                std::future::ready((
                    health_status(&health),
                    Json(json!({ "status": health.status })),
                ))
            }),
        )
        .route(
            "/health/keys",
            get(move || {
                let v = health_validator.clone();
                async move { key_health(&v, false).await }
            }),
        );
    if args.ops_listen.is_none() {
        router = router.route(
            "/metrics",
            get(|| std::future::ready(prometheus().render())),
        );
    }
    Ok(router.merge(protected))
}

/// The operators' routes (`--ops-listen`): the validator's whole health
/// document, the key sets with their URLs (credentials hidden) and last
/// errors, and the metrics.
fn ops_app(validator: Validator) -> Router {
    prometheus();
    let ready_validator = validator.clone();
    Router::new()
        .route(
            "/health/ready",
            get(move || {
                let health = ready_validator.health();
                std::future::ready((health_status(&health), Json(health)))
            }),
        )
        .route(
            "/health/keys",
            get(move || {
                let v = validator.clone();
                async move { key_health(&v, true).await }
            }),
        )
        .route(
            "/metrics",
            get(|| std::future::ready(prometheus().render())),
        )
}

fn health_status(health: &bearer_guard::health::Health) -> axum::http::StatusCode {
    axum::http::StatusCode::from_u16(health.http_status())
        .unwrap_or(axum::http::StatusCode::SERVICE_UNAVAILABLE)
}

/// The fleet's shared store from `--redis-url` or `--redis-cluster`, with
/// `--redis-ca` and the client certificate.
#[cfg(feature = "redis")]
fn redis_store(args: &Args) -> Result<bearer_guard::redis::RedisStore, String> {
    use bearer_guard::redis::RedisStore;
    let read =
        |flag: &str, path: &str| std::fs::read(path).map_err(|e| format!("{flag} {path}: {e}"));
    let mut store = match (&args.redis_url, &args.redis_cluster) {
        (Some(_), Some(_)) => {
            return Err(
                "give --redis-url (one node) or --redis-cluster (its nodes), not both".into(),
            );
        }
        (Some(url), None) => RedisStore::new(url).map_err(|e| format!("--redis-url: {e}"))?,
        (None, Some(nodes)) => RedisStore::cluster(nodes.split(',').map(str::trim))
            .map_err(|e| format!("--redis-cluster: {e}"))?,
        (None, None) => return Err("no Redis given".into()),
    };
    if let Some(path) = &args.redis_ca {
        store = store
            .tls_root_certificates(read("--redis-ca", path)?)
            .map_err(|e| format!("--redis-ca: {e}"))?;
    }
    match (&args.redis_client_cert, &args.redis_client_key) {
        (Some(cert), Some(key)) => {
            store = store
                .tls_client_certificate(
                    read("--redis-client-cert", cert)?,
                    read("--redis-client-key", key)?,
                )
                .map_err(|e| format!("--redis-client-cert: {e}"))?;
        }
        (None, None) => {}
        _ => return Err("--redis-client-cert and --redis-client-key go together".into()),
    }
    Ok(store)
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
    if let Some(config) = &args.config {
        builder = match config.builder() {
            Ok(builder) => builder,
            Err(e) => {
                eprintln!("error: --config: {e}");
                return ExitCode::from(2);
            }
        };
        if args.allow_http {
            builder = builder.allow_insecure_http();
        }
    } else if args.demo {
        let issuer = TestIssuer::new().issuer_url(
            args.issuers
                .first()
                .and_then(|i| i.issuer.clone())
                .unwrap_or_else(|| "https://demo-issuer.test".into()),
        );
        let audiences = args
            .issuers
            .first()
            .map(|i| i.audiences.clone())
            .unwrap_or_default();
        let mut demo_issuer = Issuer::new(issuer.issuer()).jwks_json(issuer.jwks_json());
        demo_issuer = if audiences.is_empty() {
            demo_issuer.audience("demo-api")
        } else {
            audiences.into_iter().fold(demo_issuer, Issuer::audience)
        };
        builder = builder.trust(demo_issuer);
        demo = Some(issuer);
    } else {
        if args.issuers.is_empty() {
            eprintln!(
                "error: --issuer, --audience and one of --jwks-file, --jwks-url, --discover are required (or --demo); see --help"
            );
            return ExitCode::from(2);
        }
        for a in &args.issuers {
            match issuer(a) {
                Ok(i) => builder = builder.trust(i),
                Err(e) => {
                    eprintln!("error: {e}; see --help");
                    return ExitCode::from(2);
                }
            }
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
        let first_discovers = args.issuers.first().is_some_and(|i| i.discover);
        match (auth, &args.introspection_url) {
            (Some(auth), Some(url)) => {
                let introspection = args
                    .may_omit
                    .iter()
                    .fold(Introspection::at(url.clone(), auth), |i, c| {
                        i.may_omit(c.clone())
                    });
                builder = builder.introspection(introspection);
            }
            // With --discover, the metadata's endpoint.
            (Some(auth), None) if first_discovers => {
                let introspection = args
                    .may_omit
                    .iter()
                    .fold(Introspection::discovered(auth), |i, c| {
                        i.may_omit(c.clone())
                    });
                builder = builder.introspection(introspection);
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
    if let Some(n) = args.token_cache_capacity {
        builder = builder.token_cache_capacity(n);
    }
    if args.redis_url.is_some() || args.redis_cluster.is_some() {
        #[cfg(feature = "redis")]
        match redis_store(&args) {
            Ok(store) => builder = builder.shared_store(store),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
        #[cfg(not(feature = "redis"))]
        {
            eprintln!(
                "error: --redis-url and --redis-cluster need the redis feature: cargo run --example resource_server --features redis"
            );
            return ExitCode::from(2);
        }
    }
    if args.dpop || args.dpop_only || args.dpop_nonce {
        let mut options = DpopOptions::new();
        if args.dpop_only {
            options = options.required();
        }
        if args.dpop_nonce {
            options = options.require_nonce();
        }
        builder = builder.dpop(options);
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
        let audience = args
            .issuers
            .first()
            .and_then(|i| i.audiences.first())
            .map_or("demo-api", String::as_str);
        let token = issuer
            .token()
            .audience(audience)
            .scope("charge:customer")
            .expires_in(24 * 3600)
            .sign();
        println!("demo token (scope charge:customer, valid 24 h):\n{token}\n");
        println!("try: curl -H 'Authorization: Bearer {token}' http://{addr}/me\n");
    }

    let health_validator = validator.clone();
    let app = match app(validator, &args, addr) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(ops) = &args.ops_listen {
        let ops_listener = match tokio::net::TcpListener::bind(ops).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {ops}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let ops_addr = ops_listener.local_addr().expect("local address");
        let ops_app = ops_app(health_validator);
        tokio::spawn(async move { axum::serve(ops_listener, ops_app).await });
        println!("operations on {ops_addr}");
    }
    println!("listening on {addr}");
    if let Err(e) = axum::serve(listener, app).await {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
