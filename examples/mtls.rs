//! Certificate-bound access tokens (RFC 8705 §3) over real mutual TLS.
//!
//! ```text
//! cargo run --example mtls
//! ```
//!
//! A Payment Service behind rustls that asks clients for a certificate; the
//! certificate of each connection is put in the request extensions as a
//! [`ClientCertificate`], where the [`BearerLayer`] finds it. A token whose
//! `cnf.x5t#S256` names that certificate is accepted from its holder only:
//! the same token over a connection with another certificate, or none, is
//! refused. Everything runs on 127.0.0.1 with a throw-away PKI; the example
//! prints each call and exits 0 when every answer is the expected one.
//!
//! The part to copy into a real server is [`serve_tls`]: accept TLS, read
//! the peer's certificate, insert it, serve the router.

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerLayer, Claims, extract::ClientCertificate};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use tower::ServiceExt as _;

type BoxError = Box<dyn Error + Send + Sync>;

/// A certificate and its key, PEM and DER.
#[derive(Clone)]
pub struct Credential {
    pub der: CertificateDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
    pub key_der: Vec<u8>,
}

/// A throw-away PKI: a CA, the server's certificate for `localhost`, and
/// two client certificates.
#[derive(Clone)]
pub struct Pki {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub server: Credential,
    pub client: Credential,
    pub other_client: Credential,
}

fn leaf(
    ca: &CertifiedIssuer<'_, KeyPair>,
    name: &str,
    usage: ExtendedKeyUsagePurpose,
) -> Result<Credential, BoxError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![name.to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, ca)?;
    Ok(Credential {
        der: cert.der().clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        key_der: key.serialize_der(),
    })
}

impl Pki {
    pub fn generate() -> Result<Pki, BoxError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "bearer-guard example CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Pki {
            server: leaf(&ca, "localhost", ExtendedKeyUsagePurpose::ServerAuth)?,
            client: leaf(&ca, "order-service", ExtendedKeyUsagePurpose::ClientAuth)?,
            other_client: leaf(&ca, "someone-else", ExtendedKeyUsagePurpose::ClientAuth)?,
            ca_pem: ca.pem(),
            ca_der: ca.der().clone(),
        })
    }
}

/// The `cnf.x5t#S256` of a certificate: base64url of its SHA-256 (RFC 8705 §3.1).
pub fn thumbprint(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der))
}

/// Serves `app` over TLS on `listener`, asking every client for a
/// certificate signed by `ca` (optional: a client without one reaches the
/// layer, which refuses certificate-bound tokens). Each request carries its
/// connection's certificate as a [`ClientCertificate`].
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    pki: &Pki,
) -> Result<(), BoxError> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca_der.clone())?;
    let verifier = WebPkiClientVerifier::builder(Arc::new(roots))
        .allow_unauthenticated()
        .build()?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server.key_der.clone()));
    let config = ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server.der.clone()], key)?;
    let acceptor = TlsAcceptor::from(Arc::new(config));
    loop {
        let (tcp, _) = listener.accept().await?;
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            // The certificate the client proved it holds in the handshake.
            let certificate = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|der| ClientCertificate::new(der.as_ref().to_vec()));
            let service = app.map_request(move |mut req: http::Request<hyper::body::Incoming>| {
                if let Some(c) = &certificate {
                    req.extensions_mut().insert(c.clone());
                }
                req
            });
            let _ = Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(service))
                .await;
        });
    }
}

/// What the example observed: the status of each call.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub holder: u16,
    pub other_certificate: u16,
    pub no_certificate: u16,
    pub unbound_token_without_certificate: u16,
}

/// Runs the whole scenario on 127.0.0.1.
pub async fn run() -> Result<Outcome, BoxError> {
    let pki = Pki::generate()?;
    let issuer = TestIssuer::new().default_audience("payments");
    let validator = issuer.validator();
    let app = Router::new()
        .route(
            "/me",
            get(|c: Claims| async move {
                format!(
                    "hello {}, bound to {}",
                    c.client_id().unwrap_or("?"),
                    c.certificate_thumbprint().unwrap_or("nothing")
                )
            }),
        )
        .layer(BearerLayer::new(validator).realm("payments"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr: SocketAddr = listener.local_addr()?;
    let server = {
        let pki = pki.clone();
        tokio::spawn(async move { serve_tls(listener, app, &pki).await })
    };

    // The token the authorization server issued to the holder of the client
    // certificate (RFC 8705 §3.1).
    let token = issuer
        .token()
        .claim("client_id", "order-service")
        .claim(
            "cnf",
            serde_json::json!({ "x5t#S256": thumbprint(&pki.client.der) }),
        )
        .sign();
    let unbound = issuer.token().sign();

    let client = |identity: Option<&Credential>| -> Result<reqwest::Client, BoxError> {
        let mut builder = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(pki.ca_pem.as_bytes())?])
            .resolve("localhost", addr);
        if let Some(id) = identity {
            let pem = format!("{}{}", id.cert_pem, id.key_pem);
            builder = builder.identity(reqwest::Identity::from_pem(pem.as_bytes())?);
        }
        Ok(builder.build()?)
    };
    let url = format!("https://localhost:{}/me", addr.port());
    let call = |client: reqwest::Client, token: String, label: &'static str| {
        let url = url.clone();
        async move {
            let r = client.get(url).bearer_auth(token).send().await?;
            let status = r.status().as_u16();
            let challenge = r
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap_or("").to_owned());
            let body = r.text().await?;
            println!("{label:<45} {status} {}", challenge.unwrap_or(body));
            Ok::<u16, BoxError>(status)
        }
    };
    let outcome = Outcome {
        holder: call(
            client(Some(&pki.client))?,
            token.clone(),
            "holder of the bound certificate:",
        )
        .await?,
        other_certificate: call(
            client(Some(&pki.other_client))?,
            token.clone(),
            "another client certificate:",
        )
        .await?,
        no_certificate: call(client(None)?, token.clone(), "no client certificate:").await?,
        unbound_token_without_certificate: call(
            client(None)?,
            unbound,
            "an unbound token, no certificate:",
        )
        .await?,
    };
    server.abort();
    Ok(outcome)
}

#[allow(dead_code)]
#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let outcome = run().await?;
    let expected = Outcome {
        holder: 200,
        other_certificate: 401,
        no_certificate: 401,
        unbound_token_without_certificate: 200,
    };
    if outcome != expected {
        return Err(format!("unexpected answers: {outcome:?}").into());
    }
    println!("every answer as RFC 8705 says");
    Ok(())
}
