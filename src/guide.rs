//! Guides: the crate in each stack, in tests, with each provider, in
//! production. Documentation only; every example here is compiled (and
//! most are run) as a doctest.
//!
//! - [`axum`]: the layer, requirements per route, and how `route_layer`
//!   order decides which routes a requirement covers;
//! - [`hyper`]: hyper 1 with `service_fn` and `tower::ServiceBuilder`;
//! - [`tonic`]: a gRPC server, refusals as gRPC statuses;
//! - [`testing`]: `TestIssuer` in your own tests, and served as an
//!   authorization server;
//! - [`providers`]: the settings for Keycloak, Auth0, Entra ID, Okta,
//!   Google, Cognito, …;
//! - [`operations`]: metrics, traces, health, configuration files, the
//!   diagnostic command;
//! - [`policy`]: which configured rule applies on which path (a JWT, a
//!   cache hit, an introspection answer, a bound token, a tenant);
//! - [`mcp`]: an MCP server as an OAuth resource server (per-tool
//!   scopes, what the MCP specification requires and where the crate does
//!   it), and an MCP client that finds its own way in.

pub mod axum {
    //! # axum
    //!
    //! `BearerLayer` validates the token; a `RequireLayer` of a
    //! `Requirement` (scopes, roles, permissions, predicates, any/all trees)
    //! decides per route; handlers take [`Claims`](crate::Claims) (or
    //! `Option<Claims>`, or [`TypedClaims<T>`](crate::extract::TypedClaims)).
    //!
    //! **Which routes a requirement covers.** axum's `route_layer` wraps
    //! the routes added *before* it, and `layer` wraps everything before
    //! it, fallback included. Read a router from the bottom up: the last
    //! `.layer(BearerLayer)` covers every route above it; a
    //! `.route_layer(requirement)` covers the routes between it and the
    //! previous `route_layer`... and every route above that too.
    //!
    //! ```
    //! use axum::{Router, routing::{get, post}};
    //! use bearer_guard::{BearerLayer, Claims, RequireLayer, Requirement};
    //! # use bearer_guard::testing::TestIssuer;
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! # let validator = TestIssuer::new().validator();
    //! let app: Router = Router::new()
    //!     // Covered by the admin role requirement AND the scope below.
    //!     .route("/admin", get(|| async { "admin" }))
    //!     .route_layer(RequireLayer::new(Requirement::roles_any(["admin"])))
    //!     // Covered by the scope requirement only.
    //!     .route("/charge", post(|| async { "charged" }))
    //!     .route_layer(RequireLayer::new(Requirement::scopes_all(["charge:customer"])))
    //!     // Covered by no requirement: any valid token.
    //!     .route("/me", get(|claims: Claims| async move { claims.subject().unwrap_or_default().to_owned() }))
    //!     // Every route above needs a valid token.
    //!     .layer(BearerLayer::new(validator).realm("payments"))
    //!     // Public: added after the layer.
    //!     .route("/health", get(|| async { "ok" }));
    //! # Ok(()) }
    //! ```
    //!
    //! **`layer` or `route_layer` for `BearerLayer`.** With `.layer`, the
    //! fallback is covered too: a request to a path that does not exist
    //! answers 401 without a valid token (404 with one), so strangers cannot
    //! map your routes. With `.route_layer`, only the routes are covered and
    //! an unknown path answers 404 to anyone. Choose `.layer` for an API
    //! of its own, `.route_layer` for protected routes merged into a larger
    //! router whose other paths must answer as they do.
    //!
    //! To give a route a requirement of its own and nothing else, put the
    //! layer on the route's method router instead:
    //! `.route("/admin", get(admin).route_layer(RequireLayer::new(..)))`.
    //!
    //! **One path, a scope per method** (GET reads, POST writes): put each
    //! requirement on its handler with axum's `Handler::layer`. Not
    //! `get(list).route_layer(read).post(create).route_layer(write)`: a
    //! method router's `route_layer` wraps every method added before it, so
    //! GET would need both scopes (`tests/http.rs` proves the form below).
    //!
    //! ```
    //! use axum::{Router, handler::Handler, routing::get};
    //! use bearer_guard::{BearerLayer, RequireLayer, Requirement};
    //! # use bearer_guard::testing::TestIssuer;
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! # let validator = TestIssuer::new().validator();
    //! # async fn list() -> &'static str { "orders" }
    //! # async fn create() -> &'static str { "created" }
    //! let read = RequireLayer::new(Requirement::scopes_all(["orders:read"]));
    //! let write = RequireLayer::new(Requirement::scopes_all(["orders:write"]));
    //! let app: Router = Router::new()
    //!     .route("/orders", get(list.layer(read)).post(create.layer(write)))
    //!     .layer(BearerLayer::new(validator));
    //! # Ok(()) }
    //! ```
    //!
    //! Refusal bodies: [`BearerLayer::error_body`](crate::BearerLayer::error_body)
    //! with [`ProblemJson`](crate::response::ProblemJson) (RFC 9457) or a closure; the
    //! [`AuthError`](crate::AuthError) is also in the response extensions
    //! for a `map_response` further out.
}

pub mod hyper {
    //! # hyper 1 without axum
    //!
    //! The layer is a tower layer: put it in a `ServiceBuilder` around a
    //! `service_fn` and serve it with hyper-util. The handler finds the
    //! [`Claims`](crate::Claims) in the request extensions. A body type
    //! with `Default` (and `From<String>` for
    //! [`ProblemJson`](crate::response::ProblemJson)) is all the layer needs.
    //!
    //! ```
    //! use std::convert::Infallible;
    //! use bearer_guard::{BearerLayer, Claims, response::ProblemJson};
    //! use bytes::Bytes;
    //! use http::{Request, Response};
    //! use http_body_util::Full;
    //! use tower::{Service, ServiceBuilder, ServiceExt};
    //! # use bearer_guard::testing::TestIssuer;
    //!
    //! async fn handle(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    //!     let sub = req.extensions().get::<Claims>().and_then(|c| c.subject()).unwrap_or("?");
    //!     Ok(Response::new(Full::from(format!("hello {sub}"))))
    //! }
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! # let issuer = TestIssuer::new();
    //! # let validator = issuer.validator();
    //! let mut service = ServiceBuilder::new()
    //!     .layer(BearerLayer::new(validator).error_body(ProblemJson))
    //!     .service_fn(handle);
    //! // Serve it with hyper_util::service::TowerToHyperService; here, one call:
    //! let token = issuer.token().subject("alice").sign();
    //! let request = Request::get("/").header("authorization", format!("Bearer {token}"))
    //!     .body(Full::default())?;
    //! let response = service.ready().await?.call(request).await?;
    //! assert_eq!(response.status(), 200);
    //! # Ok(()) }
    //! ```
    //!
    //! `examples/hyper.rs` is the whole server, run by `tests/stacks.rs`.
}

pub mod tonic {
    //! # tonic (gRPC)
    //!
    //! Put the layer in front of the whole server with
    //! `Server::builder().layer(..)`. A gRPC call (`content-type:
    //! application/grpc`) is refused the gRPC way: HTTP 200 with
    //! `grpc-status` `UNAUTHENTICATED` (16) for a missing or bad token,
    //! `PERMISSION_DENIED` (7) for a missing scope or role, `UNAVAILABLE`
    //! (14) when the keys cannot be had, and the RFC 6750 challenge in the
    //! `www-authenticate` metadata. Handlers read the claims from the
    //! request's extensions.
    //!
    //! ```
    //! use bearer_guard::{BearerLayer, Claims, RequireLayer, Requirement};
    //! # use bearer_guard::testing::TestIssuer;
    //!
    //! // In a handler generated by tonic-build, the claims are in the extensions.
    //! fn subject<T>(request: &tonic::Request<T>) -> Result<String, tonic::Status> {
    //!     let claims = request.extensions().get::<Claims>()
    //!         .ok_or_else(|| tonic::Status::internal("no BearerLayer in front"))?;
    //!     Ok(claims.subject().unwrap_or_default().to_owned())
    //! }
    //!
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! # let validator = TestIssuer::new().validator();
    //! let server = tonic::transport::Server::builder()
    //!     .layer(BearerLayer::new(validator).realm("payments"))
    //!     .layer(RequireLayer::new(Requirement::scopes_all(["payments"])));
    //! // server.add_service(PaymentsServer::new(MyPayments)).serve(addr).await?;
    //! # let _ = server;
    //! # Ok(()) }
    //! ```
    //!
    //! A requirement of one method only is checked in its handler. Build
    //! the refusal from an [`AuthError`](crate::AuthError) to answer as the
    //! layer does: [`grpc_code`](crate::AuthError::grpc_code),
    //! [`grpc_message`](crate::AuthError::grpc_message) and, where the layer
    //! sends one, the [`challenge`](crate::AuthError::challenge).
    //!
    //! ```
    //! use bearer_guard::{AuthError, Claims};
    //!
    //! fn require_scope<T>(request: &tonic::Request<T>, scope: &str) -> Result<(), tonic::Status> {
    //!     let claims = request.extensions().get::<Claims>();
    //!     if claims.is_some_and(|c| c.scopes().contains(scope)) {
    //!         return Ok(());
    //!     }
    //!     Err(refusal(&AuthError::InsufficientScope { required: scope.to_owned() }))
    //! }
    //!
    //! fn refusal(error: &AuthError) -> tonic::Status {
    //!     let code = tonic::Code::from(error.grpc_code());
    //!     let mut status = tonic::Status::new(code, error.grpc_message());
    //!     let challenge = error.challenge(Some("payments"));
    //!     if let Some(Ok(value)) = challenge.map(|c| c.to_str().unwrap_or_default().parse()) {
    //!         status.metadata_mut().insert("www-authenticate", value);
    //!     }
    //!     status
    //! }
    //!
    //! let status = require_scope(&tonic::Request::new(()), "refund").unwrap_err();
    //! assert_eq!(status.code(), tonic::Code::PermissionDenied);
    //! assert_eq!(
    //!     status.message(),
    //!     "insufficient_scope: The access token lacks the scope this request needs"
    //! );
    //! assert_eq!(
    //!     status.metadata().get("www-authenticate").unwrap(),
    //!     r#"Bearer realm="payments", error="insufficient_scope", error_description="The access token lacks the scope this request needs", scope="refund""#
    //! );
    //! // A role the token lacks: a plain PERMISSION_DENIED, no challenge.
    //! let denied = refusal(&AuthError::Forbidden { requirement: "role admin".into() });
    //! assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    //! assert!(denied.metadata().get("www-authenticate").is_none());
    //! ```
    //!
    //! `examples/grpc.rs` is a complete service with a real tonic client;
    //! `tests/stacks.rs` runs it for each status.
}

pub mod testing {
    //! # Testing with `TestIssuer` (feature `testing`)
    //!
    //! [`TestIssuer`](crate::testing::TestIssuer) generates a key, publishes
    //! its JWKS and mints any token: valid ones, and each way a token can be
    //! wrong. Enable the feature for your tests only:
    //!
    //! ```toml
    //! [dev-dependencies]
    //! bearer-guard = { version = "0.1", features = ["testing"] }
    //! ```
    //!
    //! ```
    //! use axum::{Router, body::Body, routing::get};
    //! use bearer_guard::{BearerLayer, RequireLayer, Requirement};
    //! use bearer_guard::testing::TestIssuer;
    //! use http::{Request, StatusCode};
    //! use tower::ServiceExt;
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let issuer = TestIssuer::new();
    //! let app = Router::new()
    //!     .route("/charge", get(|| async { "charged" }))
    //!     .route_layer(RequireLayer::new(Requirement::scopes_all(["charge:customer"])))
    //!     .layer(BearerLayer::new(issuer.validator()));
    //!
    //! let call = |token: String| {
    //!     let app = app.clone();
    //!     async move {
    //!         let req = Request::get("/charge")
    //!             .header("authorization", format!("Bearer {token}"))
    //!             .body(Body::empty())
    //!             .unwrap();
    //!         app.oneshot(req).await.unwrap().status()
    //!     }
    //! };
    //! assert_eq!(call(issuer.token().scope("charge:customer").sign()).await, StatusCode::OK);
    //! assert_eq!(call(issuer.token().scope("read").sign()).await, StatusCode::FORBIDDEN);
    //! assert_eq!(call(issuer.token().expires_in(-3600).sign()).await, StatusCode::UNAUTHORIZED);
    //! assert_eq!(call(issuer.token().audience("other").sign()).await, StatusCode::UNAUTHORIZED);
    //! # Ok(()) }
    //! ```
    //!
    //! ## Configured as in production: the served issuer
    //!
    //! When what you test is the configuration itself (discovery,
    //! introspection of opaque tokens, a calling service's token source),
    //! [`serve`](crate::testing::TestIssuer::serve) the issuer: a
    //! [`TestAuthorizationServer`](crate::testing::TestAuthorizationServer)
    //! on 127.0.0.1 with the discovery document, the JWKS, a
    //! client-credentials token endpoint and introspection, whose switches
    //! rotate keys, make an endpoint fail, and count what each received.
    //!
    //! ```
    //! use bearer_guard::introspection::ClientAuth;
    //! use bearer_guard::testing::{ClientRegistration, Endpoint, Failure, TestIssuer};
    //!
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let server = TestIssuer::new().default_audience("payments").serve().await;
    //! // The issuer URL and discovery, as production has them.
    //! let validator = server
    //!     .validator_builder()
    //!     .audience("payments")
    //!     .introspection(server.introspection())
    //!     .build_and_fetch()
    //!     .await?;
    //! assert!(validator.validate(&server.token().sign()).await.is_ok());
    //! let opaque = server.opaque_token(server.token().scope("read"));
    //! assert!(validator.validate(&opaque).await.is_ok());
    //!
    //! // A calling service's token source (feature `client`).
    //! server.register_client(ClientRegistration::new("orders", "s3cret").scopes(["charge"]));
    //! let source = server
    //!     .token_source(ClientAuth::basic("orders", "s3cret"))
    //!     .resource("payments")
    //!     .build()?;
    //! assert!(validator.validate(source.token().await?.secret()).await.is_ok());
    //!
    //! // The key server down: the last good keys keep serving.
    //! server.fail(Endpoint::Jwks, Failure::Status(500));
    //! let error = validator.refresh_keys().await.unwrap_err();
    //! assert_eq!(error.status(), Some(500));
    //! assert!(validator.validate(&server.token().sign()).await.is_ok());
    //! # Ok(()) }
    //! ```
    //!
    //! For rotations, give the issuer a [`ManualClock`](crate::testing::ManualClock)
    //! and step it past the validator's unknown-`kid` cool-down (see
    //! [`replace_signing_key`](crate::testing::TestAuthorizationServer::replace_signing_key));
    //! for DPoP, [`DpopKey`](crate::testing::DpopKey).
}

pub mod providers {
    //! # Providers
    //!
    //! Each provider's issuer, keys, audience and where it puts scopes and
    //! roles, with its traps, is in `docs/providers.md` in the repository.
    //! The settings, compiled:
    //!
    //! ```
    //! use bearer_guard::{Issuer, Validator, claims::RoleSource};
    //! # #[tokio::main(flavor = "current_thread")]
    //! # async fn main() -> Result<(), bearer_guard::BuildError> {
    //! // Keycloak: realm and client roles.
    //! let keycloak = Validator::builder()
    //!     .issuer("https://sso.example.com/realms/acme")
    //!     .audience("orders-api")
    //!     .discover()
    //!     .roles_from(RoleSource::KeycloakRealm)
    //!     .roles_from(RoleSource::KeycloakClient("orders-api".into()))
    //!     .build()?;
    //! // Auth0: the issuer ends with a slash; permissions with RBAC.
    //! let auth0 = Validator::builder()
    //!     .issuer("https://my-tenant.us.auth0.com/")
    //!     .audience("https://api.example.com/orders")
    //!     .discover()
    //!     .permissions_from(RoleSource::Claim("permissions".into()))
    //!     .build()?;
    //! // Entra ID, every tenant of an allow-list (v2.0 tokens).
    //! let entra = Validator::builder()
    //!     .trust(
    //!         Issuer::tenant_template("https://login.microsoftonline.com/{tenant}/v2.0")
    //!             .tenants(["72f988bf-86f1-41af-91ab-2d7cd011db47"])
    //!             .audience("api://orders")
    //!             .discover(),
    //!     )
    //!     .build()?;
    //! // AWS Cognito: no `aud` in access tokens; the client id instead.
    //! let cognito = Validator::builder()
    //!     .issuer("https://cognito-idp.us-west-2.amazonaws.com/us-west-2_aBcDeFgHi")
    //!     .allowed_client_ids(["57cbishk4j24pabc1234567890"])
    //!     .require_claim_equals("token_use", "access")
    //!     .roles_from(RoleSource::CognitoGroups)
    //!     .discover()
    //!     .build()?;
    //! # let _ = (keycloak, auth0, entra, cognito);
    //! # Ok(()) }
    //! ```
}

pub mod operations {
    //! # Operations
    //!
    //! - **Metrics** (feature `metrics`): counters and histograms through
    //!   the `metrics` facade; install the recorder you use (Prometheus,
    //!   OpenTelemetry). The names and labels are listed below.
    //!   `examples/resource_server` serves them at `GET /metrics`.
    //! - **Traces**: one `bearer_guard.validate` span per validation that
    //!   is not a cache hit, at `debug`, with `source`, `issuer`, `outcome`
    //!   and `token` (the first 8 hex digits of the token's SHA-256, never
    //!   the token); cache hits at `trace`; key fetches and rotations at
    //!   `info`, failures at `warn`. At `info`, validations log nothing.
    //! - **Health**: [`Validator::health`](crate::Validator::health) for a
    //!   readiness probe: `ready`, `degraded` (refreshes failing, last good
    //!   keys serving; or one of several issuers without keys), `not_ready`.
    //! - **The authorization server failing**: whatever goes wrong fetching
    //!   its metadata or keys, or calling its introspection or token
    //!   endpoint, is one [`jwks::RemoteError`](crate::jwks::RemoteError)
    //!   (from [`Validator::ready`](crate::Validator::ready), in each key
    //!   set's `last_error`, inside `IntrospectionError::Fetch`), asked
    //!   rather than matched: `is_timeout()`, `is_connect()`, `status()`,
    //!   `is_discovery()`, `is_issuer_mismatch()`, `url()`. Its message
    //!   names the endpoint without the credentials its URL may hold.
    //! - **Configuration**: [`config::Config`](crate::config) (feature
    //!   `config`) from a TOML, JSON or YAML file, or the environment.
    //! - **The diagnostic command** (its own package, `cli/`): `cargo
    //!   install bearer-guard-cli`, then `bearer-guard inspect TOKEN` and
    //!   `bearer-guard verify --issuer URL --audience A --discover TOKEN`.
    //!
    //! ```
    //! # use bearer_guard::testing::TestIssuer;
    //! use bearer_guard::health::HealthStatus;
    //! # let validator = TestIssuer::new().validator();
    //! // A readiness probe.
    //! let health = validator.health();
    //! let status = health.http_status(); // 200 ready or degraded, 503 not ready
    //! let body = serde_json::to_string(&health).unwrap();
    //! assert_eq!(health.status, HealthStatus::Ready);
    //! # let _ = (status, body);
    //! ```
    //!
    //! ## Metrics
    //!
    //! | metric | kind | labels |
    //! |---|---|---|
    //! | `bearer_guard_requests_total` | counter | `outcome` (`allowed`, `anonymous`, `denied`), `reason` (`ok`, or [`AuthError::kind`](crate::AuthError::kind): `missing_token`, `expired`, `insufficient_scope`, …); counted once, by the outermost `BearerLayer` (a refusal from inside it, by a `RequireLayer` or an inner layer, with that refusal's reason) |
    //! | `bearer_guard_validations_total` | counter | `source` (`cache`, `jwt`, `introspection`, `dpop`: a DPoP request counts its token and its proof), `result` (`valid` or [`ValidationError::kind`](crate::ValidationError::kind)) |
    //! | `bearer_guard_validation_duration_seconds` | histogram | `source` (validations that were not cache hits) |
    //! | `bearer_guard_token_cache_lookups_total` | counter | `result` (`hit`, `miss`) |
    //! | `bearer_guard_jwks_fetches_total` | counter | `url` (the JWKS URL without user information or query, or the issuer while discovery has not found it), `outcome` (`updated`, `not_modified`, `error`) |
    //! | `bearer_guard_jwks_last_success_timestamp_seconds` | gauge | `url`: the key set's age is `time() -` this |
    //! | `bearer_guard_jwks_age_seconds` | gauge | `url`: seconds since the server last confirmed the key set, set after each fetch attempt (so it grows while refreshes fail) |
    //! | `bearer_guard_jwks_keys` | gauge | `url`: keys verifying with this source (configured ones beside it included), after each fetch; after a failed refresh past `max_stale`, the configured ones only (usually 0) |
    //! | `bearer_guard_introspection_requests_total` | counter | `outcome` (`active`, `inactive`, `not_an_access_token`, `refused_claims`, `error`; `overloaded`: not sent, too many calls in flight) |
    //! | `bearer_guard_introspection_cache_lookups_total` | counter | `result` (`hit`, also for a request that joined a call in flight; `shared_hit`, the fleet's Redis; `miss`) |
    //! | `bearer_guard_dpop_replays_total` | counter | none |
    //!
    //! Through the layer, a request whose token was a valid cache hit counts
    //! that hit (`token_cache_lookups_total`, `validations_total`) with its
    //! outcome, once the inner service answers (or when the request is
    //! dropped unanswered): one look at the recorder a request. The three
    //! counts of such a request use counter handles kept per thread from
    //! the global recorder, asked for again every half second (so a metric
    //! dropped as idle, with metrics-exporter-prometheus's `idle_timeout`,
    //! comes back); a thread-local recorder is asked on every count, as the
    //! macros do.
    //!
    //! Label values come from fixed sets or from the configuration (JWKS
    //! URLs, never their user information or query), never from a token;
    //! with a multi-tenant template that discovers each tenant's keys, a
    //! tenant's fetches count under the template (`…/{tenant}/…`) until one
    //! of its tokens verifies, and under its own JWKS URL after: at most
    //! `max_tenants` series plus one per template.
    //!
    //! The duration histogram is whatever the recorder makes of a
    //! histogram: the Prometheus exporter renders a *summary* (quantiles
    //! over a window, which cannot be aggregated across replicas) unless
    //! you give it buckets. A validation that is not a cache hit takes
    //! tens of microseconds (a signature) to a network round trip
    //! (introspection, keys on demand), so set buckets that span both:
    //!
    //! ```
    //! use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
    //! let builder = PrometheusBuilder::new().set_buckets_for_metric(
    //!     Matcher::Full("bearer_guard_validation_duration_seconds".into()),
    //!     &[0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025, 0.1, 0.5, 2.0],
    //! )?;
    //! # let _ = builder;
    //! # Ok::<(), metrics_exporter_prometheus::BuildError>(())
    //! ```
}

pub mod policy {
    //! # Every rule on every path
    //!
    //! A token reaches [`Claims`](crate::Claims) by one of these paths: a
    //! JWT verified now; a JWT answered from the verified-token cache; an
    //! RFC 7662 introspection answer (from the endpoint, from the
    //! in-process cache, or from the fleet's Redis, written by a replica
    //! whose rules may differ); a DPoP- or certificate-bound token on any
    //! of these; a tenant of a [tenant template](crate::Issuer::tenant_template).
    //! Every rule you configure holds on each of them, as this table says;
    //! `tests/policy.rs` walks it, and fails for a setting that has no row.
    //!
    //! Caches never carry a verdict across rules: the verified-token cache
    //! and the in-process introspection cache belong to one validator (its
    //! rules never change), and an answer read from Redis is read again
    //! with this validator's rules. Time rules are checked again on every
    //! hit.
    //!
    //! | setting | JWT (and its cache hits) | introspection answer (live, cached, from Redis) |
    //! |---|---|---|
    //! | `issuer`, `trust` | `iss` required, exactly one of the issuers; the issuer's own keys only; a cache hit only while the verifying key is still published | `iss` checked where present (absent: the configured endpoint speaks for the first issuer) |
    //! | `tenant_template`, `tenant_claim`, `tenants`, `max_tenants`, `also` | `iss` fits the template, the tenant claim confirms it, within the allow-list or the cap; the tenant's own keys | not used: answers are judged with the first exact issuer's rules |
    //! | `audience` | `aud` required, one of them | `aud` required, one of them, unless [`Introspection::may_omit`](crate::introspection::Introspection::may_omit)`("aud")`; checked where present |
    //! | `allowed_client_ids` | `client_id` required, one of them | the same, unless `may_omit("client_id")` |
    //! | `require_claim`, `rfc9068_profile` (`sub`, `client_id`, `iat`, `jti`) | present, not `null` | the same, unless `may_omit(name)` |
    //! | `require_claim_equals` | present with the value | the same; absent only with `may_omit(name)` |
    //! | `typ_policy`, `rfc9068_profile` (`at+jwt`) | the header's `typ` | no header: `token_type`, when present, must be an access token (`Bearer`, `DPoP`, `access_token`) |
    //! | `algorithms` | the header's `alg`, and the key's | no signature to check |
    //! | `leeway`, `clock` | `exp` required; `exp`, `nbf`, `iat` against the clock with the leeway, again on every cache hit | `exp`, `nbf`, `iat` checked where present, again on every cache hit; without `exp`, cached for `max_ttl` at most |
    //! | `roles_from`, `permissions_from` | a source you set is strict: a value of the wrong shape refuses the token | the same |
    //! | `max_token_size` | before anything is decoded | before anything is sent |
    //! | `dpop` (`DpopOptions`) | a `cnf.jkt`-bound token needs its proof, every time (the proof is never cached); `required` refuses `Bearer` | the same; `token_type: DPoP` needs `cnf.jkt` |
    //! | certificate binding (`cnf.x5t#S256`) | the request's certificate, every time | the same |
    //! | `token_cache_capacity` | the cache-hit path itself (0: none) | its own cache ([`IntrospectionOptions`](crate::introspection::IntrospectionOptions)) |
    //!
    //! `may_omit` exists because RFC 7662 §2.2 makes every member of an
    //! answer optional, and some servers restrict answers per resource
    //! themselves; the default refuses an answer that lacks what a JWT
    //! would need, since an answer without `aud` may be about a token
    //! issued for another resource of the same server.
}

#[cfg(all(feature = "mcp", feature = "client"))]
pub mod mcp {
    //! # MCP servers and clients
    //!
    //! An MCP server reached over Streamable HTTP is an OAuth 2.1 resource
    //! server (MCP specification, "Authorization", revisions 2025-11-25
    //! and 2026-07-28). The runnable versions of this page are
    //! `examples/mcp_server.rs` (rmcp behind the layers below) and
    //! `examples/mcp_client.rs` (rmcp's client finding its own way in);
    //! `docs/mcp.md` digests the specification's text.
    //!
    //! ## What the specification asks of a server, and where it is done
    //!
    //! | the specification | bearer-guard |
    //! |---|---|
    //! | 401 with `WWW-Authenticate: Bearer resource_metadata="…"` | [`BearerLayer::resource_metadata`](crate::BearerLayer::resource_metadata) |
    //! | the 401's `scope="…"` (scope selection strategy) | the metadata's `scopes_supported` (without `offline_access`); a token-less `tools/call` behind [`allow_anonymous`](crate::BearerLayer::allow_anonymous): the tool's scopes |
    //! | RFC 9728 metadata at the path-suffixed and root well-known URLs, without a token, naming at least one authorization server | [`ResourceMetadata`](crate::metadata::ResourceMetadata) and its [`paths`](crate::metadata::ResourceMetadata::paths), served outside the layer |
    //! | tokens only for this server: `aud` is its canonical URI (RFC 8707) | [`ValidatorBuilder::audience`](crate::ValidatorBuilder::audience) with the URL published as `resource` |
    //! | 403 `insufficient_scope` with every scope the operation needs, in one challenge | [`RequireToolLayer`](crate::mcp::RequireToolLayer) and [`McpPolicy`](crate::mcp::McpPolicy): the tool is read from the JSON-RPC body |
    //! | `Mcp-Method` / `Mcp-Name` that disagree with the body: 400 `-32020` | [`RequireToolLayer`](crate::mcp::RequireToolLayer), deciding on the body always |
    //! | no token passthrough: upstream APIs get a token of their own | [`TokenSource`](crate::client::TokenSource) for the upstream API; the layer never forwards `Authorization` |
    //! | `Origin` checked, allowed hosts | rmcp's `StreamableHttpServerConfig` (`with_allowed_hosts`: add the public host) |
    //!
    //! ## Protecting an rmcp server
    //!
    //! The MCP service (rmcp's `StreamableHttpService`, a tower service)
    //! is mounted at `/mcp`; [`RequireToolLayer`](crate::mcp::RequireToolLayer)
    //! goes inside [`BearerLayer`](crate::BearerLayer); the metadata is
    //! served after the layer, so it needs no token. Here an echo stands
    //! in for rmcp:
    //!
    //! ```
    //! use axum::{Router, routing::post};
    //! use bearer_guard::mcp::{McpPolicy, RequireToolLayer};
    //! use bearer_guard::metadata::ResourceMetadata;
    //! use bearer_guard::{BearerLayer, Requirement, Validator};
    //!
    //! # fn main() -> Result<(), Box<dyn std::error::Error>> {
    //! let resource = "https://mcp.example.com/mcp";        // the canonical URI
    //! let validator = Validator::builder()
    //!     .issuer("https://auth.example.com")               // the authorization server
    //!     .audience(resource)                               // tokens for this server only
    //! #   .jwks_json(bearer_guard::testing::TestIssuer::new().jwks_json())
    //!     .build()?;
    //! let metadata = ResourceMetadata::new(resource, &validator)
    //!     .scopes_supported(["payments:read"]);             // what a client asks for first
    //! let policy = McpPolicy::new()
    //!     .tool("get_balance", Requirement::scopes_all(["payments:read"]))
    //!     .tool("charge", Requirement::scopes_all(["payments:write"]));
    //! let mut app = Router::new()
    //!     .route("/mcp", post(|body: String| async move { body })) // rmcp: .nest_service("/mcp", service)
    //!     .layer(RequireToolLayer::new(policy))
    //!     .layer(BearerLayer::new(validator).resource_metadata(&metadata));
    //! for path in metadata.paths() {
    //!     let document = metadata.clone();
    //!     app = app.route(&path, axum::routing::get(move || async move { document }));
    //! }
    //! # let _: Router = app;
    //! # Ok(()) }
    //! ```
    //!
    //! A tool handler reads the verified claims from the request parts
    //! rmcp hands it: `Extension(parts): Extension<http::request::Parts>`,
    //! then `parts.extensions.get::<bearer_guard::Claims>()`.
    //!
    //! ## Per-tool scopes
    //!
    //! A tool, prompt or resource is named in the body (`tools/call`
    //! `params.name`, `prompts/get`, `resources/read` `params.uri`, and
    //! where `completion/complete` and subscriptions name them), so a route
    //! requirement cannot see it. The policy maps each to a
    //! [`Requirement`](crate::Requirement) (scopes, roles, predicates,
    //! trees of them); a method rule (`tools/list`, say) applies beside.
    //! A call without its scopes answers `403` with
    //! `error="insufficient_scope", scope="…"` naming every scope the call
    //! needs (for a batch of an older revision, every message's): the
    //! client asks for the union of what it had and that, and sends again.
    //! Scope hierarchies ("a broader scope implies narrower ones", which the
    //! 2026-07-28 revision requires servers to honour) are written as
    //! alternatives: `Requirement::scopes_any(["files:write", "files:admin"])`.
    //! Tools without a rule are refused (plain `403`) unless
    //! [`allow_unknown_tools`](crate::mcp::McpPolicy::allow_unknown_tools).
    //!
    //! The body is read once, bounded ([`max_body`](crate::mcp::McpPolicy::max_body),
    //! 4 MiB: `413`; [`body_timeout`](crate::mcp::McpPolicy::body_timeout),
    //! 10 s: `408`), must be strict JSON (a member twice is `400` `-32700`:
    //! two parsers could read it differently), and reaches the server
    //! unchanged. The decision is taken on the body: the mirrored headers
    //! of 2026-07-28 can refuse a request, never grant one.
    //!
    //! ## The client side
    //!
    //! [`ResourceClient`](crate::client::ResourceClient) is an MCP client
    //! acting on its own behalf (client credentials, the MCP extension
    //! SEP-1046), knowing only the server's URL and its credentials:
    //!
    //! 1. a 401's `resource_metadata` (or the well-known URLs: with the
    //!    endpoint's path, then the root) gives the resource's metadata; its
    //!    `resource` must be the URL called (RFC 9728 §3.3), whoever served
    //!    it, or nothing in it is used;
    //! 2. the authorization server is the one the credentials belong to
    //!    ([`issuer`](crate::client::ResourceClientBuilder::issuer), which
    //!    must be listed) or the first listed, to which the credentials then
    //!    stay bound; its metadata is read at the
    //!    URLs MCP lists, in MCP's order, and its `issuer` must match;
    //! 3. the token request names the resource (RFC 8707) and the scopes of
    //!    the 401 (or `scopes_supported`), within what the client may ask
    //!    for; a `private_key_jwt` assertion names the server's issuer;
    //! 4. after a 403 `insufficient_scope`, [`challenged`](crate::client::ResourceClient::challenged)
    //!    asks for the union (of the scopes it may ask for); a refused fresh
    //!    token, or a step-up that changes nothing, is an error rather than
    //!    a loop; a 401 that re-points to metadata of the same resource and
    //!    server keeps the token source and its renewal limits.
    //!
    //! `examples/mcp_client.rs` plugs it into rmcp's `StreamableHttpClient`
    //! and passes the MCP conformance suite's client-credentials scenarios.
}
