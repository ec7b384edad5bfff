//! Resource bounds under attack: 100,000 garbage tokens, 100,000 unknown
//! `kid`s, 100,000 opaque tokens against a slow introspection endpoint. Each
//! test checks that caches stay at their caps, outbound calls stay bounded,
//! no task or connection is left behind, and valid tokens keep passing.

mod common;

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{
    BearerLayer, Claims, Validator,
    introspection::{ClientAuth, Introspection, IntrospectionOptions},
    jwks::JwksOptions,
    keys::Algorithm,
    testing::ManualClock,
};
use common::as_server::{AsServer, CLIENT_ID, CLIENT_SECRET, IntroMode};
use http::{Request, StatusCode, header::AUTHORIZATION};
use tower::ServiceExt;

const AUDIENCE: &str = "payments";
const T0: i64 = 2_000_000_000;
const FLOOD: usize = 100_000;

/// These tests count the process's file descriptors and tasks: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// No leak: after a flood of 100,000 requests, tasks and file descriptors
/// are back near where they were (a connection or two may come or go).
fn assert_no_leak(tasks: usize, fds: usize, fd_slack: usize) {
    assert!(
        alive_tasks() <= tasks + 4,
        "{} tasks, were {tasks}",
        alive_tasks()
    );
    assert!(
        open_fds() <= fds + fd_slack,
        "{} fds, were {fds}",
        open_fds()
    );
}

fn app(validator: Validator) -> Router {
    Router::new()
        .route(
            "/me",
            get(|c: Claims| async move { c.subject().unwrap_or("?").to_owned() }),
        )
        .layer(BearerLayer::new(validator))
}

async fn status(app: &Router, token: &str) -> StatusCode {
    let req = Request::builder()
        .uri("/me")
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    app.clone().oneshot(req).await.expect("response").status()
}

/// Runs `tokens` through the router, `batch` at a time concurrently, and
/// returns how many answers had each status.
async fn flood(
    app: &Router,
    tokens: impl Iterator<Item = String>,
    batch: usize,
) -> Vec<(StatusCode, usize)> {
    let mut counts: Vec<(StatusCode, usize)> = Vec::new();
    let mut tokens = tokens.peekable();
    while tokens.peek().is_some() {
        let mut set = tokio::task::JoinSet::new();
        for token in tokens.by_ref().take(batch) {
            let app = app.clone();
            set.spawn(async move { status(&app, &token).await });
        }
        while let Some(s) = set.join_next().await {
            let s = s.expect("task");
            match counts.iter_mut().find(|(k, _)| *k == s) {
                Some((_, n)) => *n += 1,
                None => counts.push((s, 1)),
            }
        }
    }
    counts
}

/// A cheap pseudo-random sequence (no `rand` dependency needed).
fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

fn garbage(i: usize, seed: &mut u64) -> String {
    let r = xorshift(seed);
    let segment = |n: u64| B64.encode(n.to_le_bytes().repeat(1 + (n % 5) as usize));
    match i % 5 {
        0 => format!("{}.{}.{}", segment(r), segment(r >> 3), segment(r >> 7)),
        1 => format!("eyJhbGciOiJSUzI1NiJ9.{}.{}", segment(r), segment(r >> 1)),
        2 => segment(r),
        3 => format!(
            "{}.{}.{}.{}.{}",
            segment(r),
            segment(r),
            segment(r),
            segment(r),
            segment(r)
        ),
        _ => format!(
            "{}.{}.{}",
            B64.encode(format!(r#"{{"alg":"ES256","kid":"k{r}"}}"#)),
            segment(r),
            B64.encode([1u8; 64])
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_garbage_tokens_leave_nothing_behind() {
    let _serial = SERIAL.lock().await;
    let issuer = common::issuer();
    let validator = issuer.validator();
    let app = app(validator.clone());
    let good = issuer.token().sign();
    assert_eq!(status(&app, &good).await, StatusCode::OK);
    let (fds, tasks) = (open_fds(), alive_tasks());

    let mut seed = 0x9E37_79B9_7F4A_7C15;
    let tokens: Vec<String> = (0..FLOOD).map(|i| garbage(i, &mut seed)).collect();
    let counts = flood(&app, tokens.into_iter(), 1000).await;
    assert_eq!(counts, vec![(StatusCode::UNAUTHORIZED, FLOOD)]);

    // Nothing was cached but the one good token; it still passes.
    assert_eq!(validator.token_cache_len(), Some(1));
    assert_eq!(status(&app, &good).await, StatusCode::OK);
    assert_no_leak(tasks, fds, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_random_kids_cost_one_fetch_per_cooldown() {
    let _serial = SERIAL.lock().await;
    let clock = ManualClock::new(T0);
    let issuer = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256).with_kid("real")])
        .default_audience(AUDIENCE)
        .clock(clock.clone());
    let server = AsServer::start(issuer.jwks_json()).await;
    let validator = Validator::builder()
        .issuer(issuer.issuer())
        .audience(AUDIENCE)
        .clock(clock.clone())
        .allow_insecure_http()
        .jwks_url(server.jwks_url())
        .jwks_options(JwksOptions::default().fetch_timeout(Duration::from_secs(2)))
        .build_and_fetch()
        .await
        .unwrap();
    let app = app(validator.clone());
    let good = issuer.token().expires_in(3600).sign();
    assert_eq!(status(&app, &good).await, StatusCode::OK);
    let (fds, tasks) = (open_fds(), alive_tasks());

    // 100,000 tokens with random kids, over five simulated minutes.
    let header = |kid: u64| B64.encode(format!(r#"{{"alg":"ES256","kid":"{kid:x}"}}"#));
    let body = B64.encode(b"{}");
    let sig = B64.encode([7u8; 64]);
    let mut seed = 42;
    for minute_tenth in 0..50 {
        let tokens: Vec<String> = (0..FLOOD / 50)
            .map(|_| format!("{}.{body}.{sig}", header(xorshift(&mut seed))))
            .collect();
        let counts = flood(&app, tokens.into_iter(), 500).await;
        assert_eq!(
            counts,
            vec![(StatusCode::UNAUTHORIZED, FLOOD / 50)],
            "{minute_tenth}"
        );
        assert_eq!(status(&app, &good).await, StatusCode::OK);
        clock.advance(6);
    }
    // One fetch at start-up, then at most one per 30 s cool-down in 300 s.
    let hits = server.jwks_hits();
    eprintln!("100,000 random kids over 300 s: {hits} JWKS fetches");
    assert!((2..=1 + 10).contains(&hits), "{hits} JWKS fetches");
    assert_eq!(validator.remote_keys()[0].stats().keys, 1);
    assert_eq!(validator.token_cache_len(), Some(1));
    assert_no_leak(tasks, fds, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_opaque_tokens_against_a_slow_endpoint_stay_bounded() {
    let _serial = SERIAL.lock().await;
    let clock = ManualClock::new(T0);
    let issuer = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256)])
        .default_audience(AUDIENCE)
        .clock(clock.clone());
    let server = AsServer::start(issuer.jwks_json()).await;
    let validator = issuer
        .validator_builder()
        .audience(AUDIENCE)
        .allow_insecure_http()
        .introspection(
            Introspection::at(
                server.introspection_url(),
                ClientAuth::basic(CLIENT_ID, CLIENT_SECRET),
            )
            .options(
                IntrospectionOptions::default()
                    .timeout(Duration::from_millis(100))
                    .capacity(1000),
            ),
        )
        .build()
        .unwrap();
    let app = app(validator.clone());
    let jwt = issuer.token().sign();
    server.answer(
        "cached-opaque",
        serde_json::json!({"active": true, "aud": AUDIENCE, "sub": "o", "exp": T0 + 3600}),
    );
    assert_eq!(status(&app, "cached-opaque").await, StatusCode::OK);
    let (fds, tasks) = (open_fds(), alive_tasks());

    // The endpoint now answers nothing within the timeout.
    server.set_intro_mode(IntroMode::Gated);
    let tokens = (0..FLOOD).map(|i| format!("opaque-{i}"));
    let started = std::time::Instant::now();
    let counts = flood(&app, tokens, 2000).await;
    let elapsed = started.elapsed();
    assert_eq!(counts, vec![(StatusCode::SERVICE_UNAVAILABLE, FLOOD)]);
    // Never more calls in flight than max_concurrent (64 by default), so at
    // most 64 calls per 100 ms timeout; every other request was answered 503
    // at once. (The server may still hold a few abandoned calls when new
    // ones arrive.)
    let stats = validator.introspection_stats().await.unwrap();
    assert!(stats.max_in_flight <= 64, "{stats:?}");
    assert!(
        server.intro_peak() <= 2 * 64,
        "peak {}",
        server.intro_peak()
    );
    let windows = elapsed.as_millis() as u64 / 100 + 1;
    assert!(stats.calls - 1 <= 64 * windows, "{stats:?} in {elapsed:?}");
    assert_eq!(stats.calls + stats.overloaded, FLOOD as u64 + 1);
    // The cache stays at its cap.
    assert!(stats.cached <= 1000, "{stats:?}");
    // Valid tokens kept working throughout.
    assert_eq!(status(&app, &jwt).await, StatusCode::OK);
    assert_eq!(status(&app, "cached-opaque").await, StatusCode::OK);
    // Let the abandoned calls finish on the server side, then count.
    server.open_gate();
    server.wait_for_intro_idle().await;
    assert_no_leak(tasks, fds, 8);
}
