//! RFC 8705 §3 over a real TLS connection: `examples/mtls.rs` run as a
//! test (rustls server asking for client certificates, reqwest clients
//! with and without one, a token bound to one of them).

#[path = "../examples/mtls.rs"]
#[allow(dead_code, unreachable_pub)]
pub(crate) mod example;

#[tokio::test]
async fn a_certificate_bound_token_is_accepted_from_its_holder_only() {
    let outcome = example::run().await.unwrap();
    assert_eq!(
        outcome,
        example::Outcome {
            holder: 200,
            other_certificate: 401,
            no_certificate: 401,
            unbound_token_without_certificate: 200,
        }
    );
}
