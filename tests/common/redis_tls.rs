//! TLS for the test `redis-server`s: a test CA made with rcgen, and
//! servers that speak only TLS.

use super::redis_server::{AGE_BEFORE_USE, RedisServer, TempDir, free_port};

impl RedisServer {
    /// Starts a TLS-only server on a free port with `pki`'s server
    /// certificate; `client_certificates`: whether it asks clients for a
    /// certificate signed by the test CA (`tls-auth-clients yes`).
    pub fn start_tls(pki: &TestPki, client_certificates: bool) -> RedisServer {
        let port = free_port();
        let dir = pki.dir.path();
        let args = vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            dir.join("server.pem").display().to_string(),
            "--tls-key-file".into(),
            dir.join("server.key").display().to_string(),
            "--tls-ca-cert-file".into(),
            dir.join("ca.pem").display().to_string(),
            "--tls-auth-clients".into(),
            if client_certificates { "yes" } else { "no" }.into(),
        ];
        let mut server = RedisServer::spawn(port, args, true);
        server.ca_file = Some(dir.join("ca.pem"));
        // redis-cli presents a client certificate when the server asks.
        server.cli_client = client_certificates.then(|| {
            std::fs::write(dir.join("client.pem"), &pki.client_cert_pem).unwrap();
            std::fs::write(dir.join("client.key"), &pki.client_key_pem).unwrap();
            (dir.join("client.pem"), dir.join("client.key"))
        });
        server.wait_until_uptime(AGE_BEFORE_USE);
        server
    }
}

/// A test CA, a server certificate for 127.0.0.1 signed by it, and a
/// client certificate signed by it, as PEM files in a directory of their
/// own.
pub struct TestPki {
    pub dir: TempDir,
    pub ca_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl TestPki {
    pub fn new() -> TestPki {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "bearer-guard test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let server_key = KeyPair::generate().unwrap();
        let server = CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&server_key, &ca)
            .unwrap();
        let client_key = KeyPair::generate().unwrap();
        let mut client = CertificateParams::new(vec!["replica.test".to_owned()]).unwrap();
        client
            .extended_key_usages
            .push(rcgen::ExtendedKeyUsagePurpose::ClientAuth);
        let client = client.signed_by(&client_key, &ca).unwrap();
        let dir = TempDir::new();
        std::fs::write(dir.path().join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.path().join("server.pem"), server.pem()).unwrap();
        std::fs::write(dir.path().join("server.key"), server_key.serialize_pem()).unwrap();
        TestPki {
            dir,
            ca_pem: ca.pem(),
            client_cert_pem: client.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }
}
