//! Shared test set-up: one issuer per test binary (RSA key generation is the
//! slow part), and a real axum server on 127.0.0.1.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::OnceLock;

use bearer_guard::Algorithm;
use bearer_guard::testing::{TestIssuer, TestKey};

/// The audience the test APIs accept.
pub const AUDIENCE: &str = "payments";

/// An issuer with one key per asymmetric algorithm family: RS256 (default
/// signer, kid `rs256`), PS256, ES256, ES384, EdDSA.
pub fn issuer() -> &'static TestIssuer {
    static ISSUER: OnceLock<TestIssuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        TestIssuer::with_keys(vec![
            TestKey::generate(Algorithm::RS256),
            TestKey::generate(Algorithm::PS256),
            TestKey::generate(Algorithm::ES256),
            TestKey::generate(Algorithm::ES384),
            TestKey::generate(Algorithm::EdDSA),
        ])
        .default_audience(AUDIENCE)
    })
}

/// A key the validators do not trust, with the same kid as the issuer's
/// default key.
pub fn stranger() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate(Algorithm::RS256))
}

/// Serves `app` on 127.0.0.1 on a free port.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("server");
    });
    addr
}

pub mod as_server;
