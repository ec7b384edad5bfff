//! What the layer counts, through a thread-local Prometheus recorder (asked
//! the macros' way, so no process-global recorder is needed): nested
//! layers count a request once, a cache hit is counted however the request
//! ends; and the token cache's key of the token's length and tail, and the
//! `Bearer <token>` fast path. (From an attacker's review of the hot path,
//! issue 23: the first four tests failed before their fixes.)

use std::convert::Infallible;
use std::future::Future;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerLayer, RequireLayer, Requirement, Validator};
use http::{Request, Response, StatusCode, header};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower::{Layer, ServiceExt};

/// The value of the Prometheus sample `name` whose labels include `labels`
/// (their sum; 0 when absent).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    crate::common::prometheus_sample(text, name, labels).unwrap_or(0.0)
}

/// `hits` cache hits counted, each a valid cache validation.
fn assert_cache_hits(text: &str, hits: f64) {
    assert_eq!(sample(text, LOOKUPS, &[("result", "hit")]), hits, "{text}");
    let cached = sample(
        text,
        VALIDATIONS,
        &[("source", "cache"), ("result", "valid")],
    );
    assert_eq!(cached, hits, "{text}");
}

/// Runs `f` on a current-thread runtime inside a thread-local Prometheus
/// recorder (every task runs on this thread), and gives the rendered text.
fn with_recorder<F: Future<Output = ()>>(f: impl FnOnce() -> F) -> String {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle: PrometheusHandle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || runtime.block_on(f()));
    handle.render()
}

const REQUESTS: &str = "bearer_guard_requests_total";
const LOOKUPS: &str = "bearer_guard_token_cache_lookups_total";
const VALIDATIONS: &str = "bearer_guard_validations_total";

fn validator(issuer: &TestIssuer) -> Validator {
    issuer
        .validator_builder()
        .audience(issuer.audience())
        .token_cache_capacity(64)
        .build()
        .unwrap()
}

async fn status(app: &Router, request: Request<Body>) -> StatusCode {
    app.clone().oneshot(request).await.unwrap().status()
}

fn get_with(name: header::HeaderName, value: &str) -> Request<Body> {
    Request::get("/x")
        .header(name, value)
        .body(Body::empty())
        .unwrap()
}

// ------------------------------------------------------------ found by review

/// Nested layers reading the token from different places: one lets
/// token-less requests through (`Anonymous`), the other (a part of the app
/// behind a session cookie) reads it from a cookie (`Claims`), in either
/// order. One request, counted once. (It was counted twice while a layer
/// knew an outer one only by a mark of the same type as its own.)
#[test]
fn nested_layers_reading_different_token_sources_count_one_request() {
    let issuer = TestIssuer::new();
    let token = issuer.token().sign();
    for cookie_inside in [true, false] {
        let text = with_recorder(|| async {
            let cookie = BearerLayer::new(validator(&issuer)).token_cookie("session");
            let anonymous = BearerLayer::new(validator(&issuer)).allow_anonymous();
            let (inner, outer) = if cookie_inside {
                (cookie, anonymous)
            } else {
                (anonymous, cookie)
            };
            let app = Router::new()
                .route("/x", get(|| async { "ok" }))
                .layer(inner)
                .layer(outer);
            let request = get_with(header::COOKIE, &format!("session={token}"));
            assert_eq!(status(&app, request).await, StatusCode::OK);
        });
        assert_eq!(
            sample(&text, REQUESTS, &[]),
            1.0,
            "cookie inside: {cookie_inside}; one request counted more than once:\n{text}"
        );
    }
}

/// A cache hit the layer found is counted with the answer, and also when
/// the request is dropped before one (a timeout around the layer, a client
/// that went away), as a miss is. (It was lost then, skewing the hit
/// ratio and `validations_total`.)
#[test]
fn a_cache_hit_is_counted_when_the_request_is_dropped_before_the_answer() {
    let issuer = TestIssuer::new();
    let token = issuer.token().sign();
    let text = with_recorder(|| async {
        let validator = validator(&issuer);
        assert!(validator.validate(&token).await.is_ok()); // cached: 1 miss
        let never = tower::service_fn(|_req: Request<Body>| async {
            std::future::pending::<Result<Response<Body>, Infallible>>().await
        });
        let service = BearerLayer::new(validator).layer(never);
        let request = get_with(header::AUTHORIZATION, &format!("Bearer {token}"));
        // Polled once (the inner service pending), then dropped before it
        // answers.
        {
            let mut call = std::pin::pin!(service.oneshot(request));
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            assert!(call.as_mut().poll(&mut cx).is_pending());
        }
    });
    assert_eq!(sample(&text, LOOKUPS, &[("result", "miss")]), 1.0, "{text}");
    assert_eq!(
        sample(&text, LOOKUPS, &[("result", "hit")]),
        1.0,
        "the hit was looked up but never counted:\n{text}"
    );
    assert_eq!(
        sample(
            &text,
            VALIDATIONS,
            &[("source", "cache"), ("result", "valid")]
        ),
        1.0,
        "{text}"
    );
}

/// The same when the inner service fails (`Err`, as a tower `Timeout` or a
/// load-shedder inside the layer answers).
#[test]
fn a_cache_hit_is_counted_when_the_inner_service_fails() {
    let issuer = TestIssuer::new();
    let token = issuer.token().sign();
    let text = with_recorder(|| async {
        let validator = validator(&issuer);
        assert!(validator.validate(&token).await.is_ok());
        let failing = tower::service_fn(|_req: Request<Body>| async {
            Err::<Response<Body>, &'static str>("overloaded")
        });
        let service = BearerLayer::new(validator).layer(failing);
        let request = get_with(header::AUTHORIZATION, &format!("Bearer {token}"));
        assert!(service.oneshot(request).await.is_err());
    });
    assert_eq!(
        sample(&text, LOOKUPS, &[("result", "hit")]),
        1.0,
        "the hit was looked up but never counted:\n{text}"
    );
}

// ------------------------------------------------------------ checked

/// Nested layers on one validator, a cached token: one request, a hit at
/// each layer (each looked the token up), all counted once.
#[test]
fn nested_layers_with_a_cached_token_count_once() {
    let issuer = TestIssuer::new();
    let token = issuer.token().scope("a").sign();
    let text = with_recorder(|| async {
        let validator = validator(&issuer);
        assert!(validator.validate(&token).await.is_ok());
        let app = Router::new()
            .route("/x", get(|| async { "ok" }))
            .layer(BearerLayer::new(validator.clone()))
            .layer(BearerLayer::new(validator).allow_anonymous());
        let auth = format!("Bearer {token}");
        assert_eq!(
            status(&app, get_with(header::AUTHORIZATION, &auth)).await,
            StatusCode::OK
        );
        // Anonymous outside, refused inside: one denied request.
        assert_eq!(
            status(&app, Request::get("/x").body(Body::empty()).unwrap()).await,
            StatusCode::UNAUTHORIZED
        );
    });
    assert_eq!(sample(&text, REQUESTS, &[]), 2.0, "{text}");
    assert_eq!(
        sample(&text, REQUESTS, &[("outcome", "allowed"), ("reason", "ok")]),
        1.0,
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            REQUESTS,
            &[("outcome", "denied"), ("reason", "missing_token")]
        ),
        1.0,
        "{text}"
    );
    assert_cache_hits(&text, 2.0);
}

/// Nested layers whose outer one must wait (keys fetched from the network
/// on the first request): the inner one finds the claims the outer one put
/// after waiting, and does not count; a pending validation refused at the
/// outer layer is counted once.
#[test]
fn a_pending_validation_at_the_outer_layer_counts_once() {
    let issuer = TestIssuer::new();
    let token = issuer.token().sign();
    let expired = issuer.token().expires_in(-600).sign();
    let text = with_recorder(|| async {
        let addr = crate::common::serve_jwks(issuer.jwks_json()).await;
        let validator = Validator::builder()
            .issuer(issuer.issuer())
            .audience(issuer.audience())
            .jwks_url(format!("http://{addr}/jwks"))
            .allow_insecure_http()
            .build()
            .unwrap();
        let app = Router::new()
            .route("/x", get(|| async { "ok" }))
            .layer(BearerLayer::new(validator.clone()))
            .layer(BearerLayer::new(validator));
        let auth = |t: &str| get_with(header::AUTHORIZATION, &format!("Bearer {t}"));
        assert_eq!(status(&app, auth(&token)).await, StatusCode::OK);
        assert_eq!(status(&app, auth(&expired)).await, StatusCode::UNAUTHORIZED);
    });
    assert_eq!(sample(&text, REQUESTS, &[]), 2.0, "{text}");
    assert_eq!(
        sample(&text, REQUESTS, &[("outcome", "allowed"), ("reason", "ok")]),
        1.0,
        "{text}"
    );
    // The inner layer's lookup of what the outer one verified.
    assert_eq!(sample(&text, LOOKUPS, &[("result", "hit")]), 1.0, "{text}");
}

/// A cached token refused by a `RequireLayer` inside: one denied request,
/// its hit counted; a cached token refused by the layer's own binding
/// check (certificate-bound, no certificate): the hit counted too.
#[test]
fn a_refusal_after_a_cache_hit_counts_the_hit_and_one_request() {
    let issuer = TestIssuer::new();
    let narrow = issuer.token().scope("read").sign();
    let bound = issuer
        .token()
        .claim(
            "cnf",
            serde_json::json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
        )
        .sign();
    let text = with_recorder(|| async {
        let validator = validator(&issuer);
        assert!(validator.validate(&narrow).await.is_ok());
        // Refused (no certificate) but cached: bindings are checked after.
        assert!(validator.validate(&bound).await.is_err());
        assert_eq!(validator.token_cache_len(), Some(2));
        let app = Router::new()
            .route("/x", get(|| async { "ok" }))
            .route_layer(RequireLayer::new(Requirement::scopes_all(["write"])))
            .layer(BearerLayer::new(validator));
        let auth = |t: &str| get_with(header::AUTHORIZATION, &format!("Bearer {t}"));
        assert_eq!(status(&app, auth(&narrow)).await, StatusCode::FORBIDDEN);
        assert_eq!(status(&app, auth(&bound)).await, StatusCode::UNAUTHORIZED);
    });
    assert_eq!(sample(&text, REQUESTS, &[]), 2.0, "{text}");
    assert_eq!(
        sample(&text, REQUESTS, &[("outcome", "denied")]),
        2.0,
        "{text}"
    );
    assert_cache_hits(&text, 2.0);
}

/// Anonymous through one layer, a token in a cookie (looked up and counted
/// by the validator), the query parameter: each request once, hits once.
#[test]
fn anonymous_cookie_and_query_requests_count_once() {
    let issuer = TestIssuer::new();
    let token = issuer.token().sign();
    let text = with_recorder(|| async {
        let validator = validator(&issuer);
        assert!(validator.validate(&token).await.is_ok());
        let app = Router::new().route("/x", get(|| async { "ok" })).layer(
            BearerLayer::new(validator)
                .allow_anonymous()
                .allow_query_parameter()
                .token_cookie("session"),
        );
        let anonymous = Request::get("/x").body(Body::empty()).unwrap();
        assert_eq!(status(&app, anonymous).await, StatusCode::OK);
        let cookie = get_with(header::COOKIE, &format!("session={token}"));
        assert_eq!(status(&app, cookie).await, StatusCode::OK);
        let query = Request::get(format!("/x?access_token={token}"))
            .body(Body::empty())
            .unwrap();
        assert_eq!(status(&app, query).await, StatusCode::OK);
    });
    assert_eq!(sample(&text, REQUESTS, &[]), 3.0, "{text}");
    assert_eq!(
        sample(
            &text,
            REQUESTS,
            &[("outcome", "anonymous"), ("reason", "ok")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(sample(&text, LOOKUPS, &[("result", "hit")]), 2.0, "{text}");
}

/// Two tokens of the same length and the same last 64 bytes (same key):
/// the forged one (its payload changed, its signature kept) never gets the
/// valid one's claims, and does not evict it.
#[test]
fn tokens_alike_in_length_and_tail_never_share_an_entry() {
    let issuer = TestIssuer::new();
    let token = issuer.token().subject("alice").sign();
    assert!(token.len() > 100);
    let mut forged = token.clone().into_bytes();
    // A byte of the header's base64, far from the last 64 bytes.
    forged[5] = if forged[5] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(forged.len(), token.len());
    assert_eq!(forged[forged.len() - 64..], token[token.len() - 64..]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let validator = validator(&issuer);
        assert!(validator.validate(&token).await.is_ok());
        assert_eq!(validator.token_cache_len(), Some(1));
        assert!(validator.validate(&forged).await.is_err());
        assert_eq!(validator.token_cache_len(), Some(1));
        let claims = validator.validate(&token).await.unwrap();
        assert_eq!(claims.subject(), Some("alice"));
        // Short tokens (< 64 bytes) are keyed whole: refused, no panic.
        for short in ["a", "a.b.c", "x.y", "e30.e30.AAAA"] {
            assert!(validator.validate(short).await.is_err());
        }
    });
}

/// The `Bearer <token>` fast path against a model of the general way
/// (RFC 6750 §2.1 as the crate reads it: trimmed, `Bearer` any case, one
/// or more spaces, a b64token), through the public `bearer_token`.
#[test]
fn the_fast_path_reads_as_the_general_way() {
    use bearer_guard::extract::{bearer_token, is_b64token};
    fn model(value: &[u8]) -> Result<Option<String>, ()> {
        let value = value.trim_ascii();
        let scheme_len = value
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b)))
            .unwrap_or(value.len());
        let (scheme, rest) = value.split_at(scheme_len);
        let dpop = scheme.eq_ignore_ascii_case(b"dpop");
        if !scheme.eq_ignore_ascii_case(b"bearer") && !dpop {
            return Ok(None);
        }
        let spaces = rest.iter().take_while(|b| **b == b' ').count();
        let token = &rest[spaces..];
        if spaces == 0 || token.is_empty() {
            return Err(());
        }
        if dpop {
            return Ok(None);
        }
        match std::str::from_utf8(token) {
            Ok(t) if is_b64token(t) => Ok(Some(t.to_owned())),
            _ => Err(()),
        }
    }
    let mut cases: Vec<Vec<u8>> = Vec::new();
    let fillers: &[&[u8]] = &[
        b"",
        b" ",
        b"  ",
        b"\t",
        b"\x0c",
        b"\x0b",
        b"a",
        b"a b",
        b"a\tb",
        b"=",
        b"a=",
        b"a==",
        b",",
        b"\xc3\xa9",
        b"\x80",
        b"+/~",
        b"a ",
        b" a",
        b"\ta",
        b"a\t",
    ];
    for scheme in [
        &b"Bearer"[..],
        b"bearer",
        b"BEARER",
        b"BeArEr",
        b"Bearerx",
        b"DPoP",
        b"Basic",
    ] {
        for sep in [&b""[..], b" ", b"  ", b"\t", b" \t"] {
            for token in fillers {
                for lead in [&b""[..], b" ", b"\t"] {
                    for trail in [&b""[..], b" ", b"\t", b"\x0c"] {
                        let mut v = lead.to_vec();
                        v.extend_from_slice(scheme);
                        v.extend_from_slice(sep);
                        v.extend_from_slice(token);
                        v.extend_from_slice(trail);
                        cases.push(v);
                    }
                }
            }
        }
    }
    let mut checked = 0;
    for value in cases {
        let Ok(header_value) = http::HeaderValue::from_bytes(&value) else {
            continue;
        };
        let mut headers = http::HeaderMap::new();
        headers.insert(header::AUTHORIZATION, header_value);
        let got = bearer_token(&headers)
            .map(|t| t.map(str::to_owned))
            .map_err(|_| ());
        assert_eq!(got, model(&value), "{:?}", String::from_utf8_lossy(&value));
        checked += 1;
    }
    assert!(checked > 1000, "{checked}");
}
