//! hyper 1 without axum: `BearerLayer` in a `tower::ServiceBuilder` around
//! a `hyper::service::service_fn`, refusals as RFC 9457
//! `application/problem+json`.
//!
//! ```text
//! cargo run --example hyper
//! ```
//!
//! The demo serves on 127.0.0.1, calls itself with and without a valid
//! token, and prints the answers.

use std::convert::Infallible;
use std::net::SocketAddr;

use bearer_guard::testing::TestIssuer;
use bearer_guard::{
    BearerLayer, Claims, RequireLayer, Requirement, Validator, response::ProblemJson,
};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The application: it reads the claims the layer verified.
async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let Some(claims) = req.extensions().get::<Claims>() else {
        // Only reached without the layer: a server misconfiguration.
        let mut response = Response::new(Full::from("no BearerLayer in front\n"));
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        return Ok(response);
    };
    let body = format!(
        "charged on behalf of {}\n",
        claims.subject().unwrap_or("an unnamed subject")
    );
    Ok(Response::new(Full::from(body)))
}

/// Serves `handle` on `listener`, behind the layer and a scope requirement.
pub async fn serve(
    listener: tokio::net::TcpListener,
    validator: Validator,
) -> Result<(), BoxError> {
    let service = ServiceBuilder::new()
        .layer(
            BearerLayer::new(validator)
                .realm("payments")
                .error_body(ProblemJson),
        )
        .layer(RequireLayer::new(Requirement::scopes_all([
            "charge:customer",
        ])))
        .service_fn(handle);
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(service.clone());
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // A connection error concerns that client alone.
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One answer: status, `WWW-Authenticate`, `Content-Type` and body.
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The challenge, if any.
    pub challenge: Option<String>,
    /// The content type, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: String,
}

/// POSTs to `addr` with `authorization`, if any.
pub async fn call(addr: SocketAddr, authorization: Option<&str>) -> Result<Answer, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let mut request = Request::post(format!("http://{addr}/charge"));
    if let Some(value) = authorization {
        request = request.header(http::header::AUTHORIZATION, value);
    }
    let response = sender
        .send_request(request.body(Full::<Bytes>::default())?)
        .await?;
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let status = response.status().as_u16();
    let challenge = header(http::header::WWW_AUTHENTICATE);
    let content_type = header(http::header::CONTENT_TYPE);
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer {
        status,
        challenge,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let issuer = TestIssuer::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(serve(listener, issuer.validator()));

    let good = issuer
        .token()
        .subject("alice")
        .scope("charge:customer")
        .sign();
    let narrow = issuer.token().scope("read").sign();
    let calls = [
        ("a token with the scope", Some(format!("Bearer {good}"))),
        ("no token", None),
        ("a garbage token", Some("Bearer not.a.token".to_owned())),
        (
            "a token without the scope",
            Some(format!("Bearer {narrow}")),
        ),
    ];
    for (what, authorization) in calls {
        let answer = call(addr, authorization.as_deref()).await?;
        println!(
            "{what}: {} {}\n  www-authenticate: {}\n  {}",
            answer.status,
            answer.content_type.as_deref().unwrap_or("-"),
            answer.challenge.as_deref().unwrap_or("-"),
            answer.body.trim_end()
        );
    }
    Ok(())
}
