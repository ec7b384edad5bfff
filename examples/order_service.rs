//! The Order Service: obtains a token from an authorization server with the
//! client-credentials grant and calls a protected API with it.
//!
//! ```text
//! cargo run --example order_service -- --demo
//! cargo run --example order_service -- \
//!     --issuer https://auth.example.com/ --client-id order-service --client-secret … \
//!     --scope charge:customer --resource https://payments.example.com \
//!     --call https://payments.example.com/charge --method POST
//! ```
//!
//! With `--demo` it runs self-contained on 127.0.0.1: a stand-in
//! authorization server (a `TestIssuer` behind a token endpoint that checks
//! the client's credentials) and a Payment Service (`POST /charge` needs
//! `charge:customer`), then calls it. Otherwise it takes `--token-url` or
//! `--issuer` (discovery), `--client-id` with `--client-secret` or
//! `--private-key PEM` (private_key_jwt; `--key-alg`, ES256 by default),
//! `--scope`, `--resource`, `--audience`, and `--call URL`: it prints the
//! status and body of that call, and exits 0 on a 2xx.

use std::process::ExitCode;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use bearer_guard::client::TokenSource;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{
    BearerLayer, Claims, RequireLayer, Requirement,
    introspection::ClientAuth,
    keys::{Algorithm, SigningKey},
};
use serde_json::json;

const HELP: &str = "\
order_service: obtain a client-credentials token and call a protected API

USAGE:
    order_service --demo
    order_service (--token-url URL | --issuer URL) --client-id ID
                  (--client-secret S [--client-secret-post] | --private-key PEM [--key-alg ALG])
                  [--scope S] [--resource URI] [--audience A] --call URL [--method M]
                  [--allow-http]
";

#[derive(Default)]
struct Args {
    demo: bool,
    token_url: Option<String>,
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_post: bool,
    private_key: Option<String>,
    key_alg: Option<String>,
    scope: Option<String>,
    resource: Vec<String>,
    audience: Option<String>,
    call: Option<String>,
    method: Option<String>,
    allow_http: bool,
}

fn parse() -> Result<Option<Args>, String> {
    let mut args = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--demo" => args.demo = true,
            "--token-url" => args.token_url = Some(value()?),
            "--issuer" => args.issuer = Some(value()?),
            "--client-id" => args.client_id = Some(value()?),
            "--client-secret" => args.client_secret = Some(value()?),
            "--client-secret-post" => args.client_secret_post = true,
            "--private-key" => args.private_key = Some(value()?),
            "--key-alg" => args.key_alg = Some(value()?),
            "--scope" => args.scope = Some(value()?),
            "--resource" => args.resource.push(value()?),
            "--audience" => args.audience = Some(value()?),
            "--call" => args.call = Some(value()?),
            "--method" => args.method = Some(value()?),
            "--allow-http" => args.allow_http = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Some(args))
}

/// The stand-in authorization server's token endpoint:
/// [`TestIssuer::token_endpoint_answer`] for the client `order-service` /
/// `order-secret`.
async fn token_endpoint(
    State(issuer): State<std::sync::Arc<TestIssuer>>,
    headers: HeaderMap,
    body: String,
) -> axum::response::Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok());
    let (status, answer) =
        issuer.token_endpoint_answer(authorization, &body, &[("order-service", "order-secret")]);
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        Json(answer),
    )
        .into_response()
}

/// Starts the stand-in authorization server and the Payment Service;
/// returns the token URL and the charge URL.
async fn demo_servers() -> (String, String) {
    let issuer =
        std::sync::Arc::new(TestIssuer::new().default_audience("https://payments.example"));
    let validator = bearer_guard::Validator::builder()
        .issuer(issuer.issuer())
        .audience("https://payments.example")
        .jwks_json(issuer.jwks_json())
        .build()
        .expect("validator");
    let auth = Router::new()
        .route("/token", post(token_endpoint))
        .with_state(issuer);
    let payments = Router::new()
        .route(
            "/charge",
            post(|c: Claims| async move {
                Json(json!({"status": "charged", "on_behalf_of": c.client_id()}))
            }),
        )
        .route_layer(RequireLayer::new(Requirement::scopes_all([
            "charge:customer",
        ])))
        .layer(BearerLayer::new(validator).realm("payments"));
    let serve = |app: Router| async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    };
    let (a, p) = (serve(auth).await, serve(payments).await);
    println!("authorization server (stand-in): http://{a}/token");
    println!("payment service: http://{p}/charge (needs scope charge:customer)\n");
    (format!("http://{a}/token"), format!("http://{p}/charge"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = match parse() {
        Ok(Some(a)) => a,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    if args.demo {
        let (token_url, charge) = demo_servers().await;
        args.token_url = Some(token_url);
        args.call = Some(charge);
        args.method = Some("POST".into());
        args.client_id = Some("order-service".into());
        args.client_secret = Some("order-secret".into());
        args.scope = Some("charge:customer".into());
        args.resource = vec!["https://payments.example".into()];
        args.allow_http = true;
    }
    let Some(client_id) = args.client_id.clone() else {
        eprintln!("error: --client-id is required\n\n{HELP}");
        return ExitCode::from(2);
    };
    let auth = match (&args.client_secret, &args.private_key) {
        (Some(secret), None) if args.client_secret_post => {
            ClientAuth::post(client_id, secret.clone())
        }
        (Some(secret), None) => ClientAuth::basic(client_id, secret.clone()),
        (None, Some(path)) => {
            let alg = match args
                .key_alg
                .as_deref()
                .unwrap_or("ES256")
                .parse::<Algorithm>()
            {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("error: --key-alg: {e}");
                    return ExitCode::from(2);
                }
            };
            let key = std::fs::read(path)
                .map_err(|e| e.to_string())
                .and_then(|pem| SigningKey::from_pem(&pem, alg).map_err(|e| e.to_string()));
            match key {
                Ok(key) => ClientAuth::private_key_jwt(client_id, key),
                Err(e) => {
                    eprintln!("error: --private-key {path}: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        _ => {
            eprintln!("error: give one of --client-secret and --private-key\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let mut builder = TokenSource::client_credentials(auth);
    builder = match (&args.token_url, &args.issuer) {
        (Some(url), None) => builder.token_url(url.clone()),
        (None, Some(issuer)) => builder.issuer(issuer.clone()),
        _ => {
            eprintln!("error: give one of --token-url and --issuer\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    if let Some(scope) = &args.scope {
        builder = builder.scope(scope.clone());
    }
    for r in &args.resource {
        builder = builder.resource(r.clone());
    }
    if let Some(a) = &args.audience {
        builder = builder.audience(a.clone());
    }
    if args.allow_http {
        builder = builder.allow_insecure_http();
    }
    let source = match builder.build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(url) = args.call.clone() else {
        // No call: show the token's metadata (never the token).
        return match source.token().await {
            Ok(t) => {
                println!("{t:?}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    };
    let method = args.method.as_deref().unwrap_or("GET");
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        eprintln!("error: --method {method} is not an HTTP method");
        return ExitCode::from(2);
    };
    match source
        .send(reqwest::Client::new().request(method.clone(), &url))
        .await
    {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            println!("{method} {url} -> {status}\n{body}");
            if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
