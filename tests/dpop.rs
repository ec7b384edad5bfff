//! DPoP (RFC 9449) over HTTP: a real axum server on 127.0.0.1, tokens bound
//! to client keys, proofs minted per request; every check of §4.3, the
//! challenges of §7.1, nonces (§9) and the replay cache (§11.1). Also the
//! resource metadata (RFC 9728), step-up (RFC 9470) and certificate-bound
//! tokens (RFC 8705) at the validator.

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use bearer_guard::testing::{DpopKey, TestIssuer};
use bearer_guard::{
    BearerLayer, Claims, RequireLayer, Requirement, ValidationError, Validator,
    dpop::{DpopError, DpopOptions},
    extract::ClientCertificate,
    keys::Algorithm,
    metadata::ResourceMetadata,
};
use common::{issuer, serve};
use reqwest::Method;
use serde_json::{Value, json};

fn validator(options: DpopOptions) -> Validator {
    issuer()
        .validator_builder()
        .audience(common::AUDIENCE)
        .dpop(options)
        .build()
        .unwrap()
}

fn app(layer: BearerLayer) -> Router {
    Router::new()
        .route("/charge", post(|| async { "charged" }))
        .route_layer(RequireLayer::new(Requirement::scopes_all([
            "charge:customer",
        ])))
        .route(
            "/me",
            get(|c: Claims| async move { c.dpop_thumbprint().unwrap_or("unbound").to_owned() }),
        )
        .layer(layer)
}

async fn start(options: DpopOptions) -> SocketAddr {
    // The tests address the server as http://127.0.0.1:PORT, which is
    // what its `Host` says: the explicit opt-in for such set-ups.
    serve(app(BearerLayer::new(validator(options))
        .realm("payments")
        .trust_host_header(http::uri::Scheme::HTTP)))
    .await
}

/// The answer: status, every `WWW-Authenticate` value, the `DPoP-Nonce`
/// header, the body.
struct Answer {
    status: u16,
    challenges: Vec<String>,
    nonce: Option<String>,
    body: String,
}

impl Answer {
    fn challenge(&self, scheme: &str) -> Option<&str> {
        self.challenges
            .iter()
            .find(|c| c.starts_with(&format!("{scheme} ")) || *c == scheme)
            .map(String::as_str)
    }
}

async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    authorization: Option<String>,
    proofs: &[&str],
) -> Answer {
    let mut request = reqwest::Client::new().request(method, format!("http://{addr}{path}"));
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    for p in proofs {
        request = request.header("dpop", *p);
    }
    let r = request.send().await.unwrap();
    let challenges = r
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let nonce = r
        .headers()
        .get("dpop-nonce")
        .map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status: r.status().as_u16(),
        challenges,
        nonce,
        body: r.text().await.unwrap(),
    }
}

async fn dpop_call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    token: &str,
    proof: &str,
) -> Answer {
    send(addr, method, path, Some(format!("DPoP {token}")), &[proof]).await
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

fn assert_proof_refused(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 401, "{what}: {:?}", answer.challenges);
    let dpop = answer
        .challenge("DPoP")
        .unwrap_or_else(|| panic!("{what}: {:?}", answer.challenges));
    assert!(
        dpop.contains("error=\"invalid_dpop_proof\""),
        "{what}: {dpop}"
    );
    // The Bearer challenge stays bare: the error belongs to DPoP.
    let bearer = answer.challenge("Bearer").unwrap();
    assert_eq!(bearer, "Bearer realm=\"payments\"", "{what}");
}

#[tokio::test]
async fn a_bound_token_with_a_valid_proof_is_accepted_for_each_proof_algorithm() {
    let addr = start(DpopOptions::new()).await;
    for alg in [
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::PS256,
        Algorithm::RS256,
        Algorithm::EdDSA,
    ] {
        let client = DpopKey::generate(alg);
        let token = issuer().token().dpop_bound(&client).sign();
        let proof = client.proof("GET", &url(addr, "/me"), &token).sign();
        let a = dpop_call(addr, Method::GET, "/me", &token, &proof).await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (200, client.thumbprint().as_str()),
            "{alg:?}: {:?}",
            a.challenges
        );
        // The same token with a fresh proof works again (the token cache
        // serves the token; the proof is checked anew).
        let proof = client.proof("GET", &url(addr, "/me"), &token).sign();
        assert_eq!(
            dpop_call(addr, Method::GET, "/me", &token, &proof)
                .await
                .status,
            200
        );
    }
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let addr = start(DpopOptions::new()).await;
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let proof = client.proof("GET", &url(addr, "/me"), &token).sign();
    assert_eq!(
        dpop_call(addr, Method::GET, "/me", &token, &proof)
            .await
            .status,
        200
    );
    let again = dpop_call(addr, Method::GET, "/me", &token, &proof).await;
    assert_proof_refused(&again, "replay");
    assert!(again.challenge("DPoP").unwrap().contains("used before"));
}

#[tokio::test]
async fn every_proof_check_of_rfc9449_section_4_3_refuses_a_bad_proof() {
    let addr = start(DpopOptions::new()).await;
    let client = DpopKey::generate(Algorithm::ES256);
    let other = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let me = url(addr, "/me");
    let now = bearer_guard::Clock::System.now();
    let private_jwk = {
        // The public JWK with a private member added.
        let mut jwk = client.public_jwk();
        jwk["d"] = json!("AAAA");
        jwk
    };
    let cases: Vec<(&str, String)> = vec![
        ("not a JWT", "abc.def".into()),
        (
            "wrong typ",
            client.proof("GET", &me, &token).header("typ", "JWT").sign(),
        ),
        (
            "no typ",
            client
                .proof("GET", &me, &token)
                .without_header("typ")
                .sign(),
        ),
        (
            "alg none",
            client
                .proof("GET", &me, &token)
                .header("alg", "none")
                .sign(),
        ),
        (
            "alg HS256",
            client
                .proof("GET", &me, &token)
                .header("alg", "HS256")
                .sign(),
        ),
        (
            "alg of another key type",
            client
                .proof("GET", &me, &token)
                .header("alg", "RS256")
                .sign(),
        ),
        (
            "no jwk",
            client
                .proof("GET", &me, &token)
                .without_header("jwk")
                .sign(),
        ),
        (
            "private jwk",
            client
                .proof("GET", &me, &token)
                .header("jwk", private_jwk)
                .sign(),
        ),
        (
            "jwk of another key",
            client
                .proof("GET", &me, &token)
                .header("jwk", other.public_jwk())
                .sign(),
        ),
        (
            "crit",
            client
                .proof("GET", &me, &token)
                .header("crit", json!(["x"]))
                .header("x", 1)
                .sign(),
        ),
        ("wrong htm", client.proof("POST", &me, &token).sign()),
        (
            "wrong htu path",
            client.proof("GET", &url(addr, "/charge"), &token).sign(),
        ),
        (
            "wrong htu host",
            client
                .proof("GET", "http://api.example.com/me", &token)
                .sign(),
        ),
        (
            "wrong htu scheme",
            client
                .proof("GET", &me.replace("http:", "https:"), &token)
                .sign(),
        ),
        ("relative htu", client.proof("GET", "/me", &token).sign()),
        (
            "wrong ath",
            client.proof("GET", &me, "another token").sign(),
        ),
        (
            "iat too old",
            client.proof("GET", &me, &token).issued_at(now - 120).sign(),
        ),
        (
            "iat in the future",
            client.proof("GET", &me, &token).issued_at(now + 60).sign(),
        ),
        (
            "iat as a string",
            client
                .proof("GET", &me, &token)
                .claim("iat", now.to_string())
                .sign(),
        ),
        (
            "jti empty",
            client.proof("GET", &me, &token).claim("jti", "").sign(),
        ),
        (
            "jti too long",
            client
                .proof("GET", &me, &token)
                .claim("jti", "j".repeat(257))
                .sign(),
        ),
    ];
    for missing in ["jti", "htm", "htu", "iat", "ath"] {
        let proof = client
            .proof("GET", &me, &token)
            .without_claim(missing)
            .sign();
        let a = dpop_call(addr, Method::GET, "/me", &token, &proof).await;
        assert_proof_refused(&a, missing);
    }
    for (what, proof) in cases {
        let a = dpop_call(addr, Method::GET, "/me", &token, &proof).await;
        assert_proof_refused(&a, what);
    }
    // A tampered signature.
    let proof = client.proof("GET", &me, &token).sign();
    let mut bytes = proof.into_bytes();
    let last = bytes.len() - 2;
    bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
    let a = dpop_call(
        addr,
        Method::GET,
        "/me",
        &token,
        std::str::from_utf8(&bytes).unwrap(),
    )
    .await;
    assert_proof_refused(&a, "tampered signature");
    // After all of these, a good proof still passes: refused proofs were
    // not remembered.
    let proof = client.proof("GET", &me, &token).sign();
    assert_eq!(
        dpop_call(addr, Method::GET, "/me", &token, &proof)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_proof_header_must_be_there_exactly_once() {
    let addr = start(DpopOptions::new()).await;
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let me = url(addr, "/me");
    let a = send(addr, Method::GET, "/me", Some(format!("DPoP {token}")), &[]).await;
    assert_proof_refused(&a, "no proof");
    let p1 = client.proof("GET", &me, &token).sign();
    let p2 = client.proof("GET", &me, &token).sign();
    let a = send(
        addr,
        Method::GET,
        "/me",
        Some(format!("DPoP {token}")),
        &[&p1, &p2],
    )
    .await;
    assert_proof_refused(&a, "two proofs");
}

#[tokio::test]
async fn the_proof_size_and_jti_limits_hold_at_their_edges() {
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let uri = "https://api.example.com/me";
    let proof = client.proof("GET", uri, &token).sign();
    let at_limit = validator(DpopOptions::new().max_proof_size(proof.len()));
    assert!(
        at_limit
            .validate_dpop(&token, &proof, "GET", uri)
            .await
            .is_ok()
    );
    let under = validator(DpopOptions::new().max_proof_size(proof.len() - 1));
    assert_eq!(
        under
            .validate_dpop(&token, &proof, "GET", uri)
            .await
            .unwrap_err(),
        ValidationError::Dpop(DpopError::TooLarge {
            len: proof.len(),
            limit: proof.len() - 1
        })
    );
    let v = validator(DpopOptions::new());
    let max = bearer_guard::limits::MAX_DPOP_JTI_LENGTH;
    let jti = |len: usize| {
        client
            .proof("GET", uri, &token)
            .claim("jti", "j".repeat(len))
            .sign()
    };
    assert!(v.validate_dpop(&token, &jti(max), "GET", uri).await.is_ok());
    assert_eq!(
        v.validate_dpop(&token, &jti(max + 1), "GET", uri)
            .await
            .unwrap_err(),
        ValidationError::Dpop(DpopError::InvalidClaim("jti"))
    );
    // The default limit admits a proof with an RSA 4096 key.
    let rsa = DpopKey::generate(Algorithm::PS512);
    let token = issuer().token().dpop_bound(&rsa).sign();
    let proof = rsa.proof("GET", uri, &token).sign();
    assert!(proof.len() < bearer_guard::limits::DEFAULT_MAX_DPOP_PROOF_SIZE);
    assert!(v.validate_dpop(&token, &proof, "GET", uri).await.is_ok());
}

#[tokio::test]
async fn a_bound_token_presented_as_bearer_is_refused_and_both_schemes_are_offered() {
    let addr = start(DpopOptions::new()).await;
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let a = send(
        addr,
        Method::GET,
        "/me",
        Some(format!("Bearer {token}")),
        &[],
    )
    .await;
    assert_eq!(a.status, 401);
    let bearer = a.challenge("Bearer").unwrap();
    assert!(bearer.contains("error=\"invalid_token\""), "{bearer}");
    let dpop = a.challenge("DPoP").unwrap();
    assert!(
        dpop.contains("algs=\"") && !dpop.contains("error="),
        "{dpop}"
    );
    // No token at all: both challenges, bare.
    let a = send(addr, Method::GET, "/me", None, &[]).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.challenge("Bearer"), Some("Bearer realm=\"payments\""));
    let dpop = a.challenge("DPoP").unwrap();
    assert!(
        dpop.starts_with("DPoP realm=\"payments\", algs=\"") && dpop.contains("ES256"),
        "{dpop}"
    );
    // Unbound tokens still work as Bearer.
    let unbound = issuer().token().sign();
    let a = send(
        addr,
        Method::GET,
        "/me",
        Some(format!("Bearer {unbound}")),
        &[],
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "unbound"));
}

#[tokio::test]
async fn a_proof_must_be_signed_by_the_key_the_token_is_bound_to() {
    let addr = start(DpopOptions::new()).await;
    let holder = DpopKey::generate(Algorithm::ES256);
    let thief = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&holder).sign();
    let proof = thief.proof("GET", &url(addr, "/me"), &token).sign();
    let a = dpop_call(addr, Method::GET, "/me", &token, &proof).await;
    assert_eq!(a.status, 401);
    let dpop = a.challenge("DPoP").unwrap();
    assert!(
        dpop.contains("error=\"invalid_token\"") && dpop.contains("Invalid DPoP key binding"),
        "{dpop}"
    );
    // An unbound token with the DPoP scheme is refused too.
    let unbound = issuer().token().sign();
    let proof = holder.proof("GET", &url(addr, "/me"), &unbound).sign();
    let a = dpop_call(addr, Method::GET, "/me", &unbound, &proof).await;
    assert_eq!(a.status, 401);
    assert!(a.challenge("DPoP").unwrap().contains("not DPoP-bound"));
    // A token refused on its own merits with the DPoP scheme: the error
    // is on the DPoP challenge (RFC 9449 §7.1).
    let expired = issuer()
        .token()
        .dpop_bound(&holder)
        .expires_in(-3600)
        .sign();
    let proof = holder.proof("GET", &url(addr, "/me"), &expired).sign();
    let a = dpop_call(addr, Method::GET, "/me", &expired, &proof).await;
    assert!(
        a.challenge("DPoP")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    assert_eq!(a.challenge("Bearer"), Some("Bearer realm=\"payments\""));
}

#[tokio::test]
async fn missing_scopes_on_a_dpop_request_are_answered_on_the_dpop_challenge() {
    let addr = start(DpopOptions::new()).await;
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).scope("read").sign();
    let proof = client.proof("POST", &url(addr, "/charge"), &token).sign();
    let a = dpop_call(addr, Method::POST, "/charge", &token, &proof).await;
    assert_eq!(a.status, 403);
    let dpop = a.challenge("DPoP").unwrap();
    assert!(
        dpop.contains("error=\"insufficient_scope\"") && dpop.contains("scope=\"charge:customer\""),
        "{dpop}"
    );
    let token = issuer()
        .token()
        .dpop_bound(&client)
        .scope("charge:customer")
        .sign();
    let proof = client.proof("POST", &url(addr, "/charge"), &token).sign();
    assert_eq!(
        dpop_call(addr, Method::POST, "/charge", &token, &proof)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_validator_that_requires_dpop_refuses_bearer_tokens() {
    let addr = start(DpopOptions::new().required()).await;
    let unbound = issuer().token().sign();
    let a = send(
        addr,
        Method::GET,
        "/me",
        Some(format!("Bearer {unbound}")),
        &[],
    )
    .await;
    assert_eq!(a.status, 401);
    assert!(a.challenge("Bearer").is_none(), "{:?}", a.challenges);
    assert!(
        a.challenge("DPoP")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let a = send(addr, Method::GET, "/me", None, &[]).await;
    assert_eq!(a.challenges.len(), 1);
    assert!(a.challenges[0].starts_with("DPoP realm=\"payments\", algs="));
    let client = DpopKey::generate(Algorithm::EdDSA);
    let token = issuer().token().dpop_bound(&client).sign();
    let proof = client.proof("GET", &url(addr, "/me"), &token).sign();
    assert_eq!(
        dpop_call(addr, Method::GET, "/me", &token, &proof)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn dpop_is_only_a_scheme_for_validators_that_accept_it() {
    // A validator without DPoP: `DPoP` is an unknown scheme (no token), and
    // a bound token as Bearer is refused.
    let addr = serve(common::payments_app(
        issuer()
            .validator_builder()
            .audience(common::AUDIENCE)
            .build()
            .unwrap(),
    ))
    .await;
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let proof = client.proof("GET", &url(addr, "/me"), &token).sign();
    let a = dpop_call(addr, Method::GET, "/me", &token, &proof).await;
    assert_eq!(
        (a.status, a.challenges.clone()),
        (401, vec!["Bearer realm=\"payments\"".to_owned()])
    );
    let a = send(
        addr,
        Method::GET,
        "/me",
        Some(format!("Bearer {token}")),
        &[],
    )
    .await;
    assert_eq!(a.status, 401);
    assert!(a.challenges[0].contains("invalid_token"));
}

#[tokio::test]
async fn a_server_nonce_is_required_then_accepted_and_renewed() {
    let addr = start(DpopOptions::new().require_nonce()).await;
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let me = url(addr, "/me");
    let a = dpop_call(
        addr,
        Method::GET,
        "/me",
        &token,
        &client.proof("GET", &me, &token).sign(),
    )
    .await;
    assert_eq!(a.status, 401);
    assert!(
        a.challenge("DPoP")
            .unwrap()
            .contains("error=\"use_dpop_nonce\""),
        "{:?}",
        a.challenges
    );
    let nonce = a.nonce.expect("a DPoP-Nonce header");
    let wrong = dpop_call(
        addr,
        Method::GET,
        "/me",
        &token,
        &client.proof("GET", &me, &token).nonce("made-up").sign(),
    )
    .await;
    assert!(wrong.challenge("DPoP").unwrap().contains("use_dpop_nonce"));
    let ok = dpop_call(
        addr,
        Method::GET,
        "/me",
        &token,
        &client.proof("GET", &me, &token).nonce(&nonce).sign(),
    )
    .await;
    assert_eq!(ok.status, 200, "{:?}", ok.challenges);
    assert!(ok.nonce.is_some());
}

#[tokio::test]
async fn nonces_from_one_replica_are_accepted_by_another_with_the_same_secret() {
    let secret = b"a fleet-wide DPoP nonce secret!!".to_vec();
    let a = start(DpopOptions::new().nonce_secret(secret.clone())).await;
    let b = start(DpopOptions::new().nonce_secret(secret)).await;
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let first = dpop_call(
        a,
        Method::GET,
        "/me",
        &token,
        &client.proof("GET", &url(a, "/me"), &token).sign(),
    )
    .await;
    let nonce = first.nonce.unwrap();
    let proof = client
        .proof("GET", &url(b, "/me"), &token)
        .nonce(&nonce)
        .sign();
    assert_eq!(
        dpop_call(b, Method::GET, "/me", &token, &proof)
            .await
            .status,
        200
    );
    // A short secret is a configuration error.
    let short = issuer()
        .validator_builder()
        .audience("x")
        .dpop(DpopOptions::new().nonce_secret(b"short".to_vec()))
        .build();
    assert!(matches!(
        short,
        Err(bearer_guard::BuildError::DpopNonceSecret { len: 5 })
    ));
}

#[tokio::test]
async fn htu_is_compared_after_normalisation_and_against_the_public_url() {
    let addr = start(DpopOptions::new()).await;
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    // Scheme in capitals, an empty port, a dot segment, a query and a
    // fragment: the same URI.
    let htu = format!("HTTP://127.0.0.1:{}/./me?page=2#top", addr.port());
    let proof = client.proof("GET", &htu, &token).sign();
    assert_eq!(
        dpop_call(addr, Method::GET, "/me?page=2", &token, &proof)
            .await
            .status,
        200,
        "{htu}"
    );

    let layer = BearerLayer::new(validator(DpopOptions::new()))
        .realm("payments")
        .public_url("https://API.example.com/payments/");
    let behind_proxy = serve(app(layer)).await;
    let proof = client
        .proof("GET", "https://api.example.com:443/payments/me", &token)
        .sign();
    assert_eq!(
        dpop_call(behind_proxy, Method::GET, "/me", &token, &proof)
            .await
            .status,
        200
    );
    let proof = client
        .proof("GET", &url(behind_proxy, "/me"), &token)
        .sign();
    assert_proof_refused(
        &dpop_call(behind_proxy, Method::GET, "/me", &token, &proof).await,
        "internal URL",
    );
    assert!(
        BearerLayer::new(issuer().validator())
            .try_public_url("/relative")
            .is_err()
    );
    assert!(
        BearerLayer::new(issuer().validator())
            .try_public_url("https://h/x?q")
            .is_err()
    );
}

#[tokio::test]
async fn validate_dpop_works_without_http() {
    let validator = validator(DpopOptions::new());
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let uri = "https://grpc.example.com/payments.Payments/Charge";
    let proof = client.proof("POST", uri, &token).sign();
    let claims = validator
        .validate_dpop(&token, &proof, "POST", uri)
        .await
        .unwrap();
    assert_eq!(claims.dpop_thumbprint(), Some(client.thumbprint().as_str()));
    assert_eq!(
        validator
            .validate_dpop(&token, &proof, "POST", uri)
            .await
            .unwrap_err(),
        ValidationError::Dpop(DpopError::Replayed)
    );
    assert_eq!(
        validator.validate(&token).await.unwrap_err(),
        ValidationError::SenderConstrained
    );
    let plain = issuer()
        .validator_builder()
        .audience(common::AUDIENCE)
        .build()
        .unwrap();
    let proof = client.proof("POST", uri, &token).sign();
    assert_eq!(
        plain
            .validate_dpop(&token, &proof, "POST", uri)
            .await
            .unwrap_err(),
        ValidationError::Dpop(DpopError::NotEnabled)
    );
}

#[tokio::test]
async fn certificate_bound_tokens_need_their_certificate() {
    use base64::Engine;
    let validator = issuer()
        .validator_builder()
        .audience(common::AUDIENCE)
        .build()
        .unwrap();
    // Any DER bytes: the binding is the SHA-256 of the certificate.
    let cert = b"0\x82\x01\x0a a client certificate".to_vec();
    let x5t = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &cert));
    let token = issuer()
        .token()
        .claim("cnf", json!({ "x5t#S256": x5t }))
        .sign();
    let claims = validator
        .validate_with_certificate(&token, &cert)
        .await
        .unwrap();
    assert_eq!(claims.certificate_thumbprint(), Some(x5t.as_str()));
    assert_eq!(
        validator
            .validate_with_certificate(&token, b"another certificate")
            .await
            .unwrap_err(),
        ValidationError::CertificateMismatch
    );
    assert_eq!(
        validator.validate(&token).await.unwrap_err(),
        ValidationError::CertificateMismatch
    );

    // Through the layer, with the certificate the TLS stack put in the
    // request extensions (examples/mtls.rs does it with rustls).
    let with_cert = cert.clone();
    let app = Router::new()
        .route("/me", get(|| async { "ok" }))
        .layer(BearerLayer::new(validator))
        .layer(tower::util::MapRequestLayer::new(
            move |mut req: axum::extract::Request| {
                if req.headers().contains_key("x-test-present-certificate") {
                    req.extensions_mut()
                        .insert(ClientCertificate::new(with_cert.clone()));
                }
                req
            },
        ));
    let addr = serve(app).await;
    let client = reqwest::Client::new();
    let status = |present: bool| {
        let mut r = client.get(format!("http://{addr}/me")).bearer_auth(&token);
        if present {
            r = r.header("x-test-present-certificate", "1");
        }
        async move { r.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(true).await, 200);
    assert_eq!(status(false).await, 401);
}

#[tokio::test]
async fn the_resource_describes_itself_and_challenges_point_to_it() {
    let v = validator(DpopOptions::new());
    let metadata = ResourceMetadata::new("http://127.0.0.1/payments", &v)
        .scopes_supported(["charge:customer"]);
    let served = metadata.clone();
    let app = Router::new()
        .route("/me", get(|| async { "ok" }))
        .layer(BearerLayer::new(v).resource_metadata(&metadata))
        .route_service(
            "/.well-known/oauth-protected-resource/payments",
            get(move || std::future::ready(served.clone())),
        );
    let addr = serve(app).await;
    let r = reqwest::get(format!(
        "http://{addr}/.well-known/oauth-protected-resource/payments"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["resource"], "http://127.0.0.1/payments");
    assert_eq!(doc["authorization_servers"], json!([issuer().issuer()]));
    assert_eq!(doc["scopes_supported"], json!(["charge:customer"]));
    assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    assert!(
        doc["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256"))
    );
    assert!(doc.get("dpop_bound_access_tokens_required").is_none());
    let a = send(addr, Method::GET, "/me", None, &[]).await;
    assert_eq!(a.status, 401);
    let expected =
        "resource_metadata=\"http://127.0.0.1/.well-known/oauth-protected-resource/payments\"";
    assert!(
        a.challenges.iter().all(|c| c.contains(expected)),
        "{:?}",
        a.challenges
    );
    assert_eq!(a.challenges.len(), 2);

    // The layer never opens a path by itself: the document served behind
    // it needs a token like everything else there.
    let served = metadata.clone();
    let wrapped = Router::new()
        .route(
            "/.well-known/oauth-protected-resource/payments",
            get(move || std::future::ready(served.clone())),
        )
        .layer(BearerLayer::new(validator(DpopOptions::new())).resource_metadata(&metadata));
    let addr = serve(wrapped).await;
    let r = reqwest::get(format!(
        "http://{addr}/.well-known/oauth-protected-resource/payments"
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 401);

    // The well-known URL keeps the resource's path as given (RFC 9728
    // §3.1), a slash right after the host excepted.
    let v = validator(DpopOptions::new());
    let url = |r: &str| ResourceMetadata::new(r, &v).url();
    assert_eq!(
        url("https://api.example.com/"),
        "https://api.example.com/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        url("https://api.example.com"),
        "https://api.example.com/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        url("https://api.example.com/a/"),
        "https://api.example.com/.well-known/oauth-protected-resource/a/"
    );
    for bad in ["/relative", "https://h/x?q=1", "https://h/x#f", "ftp://h/x"] {
        assert!(ResourceMetadata::try_new(bad, &v).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn routes_needing_a_stronger_or_recent_login_ask_for_step_up() {
    let validator = issuer()
        .validator_builder()
        .audience(common::AUDIENCE)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/transfer", post(|| async { "sent" }))
        .route_layer(RequireLayer::new(
            Requirement::acr_values(["urn:example:mfa"])
                .and(Requirement::max_auth_age(Duration::from_secs(300))),
        ))
        .layer(BearerLayer::new(validator).realm("bank"));
    let addr = serve(app).await;
    let now = bearer_guard::Clock::System.now();
    let call = |token: String| async move {
        send(
            addr,
            Method::POST,
            "/transfer",
            Some(format!("Bearer {token}")),
            &[],
        )
        .await
    };
    let a = call(
        issuer()
            .token()
            .claim("acr", "urn:example:pwd")
            .claim("auth_time", now)
            .sign(),
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.challenges,
        vec!["Bearer realm=\"bank\", error=\"insufficient_user_authentication\", error_description=\"A different authentication level is required\", acr_values=\"urn:example:mfa\", max_age=\"300\"".to_owned()]
    );
    let old = call(
        issuer()
            .token()
            .claim("acr", "urn:example:mfa")
            .claim("auth_time", now - 3600)
            .sign(),
    )
    .await;
    assert_eq!(old.status, 401);
    let no_time = call(issuer().token().claim("acr", "urn:example:mfa").sign()).await;
    assert_eq!(no_time.status, 401);
    let ok = call(
        issuer()
            .token()
            .claim("acr", "urn:example:mfa")
            .claim("auth_time", now - 10)
            .sign(),
    )
    .await;
    assert_eq!(ok.status, 200);
    assert!(std::panic::catch_unwind(|| Requirement::acr_values(Vec::<String>::new())).is_err());
    let _ = TestIssuer::new;
}

#[tokio::test]
async fn a_host_header_cannot_move_the_uri_a_proof_is_checked_against() {
    let addr = start(DpopOptions::new()).await;
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    // A proof made for http://api.example.com/ (another path), presented
    // to /me with a Host that would cut or shift the path.
    for host in [
        "api.example.com#",
        "api.example.com/",
        "api.example.com?x",
        "user@api.example.com",
    ] {
        let proof = client
            .proof("GET", "http://api.example.com/", &token)
            .sign();
        let r = reqwest::Client::new()
            .get(format!("http://{addr}/me"))
            .header("host", host)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{host}");
    }
}

#[tokio::test]
async fn any_of_several_logins_is_asked_for_as_a_step_up() {
    let validator = issuer()
        .validator_builder()
        .audience(common::AUDIENCE)
        .build()
        .unwrap();
    let requirement = Requirement::acr_values(["urn:example:mfa"])
        .or(Requirement::acr_values(["urn:example:hwk"]));
    let claims = validator
        .validate(&issuer().token().claim("acr", "urn:example:pwd").sign())
        .await
        .unwrap();
    match requirement.check(&claims).unwrap_err() {
        bearer_guard::AuthError::InsufficientUserAuthentication {
            acr_values,
            max_age,
        } => {
            assert_eq!(
                acr_values.as_deref(),
                Some("urn:example:mfa urn:example:hwk")
            );
            assert_eq!(max_age, None);
        }
        other => panic!("{other:?}"),
    }
    // Two acr requirements together: the values that meet both.
    let both = Requirement::acr_values(["a", "b"]).and(Requirement::acr_values(["b", "c"]));
    match both.check(&claims).unwrap_err() {
        bearer_guard::AuthError::InsufficientUserAuthentication { acr_values, .. } => {
            assert_eq!(acr_values.as_deref(), Some("b"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_route_can_require_dpop_behind_a_layer_that_accepts_both() {
    let app = Router::new()
        .route("/payout", post(|| async { "paid" }))
        .route_layer(RequireLayer::new(Requirement::dpop_bound()))
        .route("/me", get(|| async { "me" }))
        .layer(
            BearerLayer::new(validator(DpopOptions::new()))
                .realm("payments")
                .trust_host_header(http::uri::Scheme::HTTP),
        );
    let addr = serve(app).await;
    let unbound = issuer().token().sign();
    // Bearer works elsewhere...
    let a = send(
        addr,
        Method::GET,
        "/me",
        Some(format!("Bearer {unbound}")),
        &[],
    )
    .await;
    assert_eq!(a.status, 200);
    // ...but not on the DPoP-only route: 401, the error on the DPoP challenge.
    let a = send(
        addr,
        Method::POST,
        "/payout",
        Some(format!("Bearer {unbound}")),
        &[],
    )
    .await;
    assert_eq!(a.status, 401);
    assert_eq!(a.challenge("Bearer"), Some("Bearer realm=\"payments\""));
    let dpop = a.challenge("DPoP").unwrap();
    assert!(
        dpop.contains("error=\"invalid_token\"") && dpop.contains("algs="),
        "{dpop}"
    );
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let proof = client.proof("POST", &url(addr, "/payout"), &token).sign();
    let a = dpop_call(addr, Method::POST, "/payout", &token, &proof).await;
    assert_eq!((a.status, a.body.as_str()), (200, "paid"));
    // A certificate-bound route refuses a DPoP-bound token.
    let claims = validator(DpopOptions::new())
        .validate_dpop(
            &token,
            &client.proof("GET", URI_FOR_CHECK, &token).sign(),
            "GET",
            URI_FOR_CHECK,
        )
        .await
        .unwrap();
    assert!(Requirement::certificate_bound().check(&claims).is_err());
    assert!(Requirement::dpop_bound().check(&claims).is_ok());
}

const URI_FOR_CHECK: &str = "https://api.example.com/check";

/// The attack on the replay cache: an attacker holding a victim's token and
/// used proof, and a DPoP token of their own, sends their own proofs at a
/// moment when the validator's clock reads earlier than it did for the
/// victim's request (a request that read the clock a second before another
/// and finished after it; or the clock stepped back by NTP). Their proofs
/// land in every shard of the cache; none of them may make it forget the
/// victim's proof.
#[tokio::test]
async fn a_used_proof_stays_refused_after_inserts_with_an_earlier_clock_reading() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let clock = bearer_guard::testing::ManualClock::new(now);
    let validator = issuer()
        .validator_builder()
        .audience(common::AUDIENCE)
        .clock(clock.clone())
        .dpop(DpopOptions::new())
        .build()
        .unwrap();
    let uri = "https://api.example.com/me";
    let victim = DpopKey::generate(Algorithm::ES256);
    let victim_token = issuer().token().dpop_bound(&victim).sign();
    let victim_proof = victim
        .proof("GET", uri, &victim_token)
        .issued_at(now)
        .sign();
    validator
        .validate_dpop(&victim_token, &victim_proof, "GET", uri)
        .await
        .unwrap();
    let replay = async |validator: &Validator| {
        validator
            .validate_dpop(&victim_token, &victim_proof, "GET", uri)
            .await
            .unwrap_err()
    };

    let attacker = DpopKey::generate(Algorithm::ES256);
    let attacker_token = issuer().token().dpop_bound(&attacker).sign();
    for step_back in [1, 3] {
        clock.set(now - step_back);
        // 16 shards: 200 distinct `jti`s reach every one of them (the odds
        // of missing one are below 1 in 20,000).
        for n in 0..200 {
            let proof = attacker
                .proof("GET", uri, &attacker_token)
                .issued_at(now - step_back)
                .claim("jti", format!("attacker-{step_back}-{n}"))
                .sign();
            validator
                .validate_dpop(&attacker_token, &proof, "GET", uri)
                .await
                .unwrap();
        }
        // The victim's proof is still within its window at this reading,
        // and still refused as used.
        assert_eq!(
            replay(&validator).await,
            ValidationError::Dpop(DpopError::Replayed),
            "clock read {step_back} s earlier"
        );
    }
    // And at the original reading, and a window later, until it expires.
    for later in [0, 60] {
        clock.set(now + later);
        assert_eq!(
            replay(&validator).await,
            ValidationError::Dpop(DpopError::Replayed),
            "{later} s later"
        );
    }
    clock.set(now + 66);
    assert_eq!(
        replay(&validator).await,
        ValidationError::Dpop(DpopError::Expired)
    );
}

/// Sends `GET {target} HTTP/1.1` with `Host: {host}` and a DPoP token and
/// proof over a raw connection (reqwest cannot send an absolute-form
/// target); the status.
async fn raw_dpop_get(addr: SocketAddr, target: &str, host: &str, token: &str, proof: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nAuthorization: DPoP {token}\r\nDPoP: {proof}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

/// The attack: a client's proof made for service A (`http://service-a.example/me`),
/// captured or replayed by service A itself, presented at service B, which
/// accepts the same DPoP-bound token (an audience both share). B used to
/// take the URI to check from the request: the authority of an
/// absolute-form target, or the `Host` header, both the attacker's choice.
#[tokio::test]
async fn a_proof_made_for_another_service_is_refused_whatever_the_request_names() {
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let for_a = "http://service-a.example/me";

    // B with its public URL: the proof names another URL, whatever the
    // request target's authority or the Host header say.
    let b = serve(app(
        BearerLayer::new(validator(DpopOptions::new())).public_url("http://service-b.example")
    ))
    .await;
    for (target, host) in [
        (for_a, "service-b.example"),
        ("/me", "service-a.example"),
        (for_a, "service-a.example"),
    ] {
        let proof = client.proof("GET", for_a, &token).sign();
        assert_eq!(
            raw_dpop_get(b, target, host, &token, &proof).await,
            401,
            "{target} with Host {host}"
        );
    }
    // Its own URL passes.
    let proof = client
        .proof("GET", "http://service-b.example/me", &token)
        .sign();
    assert_eq!(
        raw_dpop_get(b, "/me", "whatever.example", &token, &proof).await,
        200
    );

    // B without a public URL: no URL to check against, DPoP answers 503
    // (and never takes the request's word for it).
    let unset = serve(app(BearerLayer::new(validator(DpopOptions::new())))).await;
    let proof = client.proof("GET", for_a, &token).sign();
    assert_eq!(
        raw_dpop_get(unset, for_a, "service-a.example", &token, &proof).await,
        503
    );
    assert_eq!(
        validator(DpopOptions::new())
            .validate_dpop(&token, &proof, "GET", for_a)
            .await
            .map(|_| ()),
        Ok(()),
        "the validator alone checks the URI its caller gives"
    );

    // With the opt-in, the Host header (never the target's authority).
    let trusting =
        serve(app(BearerLayer::new(validator(DpopOptions::new()))
            .trust_host_header(http::uri::Scheme::HTTP)))
        .await;
    let proof = client.proof("GET", for_a, &token).sign();
    assert_eq!(
        raw_dpop_get(trusting, for_a, "service-b.example", &token, &proof).await,
        401,
        "absolute-form authority"
    );
}

/// `max_auth_age` is judged by the validator's clock and leeway, as the
/// token's own times are: a manual clock far from the system's, and a
/// leeway of 0, decide.
#[tokio::test]
async fn max_auth_age_reads_the_validators_clock_and_leeway() {
    let t = 1_000_000_000; // 2001: far from the system clock
    let clock = bearer_guard::testing::ManualClock::new(t);
    let issuer = TestIssuer::with_keys(vec![bearer_guard::testing::TestKey::generate(
        Algorithm::ES256,
    )])
    .default_audience("api")
    .clock(clock.clone());
    let validator = issuer
        .validator_builder()
        .audience("api")
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let recent = Requirement::max_auth_age(Duration::from_secs(300));
    let claims = |auth_time: i64| {
        let token = issuer.token().claim("auth_time", auth_time).sign();
        let validator = validator.clone();
        async move { validator.validate(&token).await.unwrap() }
    };
    // 100 s ago by the validator's clock (by the system's, 25 years).
    assert!(recent.check(&claims(t - 100).await).is_ok());
    // 301 s ago, no leeway: too old (a default 60 s leeway passed it).
    assert!(recent.check(&claims(t - 301).await).is_err());
    clock.advance(-10);
    assert!(recent.check(&claims(t - 295).await).is_ok());
}

/// `typ` is a media type: `application/dpop+jwt` is `dpop+jwt` (RFC 7515
/// §4.1.9), in any letter case; anything else is refused.
#[tokio::test]
async fn a_proof_typ_with_the_application_prefix_is_the_same_type() {
    let v = validator(DpopOptions::new());
    let client = DpopKey::generate(Algorithm::ES256);
    let token = issuer().token().dpop_bound(&client).sign();
    let uri = "https://api.example.com/me";
    for typ in ["application/dpop+jwt", "Application/DPoP+JWT"] {
        let proof = client.proof("GET", uri, &token).header("typ", typ).sign();
        assert!(
            v.validate_dpop(&token, &proof, "GET", uri).await.is_ok(),
            "{typ}"
        );
    }
    for typ in ["application/", "application/jwt", "app/dpop+jwt"] {
        let proof = client.proof("GET", uri, &token).header("typ", typ).sign();
        assert_eq!(
            v.validate_dpop(&token, &proof, "GET", uri)
                .await
                .unwrap_err(),
            ValidationError::Dpop(DpopError::Type),
            "{typ}"
        );
    }
}
