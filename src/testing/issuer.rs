//! The issuer's side of the test kit: keys ([`TestKey`]), the issuer
//! ([`TestIssuer`]), the tokens it mints ([`TokenBuilder`]) and a client's
//! DPoP key ([`DpopKey`]).
//!
//! Test helpers panic on a test author's mistakes (a key that cannot sign
//! the requested algorithm, an unknown `kid`), with a message that says so,
//! as `assert!` would: no untrusted input reaches this module (the served
//! issuer's network side is `oauth` and `server`, where the crate's lints
//! hold).
#![allow(
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::unreachable
)]

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::fill;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::clock::Clock;
use crate::keys::Algorithm;
use crate::keys::SigningKey;
use crate::keys::signing::hmac_sign;
use crate::validator::{Validator, ValidatorBuilder};

/// The issuer URL a [`TestIssuer::new`] uses.
pub const DEFAULT_ISSUER: &str = "https://issuer.test";

/// The audience minted tokens carry unless told otherwise.
pub const DEFAULT_AUDIENCE: &str = "test-audience";

/// A signing key with its `kid` and default algorithm. Cloning is cheap:
/// clones share the key material.
#[derive(Clone)]
pub struct TestKey {
    kid: String,
    key: Arc<SigningKey>,
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("alg", &self.key.alg())
            .finish_non_exhaustive()
    }
}

impl TestKey {
    /// Generates a key for `alg` (RSA keys are 2048-bit), with `kid` set to
    /// the lowercase algorithm name. HMAC keys get a random secret as long as
    /// the hash.
    pub fn generate(alg: Algorithm) -> Self {
        Self::from_signing_key(SigningKey::generate(alg))
    }

    /// An HMAC key with the given secret (of any length, so that tests can
    /// also try secrets a validator must refuse).
    pub fn hmac(secret: &[u8], alg: Algorithm) -> Self {
        assert!(alg.is_symmetric(), "{alg} is not an HMAC algorithm");
        Self::from_signing_key(SigningKey::hmac_unchecked(secret, alg))
    }

    /// Wraps a signing key; its `kid`, or else the lowercase algorithm name.
    pub fn from_signing_key(key: SigningKey) -> Self {
        let kid = key
            .kid()
            .map_or_else(|| key.alg().as_str().to_ascii_lowercase(), str::to_owned);
        TestKey {
            kid,
            key: Arc::new(key),
        }
    }

    /// Sets the `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm tokens signed with this key use by default.
    pub fn alg(&self) -> Algorithm {
        self.key.alg()
    }

    /// The HMAC secret, for HMAC keys.
    pub fn secret(&self) -> Option<&[u8]> {
        self.key.secret()
    }

    /// The private key as PKCS#8 DER (to sign with another JWT library in
    /// interoperability tests). `None` for HMAC keys.
    pub fn private_pkcs8_der(&self) -> Option<Vec<u8>> {
        self.key.private_pkcs8_der()
    }

    /// The public key as a JWK with `kid`, `alg` and `use: sig`. `None` for
    /// HMAC keys, which have no public form.
    pub fn public_jwk(&self) -> Option<Value> {
        let mut jwk = self.key.public_jwk()?;
        jwk["kid"] = json!(self.kid);
        Some(jwk)
    }

    /// The public key as PEM (`PUBLIC KEY`, SubjectPublicKeyInfo). `None` for
    /// HMAC keys.
    pub fn public_pem(&self) -> Option<String> {
        self.key.public_pem()
    }

    /// Signs `message` with `alg`.
    ///
    /// # Panics
    ///
    /// If this key cannot produce `alg` (an EC key asked for RS256, say): a
    /// mistake in the test itself.
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Vec<u8> {
        self.key
            .sign(alg, message)
            .unwrap_or_else(|| panic!("a {} key cannot sign {alg}", self.key.alg()))
    }
}

/// A stand-in authorization server: keys, a JWKS, and a token minter.
/// Cloning is cheap (the keys are shared) and gives an issuer of its own:
/// keys added to or removed from one do not change the other.
#[derive(Clone)]
pub struct TestIssuer {
    issuer: String,
    audience: String,
    keys: Vec<TestKey>,
    clock: Clock,
}

impl fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIssuer")
            .field("issuer", &self.issuer)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl Default for TestIssuer {
    fn default() -> Self {
        Self::new()
    }
}

impl TestIssuer {
    /// An issuer at [`DEFAULT_ISSUER`] with one RS256 key (`kid: "rs256"`).
    pub fn new() -> Self {
        Self::with_keys(vec![TestKey::generate(Algorithm::RS256)])
    }

    /// An issuer at [`DEFAULT_ISSUER`] with the given keys; the first signs
    /// by default.
    ///
    /// # Panics
    ///
    /// If `keys` is empty.
    pub fn with_keys(keys: Vec<TestKey>) -> Self {
        assert!(!keys.is_empty(), "a TestIssuer needs at least one key");
        TestIssuer {
            issuer: DEFAULT_ISSUER.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            keys,
            clock: Clock::System,
        }
    }

    /// Sets the issuer URL (the `iss` of minted tokens).
    pub fn issuer_url(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// Sets the audience minted tokens carry by default.
    pub fn default_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Sets the clock that `iat` and `exp` of minted tokens are relative to.
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Adds a key (it does not become the default signer).
    pub fn add_key(&mut self, key: TestKey) {
        self.keys.push(key);
    }

    /// Removes the key with `kid`, as a key rotation at the AS would. When
    /// it was the default signer, the next key signs.
    pub fn remove_key(&mut self, kid: &str) {
        self.keys.retain(|k| k.kid != kid);
    }

    /// Makes the key `kid` the default signer (the first of
    /// [`keys`](Self::keys)): the step of a key rotation after the new key
    /// was published beside the old one.
    ///
    /// ```
    /// use bearer_guard::keys::Algorithm;
    /// use bearer_guard::testing::{TestIssuer, TestKey};
    ///
    /// let mut issuer = TestIssuer::new();
    /// issuer.add_key(TestKey::generate(Algorithm::ES256).with_kid("next"));
    /// issuer.sign_with("next");
    /// assert_eq!(issuer.keys()[0].kid(), "next");
    /// ```
    ///
    /// # Panics
    ///
    /// If the issuer has no such key.
    pub fn sign_with(&mut self, kid: &str) {
        let at = self
            .keys
            .iter()
            .position(|k| k.kid == kid)
            .unwrap_or_else(|| panic!("TestIssuer has no key {kid:?}"));
        let key = self.keys.remove(at);
        self.keys.insert(0, key);
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The keys, default signer first.
    pub fn keys(&self) -> &[TestKey] {
        &self.keys
    }

    /// The JWKS document of the public keys.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.keys.iter().filter_map(TestKey::public_jwk).collect();
        json!({ "keys": keys })
    }

    /// The JWKS document as a JSON string.
    pub fn jwks_json(&self) -> String {
        self.jwks().to_string()
    }

    /// A builder preset with this issuer, its JWKS, its HMAC secrets if any,
    /// and its clock (no audience: add the one to accept).
    pub fn validator_builder(&self) -> ValidatorBuilder {
        let mut builder = Validator::builder()
            .issuer(self.issuer.clone())
            .clock(self.clock.clone());
        if self.keys.iter().any(|k| k.public_jwk().is_some()) {
            builder = builder.jwks_json(self.jwks_json());
        }
        for key in &self.keys {
            if let Some(secret) = key.secret() {
                builder = builder.hmac_secret(secret, key.alg(), Some(&key.kid));
            }
        }
        builder
    }

    /// A validator trusting this issuer for the audience its tokens carry by
    /// default ([`default_audience`](Self::default_audience)), so that
    /// `issuer.validator()` accepts `issuer.token().sign()`. For another
    /// audience, use [`validator_builder`](Self::validator_builder).
    ///
    /// # Panics
    ///
    /// If the validator cannot be built (a bug in the test set-up).
    pub fn validator(&self) -> Validator {
        self.validator_builder()
            .audience(self.audience.clone())
            .build()
            .expect("TestIssuer validator")
    }

    /// The audience minted tokens carry by default.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Now, on the issuer's clock.
    pub(crate) fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The issuer's clock.
    pub(crate) fn clock_handle(&self) -> &Clock {
        &self.clock
    }

    /// Sets the issuer URL in place (a served issuer takes its server's).
    pub(crate) fn set_issuer_url(&mut self, issuer: String) {
        self.issuer = issuer;
    }

    /// Starts minting a token signed by the default key, with the claims of a
    /// typical client-credentials access token: `iss`, `sub`, `aud`
    /// ([`DEFAULT_AUDIENCE`]), `iat` now, `exp` in 5 minutes, a random `jti`
    /// and `client_id`; header `typ: at+jwt` and the key's `alg` and `kid`.
    ///
    /// # Panics
    ///
    /// If the issuer has no key left (all were
    /// [removed](Self::remove_key)).
    pub fn token(&self) -> TokenBuilder {
        self.try_token()
            .expect("the TestIssuer has no key to sign with (add one with add_key)")
    }

    /// [`token`](Self::token), or `None` without a key (or random source).
    pub(crate) fn try_token(&self) -> Option<TokenBuilder> {
        let key = self.keys.first()?.clone();
        let now = self.clock.now();
        let mut jti = [0u8; 12];
        fill(&mut jti).ok()?;
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer));
        claims.insert("sub".into(), json!("test-subject"));
        claims.insert("aud".into(), json!(self.audience));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now.saturating_add(300)));
        claims.insert("jti".into(), json!(URL_SAFE_NO_PAD.encode(jti)));
        claims.insert("client_id".into(), json!("test-client"));
        let mut header = Map::new();
        header.insert("alg".into(), json!(key.alg().as_str()));
        header.insert("typ".into(), json!("at+jwt"));
        header.insert("kid".into(), json!(key.kid));
        Some(TokenBuilder {
            keys: self.keys.clone(),
            key,
            now,
            header,
            claims,
        })
    }
}

/// Mints one token; see [`TestIssuer::token`] for the defaults. It holds
/// (shares) the issuer's keys as they were when it started, so it outlives
/// the issuer it came from.
#[must_use]
pub struct TokenBuilder {
    /// The issuer's keys, for [`key`](Self::key).
    keys: Vec<TestKey>,
    key: TestKey,
    now: i64,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl fmt::Debug for TokenBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenBuilder")
            .field("header", &self.header)
            .field("claims", &self.claims)
            .finish_non_exhaustive()
    }
}

impl TokenBuilder {
    /// Signs with the issuer's key `kid` (and its `alg` and `kid` in the header).
    ///
    /// # Panics
    ///
    /// If the issuer has no such key.
    pub fn key(self, kid: &str) -> Self {
        let key = self
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .cloned()
            .unwrap_or_else(|| panic!("TestIssuer has no key {kid:?}"));
        self.signing_key(&key)
    }

    /// Signs with any key, for example one the validator does not know (its
    /// `alg` and `kid` go in the header).
    pub fn signing_key(mut self, key: &TestKey) -> Self {
        self.key = key.clone();
        self.header.insert("alg".into(), json!(key.alg().as_str()));
        self.header.insert("kid".into(), json!(key.kid));
        self
    }

    /// Sets a header member (including `alg`, `kid`, `typ`, `crit`, `jku`...).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header member.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Sets a claim (any JSON value).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// Sets `aud` to one audience.
    pub fn audience(self, aud: &str) -> Self {
        self.claim("aud", aud)
    }

    /// Sets `aud` to an array.
    pub fn audiences(self, aud: &[&str]) -> Self {
        self.claim("aud", json!(aud))
    }

    /// Sets `scope` (space-separated).
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }

    /// Sets `exp` to `secs` from now (negative: already expired).
    pub fn expires_in(self, secs: i64) -> Self {
        let exp = self.now.saturating_add(secs);
        self.claim("exp", exp)
    }

    /// The signing input and the algorithm the header names.
    fn signing_input(&self) -> (String, Option<Algorithm>) {
        let header = Value::Object(self.header.clone()).to_string();
        let claims = Value::Object(self.claims.clone()).to_string();
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let alg = self
            .header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(|a| a.parse().ok());
        (input, alg)
    }

    /// Binds the token to a DPoP key: `cnf.jkt` is its thumbprint (RFC 9449 §6.1).
    pub fn dpop_bound(self, key: &DpopKey) -> Self {
        self.claim("cnf", json!({ "jkt": key.thumbprint() }))
    }

    /// Signs with the key and the header's `alg`.
    ///
    /// # Panics
    ///
    /// If the header's `alg` is not one the key can produce; use
    /// [`sign_hmac`](Self::sign_hmac), [`unsigned`](Self::unsigned) or
    /// [`with_signature`](Self::with_signature) for deliberately odd tokens.
    pub fn sign(self) -> String {
        self.try_sign()
            .expect("the header alg is not an algorithm this key can sign")
    }

    /// The claims as they stand (what the introspection answer of an
    /// opaque token carries).
    pub(crate) fn into_claims(self) -> Map<String, Value> {
        self.claims
    }

    /// [`sign`](Self::sign), or `None` if the key cannot sign the header's
    /// `alg`.
    pub(crate) fn try_sign(self) -> Option<String> {
        let (input, alg) = self.signing_input();
        let signature = self.key.key.sign(alg?, input.as_bytes())?;
        Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// HMAC-signs with `secret` using the header's `alg` (which this sets to
    /// HS256 unless it already names an HMAC algorithm). With a public key's
    /// bytes as `secret`, this is the classic algorithm-confusion attack.
    pub fn sign_hmac(mut self, secret: &[u8]) -> String {
        let (_, alg) = self.signing_input();
        let alg = match alg {
            Some(a) if a.is_symmetric() => a,
            _ => {
                self.header.insert("alg".into(), json!("HS256"));
                Algorithm::HS256
            }
        };
        let (input, _) = self.signing_input();
        let signature = hmac_sign(secret, alg, input.as_bytes()).expect("an HMAC algorithm");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// An unsecured JWS: `alg: none` and an empty signature (RFC 7519 §6).
    pub fn unsigned(self) -> String {
        let (input, _) = self.header("alg", "none").signing_input();
        format!("{input}.")
    }

    /// A token whose signature segment is `signature` (raw bytes, encoded here).
    pub fn with_signature(self, signature: &[u8]) -> String {
        let (input, _) = self.signing_input();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// A correctly signed token with one bit of the signature flipped.
    pub fn tampered(self) -> String {
        let (input, alg) = self.signing_input();
        let alg = alg.expect("the header alg is not an algorithm this key can sign");
        let mut signature = self.key.sign(alg, input.as_bytes());
        signature[0] ^= 0x01;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// A client's DPoP key (RFC 9449), minting proofs for tests: the holder
/// side of a DPoP-bound token.
///
/// ```
/// use bearer_guard::{keys::Algorithm, dpop::DpopOptions};
/// use bearer_guard::testing::{DpopKey, TestIssuer};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let issuer = TestIssuer::new();
/// let validator = issuer.validator_builder().audience(issuer.audience())
///     .dpop(DpopOptions::new()).build().unwrap();
/// let client = DpopKey::generate(Algorithm::ES256);
/// let token = issuer.token().dpop_bound(&client).sign();
/// let uri = "https://api.example.com/orders";
/// let proof = client.proof("GET", uri, &token).sign();
/// assert!(validator.validate_dpop(&token, &proof, "GET", uri).await.is_ok());
/// // A second use of the same proof is a replay.
/// assert!(validator.validate_dpop(&token, &proof, "GET", uri).await.is_err());
/// # });
/// ```
pub struct DpopKey {
    key: TestKey,
}

impl fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.key.alg())
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A fresh key pair for `alg` (an asymmetric algorithm).
    pub fn generate(alg: Algorithm) -> Self {
        DpopKey {
            key: TestKey::generate(alg),
        }
    }

    /// The public key as a JWK (no `kid`).
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.key.public_jwk().expect("an asymmetric key");
        if let Some(members) = jwk.as_object_mut() {
            members.remove("kid");
            members.remove("alg");
            members.remove("use");
        }
        jwk
    }

    /// The RFC 7638 thumbprint of the public key: the token's `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        crate::keys::VerificationKey::from_jwk(&self.public_jwk())
            .ok()
            .and_then(|k| k.thumbprint())
            .expect("a public key")
    }

    /// A proof for a request with `method` to `uri` carrying `token`: `typ`
    /// `dpop+jwt`, the key's `alg` and public `jwk`; a random `jti`, `iat`
    /// now (system clock), `htm`, `htu` and `ath`. Change any member before
    /// signing.
    pub fn proof(&self, method: &str, uri: &str, token: &str) -> ProofBuilder<'_> {
        let mut jti = [0u8; 16];
        fill(&mut jti).expect("the system's random source");
        let now = Clock::System.now();
        let ath = URL_SAFE_NO_PAD.encode(crate::digest::sha256(token.as_bytes()));
        let header = json!({
            "typ": "dpop+jwt",
            "alg": self.key.alg().as_str(),
            "jwk": self.public_jwk(),
        });
        let claims = json!({
            "jti": URL_SAFE_NO_PAD.encode(jti),
            "htm": method,
            "htu": uri,
            "iat": now,
            "ath": ath,
        });
        let (Value::Object(header), Value::Object(claims)) = (header, claims) else {
            unreachable!("objects")
        };
        ProofBuilder {
            key: self,
            header,
            claims,
        }
    }
}

/// A DPoP proof being minted ([`DpopKey::proof`]).
#[derive(Debug)]
pub struct ProofBuilder<'a> {
    key: &'a DpopKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl ProofBuilder<'_> {
    /// Sets a header member.
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }

    /// Removes a header member.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Sets a claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets `iat`.
    pub fn issued_at(self, iat: i64) -> Self {
        self.claim("iat", iat)
    }

    /// Sets the server nonce (`nonce`).
    pub fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", nonce)
    }

    /// Signs with the key and its algorithm.
    pub fn sign(self) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(self.header).to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(self.claims).to_string())
        );
        let key = &self.key.key;
        let signature = key.sign(key.alg(), input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}
