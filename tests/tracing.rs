//! One `bearer_guard.validate` span per validation, at `debug`, with the
//! outcome, the issuer and a short token hash, never the token; nothing at
//! `info`; failures a stranger's request can cause said at `warn` at most
//! once a minute. One test in its own binary: the subscriber is global (a
//! thread-local one races with the callsite interest other threads cache).

mod common;

use std::sync::{Arc, Mutex};

use bearer_guard::testing::TestIssuer;

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn each_validation_has_a_debug_span_with_outcome_issuer_and_a_short_hash_never_the_token_and_nothing_at_info()
 {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(captured.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let issuer = TestIssuer::new();
    let validator = issuer.validator();
    let good = issuer.token().sign();
    let bad = issuer.token().audience("someone-else").sign();
    validator.validate(&good).await.unwrap();
    validator.validate(&bad).await.unwrap_err();
    validator.validate("not.a.token").await.unwrap_err();

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let short = |token: &str| {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        digest.as_ref()[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let accepted = text
        .lines()
        .find(|l| l.contains("token accepted"))
        .expect(&text);
    assert!(accepted.contains("bearer_guard.validate"), "{accepted}");
    assert!(
        accepted.contains(&format!("token={}", short(&good))),
        "{accepted}"
    );
    assert!(
        accepted.contains("outcome=\"valid\"") || accepted.contains("outcome=valid"),
        "{accepted}"
    );
    assert!(accepted.contains(issuer.issuer()), "{accepted}");
    let refused = text
        .lines()
        .find(|l| l.contains("token refused"))
        .expect(&text);
    assert!(
        refused.contains(&format!("token={}", short(&bad))),
        "{refused}"
    );
    assert!(refused.contains("invalid_audience"), "{refused}");
    for token in [&good, &bad] {
        for part in token.split('.') {
            assert!(!text.contains(part), "a token part was logged: {text}");
        }
    }
    // Validations log at debug and below only.
    for line in text.lines() {
        assert!(
            line.contains(" DEBUG ") || line.contains(" TRACE "),
            "a validation logged above debug: {line}"
        );
    }

    // A stranger's token naming a tenant of a discovering template that no
    // token verified for: its discovery and key fetch (a Keycloak-like
    // realm, whose encryption key is skipped) say nothing above debug.
    captured.0.lock().unwrap().clear();
    let sig = bearer_guard::testing::TestKey::generate(bearer_guard::keys::Algorithm::ES256)
        .with_kid("sig");
    let mut enc = bearer_guard::testing::TestKey::generate(bearer_guard::keys::Algorithm::RS256)
        .with_kid("enc")
        .public_jwk()
        .unwrap();
    enc["use"] = serde_json::json!("enc");
    let doc = serde_json::json!({ "keys": [sig.public_jwk().unwrap(), enc] }).to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let realms = axum::Router::new()
        .route(
            "/realms/{tenant}/.well-known/openid-configuration",
            axum::routing::get(
                move |axum::extract::Path(tenant): axum::extract::Path<String>| async move {
                    axum::Json(serde_json::json!({
                        "issuer": format!("http://{addr}/realms/{tenant}"),
                        "jwks_uri": format!("http://{addr}/realms/{tenant}/certs"),
                    }))
                },
            ),
        )
        .route(
            "/realms/{tenant}/certs",
            axum::routing::get(move || std::future::ready(doc.clone())),
        );
    tokio::spawn(async move { axum::serve(listener, realms).await });
    let template = format!("http://{addr}/realms/{{tenant}}");
    let v = bearer_guard::Validator::builder()
        .allow_insecure_http()
        .trust(
            bearer_guard::Issuer::tenant_template(&template)
                .tenant_claim("realm")
                .audience("api")
                .discover(),
        )
        .build()
        .unwrap();
    let stranger = bearer_guard::testing::TestKey::generate(bearer_guard::keys::Algorithm::ES256)
        .with_kid("sig");
    let token = TestIssuer::new()
        .issuer_url(template.replace("{tenant}", "someone-else"))
        .default_audience("api")
        .token()
        .signing_key(&stranger)
        .claim("realm", "someone-else")
        .sign();
    assert!(v.validate(&token).await.is_err());
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for line in text.lines() {
        assert!(
            line.contains(" DEBUG ") || line.contains(" TRACE "),
            "a stranger's made-up tenant logged above debug: {line}"
        );
    }
    assert!(text.contains("JWKS key skipped"), "{text}");

    // While the introspection endpoint fails, made-up opaque tokens (no
    // credentials, each one new) do not each write a line at warn: the
    // first failure is said, the rest within the minute go to debug.
    captured.0.lock().unwrap().clear();
    let s = common::as_server::setup("payments").await;
    s.server
        .set_intro_mode(common::as_server::IntroMode::Status(500));
    let validator = s
        .issuer
        .validator_builder()
        .audience("payments")
        .allow_insecure_http()
        .introspection(bearer_guard::introspection::Introspection::at(
            s.server.introspection_url(),
            bearer_guard::introspection::ClientAuth::basic(
                common::as_server::CLIENT_ID,
                common::as_server::CLIENT_SECRET,
            ),
        ))
        .build()
        .unwrap();
    for i in 0..20 {
        let err = validator
            .validate(&format!("made-up-opaque-{i}"))
            .await
            .unwrap_err();
        assert!(err.is_unavailable(), "{err:?}");
    }
    assert_eq!(s.server.intro_calls(), 20);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let warnings = text.lines().filter(|l| l.contains(" WARN ")).count();
    assert_eq!(
        warnings, 1,
        "warn lines for 20 strangers' requests:\n{text}"
    );
}
