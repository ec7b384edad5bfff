//! Order Service -> Payment Service, machine to machine.
//!
//! A `TestIssuer` stands in for the authorization server. The Payment Service
//! (axum, protected by `BearerLayer`; `POST /charge` needs the scope
//! `charge:customer`) listens on 127.0.0.1. The Order Service then calls it
//! with a good token, a token without the scope, an expired one, one for
//! another audience, and none, and prints what each call got back.
//!
//! Run: `cargo run --example payments`

use std::process::ExitCode;

use axum::routing::post;
use axum::{Json, Router};
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerLayer, Claims, RequireLayer, Requirement};
use serde_json::{Value, json};

const AUDIENCE: &str = "https://payments.example";

/// `POST /charge`: reached only with a valid token that grants `charge:customer`.
async fn charge(claims: Claims) -> Json<Value> {
    Json(json!({
        "status": "charged",
        "on_behalf_of": claims.client_id().or(claims.subject()),
    }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // The authorization server: keys, a JWKS, and tokens on demand.
    let auth_server = TestIssuer::new();
    println!(
        "authorization server (stand-in): issuer {}, JWKS with {} key(s)",
        auth_server.issuer(),
        auth_server.keys().len()
    );

    // The Payment Service trusts that issuer's keys for its own audience.
    let validator = bearer_guard::Validator::builder()
        .issuer(auth_server.issuer())
        .audience(AUDIENCE)
        .jwks_json(auth_server.jwks_json())
        .build()
        .expect("validator");
    let app = Router::new()
        .route("/charge", post(charge))
        .route_layer(RequireLayer::new(Requirement::scopes_all([
            "charge:customer",
        ])))
        .layer(BearerLayer::new(validator).realm("payments"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!(
        "payment service listening on http://{addr} (POST /charge needs scope charge:customer)\n"
    );

    // The Order Service's calls.
    let token = || {
        auth_server
            .token()
            .subject("order-service")
            .claim("client_id", "order-service")
    };
    let calls: [(&str, Option<String>, u16); 5] = [
        (
            "a valid token with scope charge:customer",
            Some(token().audience(AUDIENCE).scope("charge:customer").sign()),
            200,
        ),
        (
            "a valid token without the scope",
            Some(token().audience(AUDIENCE).scope("orders:read").sign()),
            403,
        ),
        (
            "an expired token",
            Some(
                token()
                    .audience(AUDIENCE)
                    .scope("charge:customer")
                    .expires_in(-600)
                    .sign(),
            ),
            401,
        ),
        (
            "a token for another audience",
            Some(
                token()
                    .audience("https://orders.example")
                    .scope("charge:customer")
                    .sign(),
            ),
            401,
        ),
        ("no token", None, 401),
    ];

    let client = reqwest::Client::new();
    let mut unexpected = 0;
    for (what, token, expected) in calls {
        println!("order service -> POST /charge with {what}");
        let mut request = client.post(format!("http://{addr}/charge"));
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("   request failed: {e}");
                return ExitCode::FAILURE;
            }
        };
        let status = response.status();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap_or("<non-ascii>").to_owned());
        let body = response.text().await.unwrap_or_default();
        println!("   <- {status}");
        if let Some(challenge) = challenge {
            println!("      WWW-Authenticate: {challenge}");
        }
        if !body.is_empty() {
            println!("      {body}");
        }
        if status.as_u16() != expected {
            println!("      UNEXPECTED: wanted {expected}");
            unexpected += 1;
        }
        println!();
    }
    if unexpected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
