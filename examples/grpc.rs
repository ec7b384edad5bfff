//! A gRPC service behind `BearerLayer`, with tonic.
//!
//! ```text
//! cargo run --example grpc
//! ```
//!
//! The layer sits in front of the whole tonic server
//! (`Server::builder().layer(..)`). A refused call is answered the gRPC
//! way: `UNAUTHENTICATED` (no token, a bad token), `PERMISSION_DENIED` (a
//! valid token without the scope the server requires) or `UNAVAILABLE` (the
//! keys could not be fetched), with the RFC 6750 challenge in the
//! `www-authenticate` metadata. Handlers read the verified claims from the
//! request's extensions.
//!
//! The messages are derived by hand with `prost::Message`, so no `protoc`
//! is needed; with generated code (`tonic-build`), the layer is used the
//! same way. The demo starts the server on 127.0.0.1, calls it with a real
//! tonic client, and prints what each call got.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerLayer, Claims, RequireLayer, Requirement, Validator};
use tonic::body::Body;
use tonic::codegen::http;
use tonic::server::{NamedService, UnaryService};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// `payments.Payments/Charge`'s request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChargeRequest {
    /// The amount, in cents.
    #[prost(uint64, tag = "1")]
    pub amount_cents: u64,
}

/// `payments.Payments/Charge`'s answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChargeReply {
    /// Who the charge was made for: the token's `sub`.
    #[prost(string, tag = "1")]
    pub subject: String,
    /// The client that asked: the token's `client_id`.
    #[prost(string, tag = "2")]
    pub client_id: String,
    /// The amount charged.
    #[prost(uint64, tag = "3")]
    pub amount_cents: u64,
}

/// The method's full path.
pub const CHARGE: &str = "/payments.Payments/Charge";

/// The `payments.Payments` service, as `tonic-build` would generate it.
#[derive(Clone, Default)]
pub struct Payments;

impl NamedService for Payments {
    const NAME: &'static str = "payments.Payments";
}

impl tower::Service<http::Request<Body>> for Payments {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        match req.uri().path() {
            CHARGE => Box::pin(async move {
                let codec = ProstCodec::<ChargeReply, ChargeRequest>::default();
                Ok(tonic::server::Grpc::new(codec).unary(Charge, req).await)
            }),
            _ => Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) }),
        }
    }
}

/// The handler of `Charge`.
struct Charge;

impl UnaryService<ChargeRequest> for Charge {
    type Response = ChargeReply;
    type Future = BoxFuture<Result<Response<ChargeReply>, Status>>;

    fn call(&mut self, request: Request<ChargeRequest>) -> Self::Future {
        // The layer put the verified claims in the extensions.
        let claims = request.extensions().get::<Claims>().cloned();
        let amount_cents = request.get_ref().amount_cents;
        Box::pin(async move {
            let claims = claims.ok_or_else(|| Status::internal("no BearerLayer in front"))?;
            Ok(Response::new(ChargeReply {
                subject: claims.subject().unwrap_or_default().to_owned(),
                client_id: claims.client_id().unwrap_or_default().to_owned(),
                amount_cents,
            }))
        })
    }
}

/// Serves `Payments` on `listener` behind `BearerLayer` (realm `payments`)
/// and a requirement of the scope `charge:customer`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    validator: Validator,
) -> Result<(), BoxError> {
    Server::builder()
        .layer(BearerLayer::new(validator).realm("payments"))
        .layer(RequireLayer::new(Requirement::scopes_all([
            "charge:customer",
        ])))
        .add_service(Payments)
        .serve_with_incoming(TcpIncoming::from(listener))
        .await?;
    Ok(())
}

/// Calls `Charge` at `addr` with `authorization` (if any) as metadata.
pub async fn charge(
    addr: SocketAddr,
    authorization: Option<&str>,
    amount_cents: u64,
) -> Result<ChargeReply, Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| Status::internal(e.to_string()))?
        .connect()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = Request::new(ChargeRequest { amount_cents });
    if let Some(value) = authorization {
        let value = value
            .parse()
            .map_err(|_| Status::invalid_argument("bad metadata"))?;
        request.metadata_mut().insert("authorization", value);
    }
    let codec = ProstCodec::<ChargeRequest, ChargeReply>::default();
    let path = http::uri::PathAndQuery::from_static(CHARGE);
    Ok(client.unary(request, path, codec).await?.into_inner())
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
        .claim("client_id", "order-service")
        .scope("charge:customer")
        .sign();
    let reply = charge(addr, Some(&format!("Bearer {good}")), 1250).await?;
    println!(
        "with the scope: OK, charged {} cents for {} (client {})",
        reply.amount_cents, reply.subject, reply.client_id
    );
    let show = |what: &str, result: Result<ChargeReply, Status>| match result {
        Ok(_) => println!("{what}: OK"),
        Err(status) => println!(
            "{what}: {:?}, www-authenticate: {}",
            status.code(),
            status
                .metadata()
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
        ),
    };
    show("without a token", charge(addr, None, 1).await);
    show(
        "with a garbage token",
        charge(addr, Some("Bearer not.a.token"), 1).await,
    );
    let narrow = issuer.token().scope("read").sign();
    show(
        "without the scope",
        charge(addr, Some(&format!("Bearer {narrow}")), 1).await,
    );
    Ok(())
}
