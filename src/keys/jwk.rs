//! One verification key: parsed from a JWK, a PEM public key or an HMAC
//! secret, checked, bound to the algorithms it may verify, and identified by
//! its RFC 7638 thumbprint.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::algorithm::{Algorithm, AlgorithmSet};
use super::error::KeyError;

/// What kind of key a [`VerificationKey`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// RSA, with its modulus length in bits.
    Rsa {
        /// Modulus length in bits.
        bits: usize,
    },
    /// ECDSA on P-256.
    EcP256,
    /// ECDSA on P-384.
    EcP384,
    /// Ed25519.
    Ed25519,
    /// A shared HMAC secret.
    Hmac,
}

enum Verifier {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// One key, parsed, checked, and bound to the algorithms it may verify.
pub struct VerificationKey {
    pub(super) kid: Option<String>,
    key_type: KeyType,
    pub(super) algorithms: AlgorithmSet,
    verifiers: Vec<(Algorithm, Verifier)>,
    /// What the key is, whatever its `kid`: shared with every binding of
    /// a verification by it (a cached token holds one pointer).
    pub(super) identity: Arc<KeyIdentity>,
}

/// A key's material and the issuer its JWK names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KeyIdentity {
    /// SHA-256 of the key's RFC 7638 thumbprint input: the key material.
    pub(super) thumbprint: [u8; 32],
    /// The JWK's `issuer` member (Microsoft Entra ID), if any.
    pub(super) issuer: Option<Arc<str>>,
}

impl KeyIdentity {
    fn of(thumbprint: [u8; 32]) -> Arc<KeyIdentity> {
        Arc::new(KeyIdentity {
            thumbprint,
            issuer: None,
        })
    }
}

/// Which key verified a token, and for which algorithm: a verification is
/// only as good as this key, so a cached result is trusted only while a key
/// set still holds a key with the same material that may verify `alg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyBinding {
    pub(super) identity: Arc<KeyIdentity>,
    pub(super) alg: Algorithm,
}

impl KeyBinding {
    /// The issuer the key's JWK names, if any: checked against the token's
    /// claims after the signature ([`key_vouches_for`]).
    pub(crate) fn issuer(&self) -> Option<&Arc<str>> {
        self.identity.issuer.as_ref()
    }

    /// The key and the algorithm, apart (the verified-token cache keeps
    /// them so, in fewer bytes).
    pub(crate) fn into_parts(self) -> (Arc<KeyIdentity>, Algorithm) {
        (self.identity, self.alg)
    }
}

impl KeyIdentity {
    /// Whether `key` is this key: the same material, and the same issuer
    /// named in its JWK (a key republished for another issuer no longer
    /// vouches for the tokens it verified for the first).
    pub(super) fn is(self: &Arc<Self>, key: &VerificationKey) -> bool {
        Arc::ptr_eq(self, &key.identity) || **self == *key.identity
    }
}

/// The SHA-256 of an RFC 7638 thumbprint input: the required members, in
/// lexicographic order, as JSON without whitespace. Every value here is a
/// base64url string or a fixed name, so none needs escaping.
fn thumbprint(members: &[(&str, &str)]) -> [u8; 32] {
    let mut json = String::from("{");
    for (i, (name, value)) in members.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push('"');
        json.push_str(name);
        json.push_str("\":\"");
        json.push_str(value);
        json.push('"');
    }
    json.push('}');
    crate::digest::sha256(json.as_bytes())
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

impl VerificationKey {
    /// The key id, if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The kind of key.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The algorithms this key may verify.
    pub fn algorithms(&self) -> AlgorithmSet {
        self.algorithms
    }

    /// The key's JWK SHA-256 thumbprint (RFC 7638), base64url-encoded: the
    /// same whatever its `kid`, `alg` or `use`. `None` for HMAC secrets,
    /// whose thumbprint would be a hash of the secret.
    pub fn thumbprint(&self) -> Option<String> {
        match self.key_type {
            KeyType::Hmac => None,
            _ => Some(URL_SAFE_NO_PAD.encode(self.identity.thumbprint)),
        }
    }

    /// The issuer the key's JWK names in its `issuer` member, a Microsoft
    /// Entra ID extension (`https://login.microsoftonline.com/{tenantid}/v2.0`
    /// for keys of every tenant, a concrete issuer for a tenant's own keys).
    /// A token verified with such a key must name a matching issuer.
    pub fn issuer(&self) -> Option<&str> {
        self.identity.issuer.as_deref()
    }

    /// Returns a copy of this key with `kid` set.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// Parses one JWK (RFC 7517 §4) given as JSON.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, KeyError> {
        let raw = RawJwk::deserialize(jwk).map_err(|_| raw_jwk_error(jwk))?;
        raw.into_key()
    }

    /// Parses a PEM public key: `PUBLIC KEY` (SubjectPublicKeyInfo, for RSA,
    /// P-256, P-384 or Ed25519) or `RSA PUBLIC KEY` (PKCS#1). The key gets no
    /// `kid`; set one with [`with_kid`](Self::with_kid).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let parsed = super::pem::parse(pem).ok_or(KeyError::NotPem)?;
        let der = parsed.der.as_slice();
        match parsed.label.as_str() {
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {}
            other => {
                return Err(KeyError::PemLabel {
                    expected: "PUBLIC KEY or RSA PUBLIC KEY",
                    found: other.to_owned(),
                });
            }
        }
        if let Ok(rsa) = aws_lc_rs::rsa::PublicKey::from_der(der) {
            return rsa_key(
                None,
                rsa.modulus().big_endian_without_leading_zero(),
                rsa.exponent().big_endian_without_leading_zero(),
                None,
            );
        }
        if parsed.label == "PUBLIC KEY" {
            for (key_type, alg, verify) in [
                (
                    KeyType::EcP256,
                    Algorithm::ES256,
                    &sig::ECDSA_P256_SHA256_FIXED as &'static dyn sig::VerificationAlgorithm,
                ),
                (
                    KeyType::EcP384,
                    Algorithm::ES384,
                    &sig::ECDSA_P384_SHA384_FIXED,
                ),
                (KeyType::Ed25519, Algorithm::EdDSA, &sig::ED25519),
            ] {
                if let Ok(parsed) = ParsedPublicKey::new(verify, der) {
                    // The SubjectPublicKeyInfo ends with the public key: the
                    // uncompressed point (0x04 || x || y), or Ed25519's 32 bytes.
                    let len = match key_type {
                        KeyType::EcP256 => 65,
                        KeyType::EcP384 => 97,
                        _ => 32,
                    };
                    let raw = der
                        .len()
                        .checked_sub(len)
                        .and_then(|start| der.get(start..))
                        .ok_or(KeyError::UnsupportedPublicKey)?;
                    let thumbprint = public_thumbprint(key_type, raw)?;
                    return Ok(single(
                        None,
                        key_type,
                        alg,
                        Verifier::Public(parsed),
                        thumbprint,
                    ));
                }
            }
        }
        Err(KeyError::UnsupportedPublicKey)
    }

    /// A shared HMAC secret for one algorithm (`HS256`, `HS384` or `HS512`).
    ///
    /// The secret must be at least as long as the hash output (32, 48 or 64
    /// bytes), as RFC 7518 §3.2 requires.
    pub fn hmac(secret: &[u8], alg: Algorithm) -> Result<Self, KeyError> {
        let (algorithm, min) = match alg {
            Algorithm::HS256 => (hmac::HMAC_SHA256, 32),
            Algorithm::HS384 => (hmac::HMAC_SHA384, 48),
            Algorithm::HS512 => (hmac::HMAC_SHA512, 64),
            other => return Err(KeyError::NotHmac(other)),
        };
        if secret.len() < min {
            return Err(KeyError::HmacSecretTooShort {
                alg,
                len: secret.len(),
                min,
            });
        }
        let k = URL_SAFE_NO_PAD.encode(secret);
        Ok(single(
            None,
            KeyType::Hmac,
            alg,
            Verifier::Hmac(Box::new(hmac::Key::new(algorithm, secret))),
            thumbprint(&[("k", &k), ("kty", "oct")]),
        ))
    }

    /// What a verification by this key for `alg` is bound to.
    pub(super) fn binding(&self, alg: Algorithm) -> KeyBinding {
        KeyBinding {
            identity: self.identity.clone(),
            alg,
        }
    }

    /// Verifies `signature` over `message` with `alg`. Returns `false` when the
    /// key may not verify `alg` or the signature is wrong.
    pub(crate) fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        self.verifiers
            .iter()
            .find(|(a, _)| *a == alg)
            .is_some_and(|(_, v)| match v {
                Verifier::Public(key) => key.verify_sig(message, signature).is_ok(),
                Verifier::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            })
    }
}

fn single(
    kid: Option<String>,
    key_type: KeyType,
    alg: Algorithm,
    verifier: Verifier,
    thumbprint: [u8; 32],
) -> VerificationKey {
    VerificationKey {
        kid,
        key_type,
        algorithms: AlgorithmSet::from_iter([alg]),
        verifiers: vec![(alg, verifier)],
        identity: KeyIdentity::of(thumbprint),
    }
}

/// The thumbprint of an EC point (`0x04 || x || y`) or an Ed25519 key.
fn public_thumbprint(key_type: KeyType, raw: &[u8]) -> Result<[u8; 32], KeyError> {
    let crv = match key_type {
        KeyType::EcP256 => "P-256",
        KeyType::EcP384 => "P-384",
        _ => {
            let x = URL_SAFE_NO_PAD.encode(raw);
            return Ok(thumbprint(&[("crv", "Ed25519"), ("kty", "OKP"), ("x", &x)]));
        }
    };
    let coordinates = match raw.split_first() {
        Some((0x04, rest)) => rest,
        _ => return Err(KeyError::InvalidEcPoint),
    };
    let (x, y) = coordinates.split_at(coordinates.len() / 2);
    let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
    Ok(thumbprint(&[
        ("crv", crv),
        ("kty", "EC"),
        ("x", &x),
        ("y", &y),
    ]))
}

/// The members of a JWK this crate reads; everything else is ignored
/// (including `x5c`, `x5u` and private members).
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    /// Microsoft Entra ID's issuer of the key.
    issuer: Option<String>,
}

/// Names the member that made `RawJwk` fail to deserialize.
fn raw_jwk_error(jwk: &serde_json::Value) -> KeyError {
    let Some(obj) = jwk.as_object() else {
        return KeyError::InvalidMember("(key is not a JSON object)");
    };
    match obj.get("kty") {
        None => return KeyError::MissingMember("kty"),
        Some(v) if !v.is_string() => return KeyError::InvalidMember("kty"),
        _ => {}
    }
    for name in ["kid", "use", "alg", "n", "e", "crv", "x", "y", "issuer"] {
        if obj
            .get(name)
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            return KeyError::InvalidMember(member_name(name));
        }
    }
    KeyError::InvalidMember("key_ops")
}

fn member_name(name: &str) -> &'static str {
    match name {
        "kid" => "kid",
        "use" => "use",
        "alg" => "alg",
        "n" => "n",
        "e" => "e",
        "crv" => "crv",
        "x" => "x",
        "y" => "y",
        _ => "issuer",
    }
}

impl RawJwk {
    fn into_key(mut self) -> Result<VerificationKey, KeyError> {
        let issuer = self.issuer.take();
        let mut key = self.into_unbound_key()?;
        key.identity = Arc::new(KeyIdentity {
            thumbprint: key.identity.thumbprint,
            issuer: issuer.map(Arc::from),
        });
        Ok(key)
    }

    fn into_unbound_key(self) -> Result<VerificationKey, KeyError> {
        if let Some(use_) = &self.use_
            && use_ != "sig"
        {
            return Err(KeyError::NotForSignatures);
        }
        if let Some(ops) = &self.key_ops
            && !ops.iter().any(|op| op == "verify")
        {
            return Err(KeyError::VerifyNotPermitted);
        }
        let alg = match self.alg.as_deref() {
            None => None,
            // RFC 9864's fully-specified name for EdDSA over Ed25519.
            Some("Ed25519") => Some(Algorithm::EdDSA),
            Some(name) => Some(
                name.parse::<Algorithm>()
                    .map_err(|_| KeyError::AlgorithmMismatch(name.to_owned()))?,
            ),
        };
        let mismatch = |alg: Algorithm| KeyError::AlgorithmMismatch(alg.as_str().to_owned());
        match self.kty.as_str() {
            "RSA" => {
                let n = decode_member(self.n.as_deref(), "n")?;
                let e = decode_member(self.e.as_deref(), "e")?;
                rsa_key(self.kid, strip_zeros(&n), strip_zeros(&e), alg)
            }
            "EC" => {
                let crv = self.crv.ok_or(KeyError::MissingMember("crv"))?;
                let (key_type, expected, verify, len): (
                    _,
                    _,
                    &'static sig::EcdsaVerificationAlgorithm,
                    _,
                ) = match crv.as_str() {
                    "P-256" => (
                        KeyType::EcP256,
                        Algorithm::ES256,
                        &sig::ECDSA_P256_SHA256_FIXED,
                        32,
                    ),
                    "P-384" => (
                        KeyType::EcP384,
                        Algorithm::ES384,
                        &sig::ECDSA_P384_SHA384_FIXED,
                        48,
                    ),
                    _ => return Err(KeyError::UnsupportedCurve(crv)),
                };
                if let Some(alg) = alg
                    && alg != expected
                {
                    return Err(mismatch(alg));
                }
                let x = decode_member(self.x.as_deref(), "x")?;
                let y = decode_member(self.y.as_deref(), "y")?;
                // RFC 7518 §6.2.1.2-3: coordinates are full-length.
                if x.len() != len || y.len() != len {
                    return Err(KeyError::InvalidEcPoint);
                }
                let mut point = Vec::with_capacity(97);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                let parsed =
                    ParsedPublicKey::new(verify, &point).map_err(|_| KeyError::InvalidEcPoint)?;
                let thumbprint = public_thumbprint(key_type, &point)?;
                Ok(single(
                    self.kid,
                    key_type,
                    expected,
                    Verifier::Public(parsed),
                    thumbprint,
                ))
            }
            "OKP" => {
                let crv = self.crv.ok_or(KeyError::MissingMember("crv"))?;
                if crv != "Ed25519" {
                    return Err(KeyError::UnsupportedCurve(crv));
                }
                if let Some(alg) = alg
                    && alg != Algorithm::EdDSA
                {
                    return Err(mismatch(alg));
                }
                let x = decode_member(self.x.as_deref(), "x")?;
                if x.len() != 32 {
                    return Err(KeyError::InvalidEd25519Key);
                }
                let parsed = ParsedPublicKey::new(&sig::ED25519, &x)
                    .map_err(|_| KeyError::InvalidEd25519Key)?;
                Ok(single(
                    self.kid,
                    KeyType::Ed25519,
                    Algorithm::EdDSA,
                    Verifier::Public(parsed),
                    public_thumbprint(KeyType::Ed25519, &x)?,
                ))
            }
            "oct" => Err(KeyError::SymmetricKeyInJwks),
            other => Err(KeyError::UnsupportedKeyType(other.to_owned())),
        }
    }
}

fn decode_member(value: Option<&str>, name: &'static str) -> Result<Vec<u8>, KeyError> {
    let value = value.ok_or(KeyError::MissingMember(name))?;
    // Base64url without padding (RFC 7515 §2); a few servers pad, which is
    // harmless to accept.
    URL_SAFE_NO_PAD
        .decode(value.trim_end_matches('='))
        .map_err(|_| KeyError::InvalidMember(name))
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    bytes.get(zeros..).unwrap_or_default()
}

/// Smallest and largest accepted RSA modulus, in bits.
const RSA_MIN_BITS: usize = 2048;
const RSA_MAX_BITS: usize = 8192;

fn rsa_key(
    kid: Option<String>,
    n: &[u8],
    e: &[u8],
    alg: Option<Algorithm>,
) -> Result<VerificationKey, KeyError> {
    let algs: Vec<Algorithm> = match alg {
        None => Algorithm::RSA.to_vec(),
        Some(a) if Algorithm::RSA.contains(&a) => vec![a],
        Some(a) => return Err(KeyError::AlgorithmMismatch(a.as_str().to_owned())),
    };
    let Some(&first) = n.first() else {
        return Err(KeyError::InvalidRsaKey);
    };
    // `n` has no leading zero byte, so `first` has at least one bit set.
    let bits = n
        .len()
        .saturating_mul(8)
        .saturating_sub(first.leading_zeros() as usize);
    if bits < RSA_MIN_BITS {
        return Err(KeyError::RsaModulusTooSmall(bits));
    }
    if bits > RSA_MAX_BITS {
        return Err(KeyError::RsaModulusTooLarge(bits));
    }
    if n.last().is_some_and(|b| b & 1 == 0) {
        return Err(KeyError::InvalidRsaKey);
    }
    if e.is_empty() || e.len() > 4 {
        return Err(KeyError::InvalidRsaKey);
    }
    let exponent = e.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if exponent < 3 || exponent & 1 == 0 {
        return Err(KeyError::InvalidRsaKey);
    }
    if roca_fingerprint(n) {
        return Err(KeyError::RsaRocaVulnerable);
    }
    let components = RsaPublicKeyComponents { n, e };
    let mut verifiers = Vec::with_capacity(algs.len());
    for alg in &algs {
        let params: &'static sig::RsaParameters = match alg {
            Algorithm::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
            Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
            Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
            _ => &sig::RSA_PSS_2048_8192_SHA512,
        };
        let parsed = components
            .to_parsed_public_key(params)
            .map_err(|_| KeyError::InvalidRsaKey)?;
        verifiers.push((*alg, Verifier::Public(parsed)));
    }
    let (n64, e64) = (URL_SAFE_NO_PAD.encode(n), URL_SAFE_NO_PAD.encode(e));
    Ok(VerificationKey {
        kid,
        key_type: KeyType::Rsa { bits },
        algorithms: algs.into_iter().collect(),
        verifiers,
        identity: KeyIdentity::of(thumbprint(&[("e", &e64), ("kty", "RSA"), ("n", &n64)])),
    })
}

/// Whether an RSA modulus has the ROCA fingerprint (Nemec et al., CCS 2017):
/// for each small prime `p`, `n mod p` lies in the subgroup generated by
/// 65537. A random modulus passes this test for every prime with negligible
/// probability.
// Every value stays below 167 * 256 + 256: no overflow is possible.
#[allow(clippy::arithmetic_side_effects)]
fn roca_fingerprint(n: &[u8]) -> bool {
    const PRIMES: [u64; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
        97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    PRIMES.iter().all(|&p| {
        let residue = n
            .iter()
            .fold(0u64, |acc, b| (acc * 256 + u64::from(*b)) % p);
        let generator = 65537 % p;
        let mut x = 1;
        loop {
            if x == residue {
                return true;
            }
            x = x * generator % p;
            if x == 1 {
                return false;
            }
        }
    })
}

/// Whether a key whose JWK names `key_issuer` (Microsoft Entra ID's
/// `issuer` member) may vouch for a token naming `iss` and tenant `tid`
/// (RFC 8725 §3.8: a key belongs to its issuer). The key's issuer, with
/// `{tenantid}` replaced by `tid` when it has one, must be the token's
/// `iss`; or, for Entra's v1 tokens signed with the same keys, the key's
/// tenant (the first path segment of its issuer) must be `tid` and `iss`
/// Entra's v1 issuer of that tenant, `https://sts.windows.net/{tid}/`.
/// `tid` must be plain (letters, digits, `-`, `_`, `.`).
pub(crate) fn key_vouches_for(key_issuer: &str, iss: Option<&str>, tid: Option<&str>) -> bool {
    let Some(iss) = iss else {
        return false;
    };
    let plain = |t: &str| {
        !t.is_empty()
            && t.len() <= 64
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    };
    let tid = tid.filter(|t| plain(t));
    let expected = if key_issuer.contains("{tenantid}") {
        match tid {
            Some(tid) => key_issuer.replace("{tenantid}", tid),
            None => return false,
        }
    } else {
        key_issuer.to_owned()
    };
    if iss == expected {
        return true;
    }
    // The key's tenant: the first path segment of its issuer.
    let key_tenant = expected
        .split_once("://")
        .and_then(|(_, rest)| rest.split('/').nth(1));
    match (tid, key_tenant) {
        (Some(tid), Some(key_tenant)) => {
            key_tenant == tid && iss == format!("https://sts.windows.net/{tid}/")
        }
        _ => false,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    // RFC 7517 Appendix A.1 example keys.
    const RFC7517_EC: &str = r#"{"kty":"EC","crv":"P-256",
        "x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM","use":"enc","kid":"1"}"#;
    const RFC7517_RSA_N: &str = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";

    pub(crate) fn rsa_jwk(extra: serde_json::Value) -> serde_json::Value {
        let mut v = json!({"kty": "RSA", "n": RFC7517_RSA_N, "e": "AQAB", "kid": "r1"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v
    }

    #[test]
    fn rsa_key_without_alg_may_verify_every_rsa_algorithm() {
        let key = VerificationKey::from_jwk(&rsa_jwk(json!({}))).unwrap();
        assert_eq!(key.key_type(), KeyType::Rsa { bits: 2048 });
        let algs: Vec<_> = key.algorithms().iter().collect();
        assert_eq!(algs, Algorithm::RSA.to_vec());
    }

    #[test]
    fn rsa_key_with_alg_is_bound_to_it() {
        let key =
            VerificationKey::from_jwk(&rsa_jwk(json!({"alg": "PS256", "use": "sig"}))).unwrap();
        assert_eq!(
            key.algorithms().iter().collect::<Vec<_>>(),
            [Algorithm::PS256]
        );
    }

    #[test]
    fn rsa_key_with_ec_alg_is_refused() {
        let err = VerificationKey::from_jwk(&rsa_jwk(json!({"alg": "ES256"}))).unwrap_err();
        assert!(matches!(err, KeyError::AlgorithmMismatch(_)));
    }

    #[test]
    fn rsa_modulus_under_2048_bits_is_refused() {
        // 2040-bit modulus: drop the first byte of the RFC example.
        let n = URL_SAFE_NO_PAD.decode(RFC7517_RSA_N).unwrap();
        let short = URL_SAFE_NO_PAD.encode(&n[1..]);
        let err = VerificationKey::from_jwk(&rsa_jwk(json!({"n": short}))).unwrap_err();
        assert_eq!(err, KeyError::RsaModulusTooSmall(2040));
    }

    #[test]
    fn rsa_modulus_at_2048_bits_with_leading_zero_byte_is_accepted() {
        let mut n = vec![0u8];
        n.extend(URL_SAFE_NO_PAD.decode(RFC7517_RSA_N).unwrap());
        let padded = URL_SAFE_NO_PAD.encode(&n);
        let key = VerificationKey::from_jwk(&rsa_jwk(json!({"n": padded}))).unwrap();
        assert_eq!(key.key_type(), KeyType::Rsa { bits: 2048 });
    }

    #[test]
    fn rsa_modulus_over_8192_bits_is_refused() {
        let n = URL_SAFE_NO_PAD.encode(vec![0xffu8; 1025]);
        let err = VerificationKey::from_jwk(&rsa_jwk(json!({"n": n}))).unwrap_err();
        assert_eq!(err, KeyError::RsaModulusTooLarge(8200));
    }

    #[test]
    fn rsa_invalid_exponents_are_refused() {
        for e in ["AQ", "Ag", "AAAA", "AQABAAAB", "", "AAE"] {
            // 1, 2, 0, 2^32+..., empty, 1 with leading zero
            let err = VerificationKey::from_jwk(&rsa_jwk(json!({"e": e}))).unwrap_err();
            assert_eq!(err, KeyError::InvalidRsaKey, "e = {e:?}");
        }
        // 3 is the smallest valid exponent.
        VerificationKey::from_jwk(&rsa_jwk(json!({"e": "Aw"}))).unwrap();
    }

    #[test]
    fn ec_use_enc_is_refused() {
        let jwk: serde_json::Value = serde_json::from_str(RFC7517_EC).unwrap();
        assert_eq!(
            VerificationKey::from_jwk(&jwk).unwrap_err(),
            KeyError::NotForSignatures
        );
    }

    #[test]
    fn ec_p256_key_is_bound_to_es256() {
        let mut jwk: serde_json::Value = serde_json::from_str(RFC7517_EC).unwrap();
        jwk["use"] = json!("sig");
        let key = VerificationKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.key_type(), KeyType::EcP256);
        assert_eq!(
            key.algorithms().iter().collect::<Vec<_>>(),
            [Algorithm::ES256]
        );
        jwk["alg"] = json!("ES384");
        assert!(matches!(
            VerificationKey::from_jwk(&jwk),
            Err(KeyError::AlgorithmMismatch(_))
        ));
    }

    #[test]
    fn ec_point_off_the_curve_is_refused() {
        let mut jwk: serde_json::Value = serde_json::from_str(RFC7517_EC).unwrap();
        jwk["use"] = json!("sig");
        // Change the last byte of y: the point leaves the curve.
        let mut y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
        y[31] ^= 1;
        jwk["y"] = json!(URL_SAFE_NO_PAD.encode(&y));
        assert_eq!(
            VerificationKey::from_jwk(&jwk).unwrap_err(),
            KeyError::InvalidEcPoint
        );
    }

    #[test]
    fn ec_short_coordinates_are_refused() {
        let mut jwk: serde_json::Value = serde_json::from_str(RFC7517_EC).unwrap();
        jwk["use"] = json!("sig");
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        jwk["x"] = json!(URL_SAFE_NO_PAD.encode(&x[1..]));
        assert_eq!(
            VerificationKey::from_jwk(&jwk).unwrap_err(),
            KeyError::InvalidEcPoint
        );
    }

    #[test]
    fn key_ops_without_verify_is_refused() {
        let err = VerificationKey::from_jwk(&rsa_jwk(json!({"key_ops": ["encrypt"]}))).unwrap_err();
        assert_eq!(err, KeyError::VerifyNotPermitted);
        VerificationKey::from_jwk(&rsa_jwk(json!({"key_ops": ["verify"]}))).unwrap();
    }

    #[test]
    fn unsupported_types_and_curves_are_named() {
        let err = VerificationKey::from_jwk(&json!({"kty": "OKP", "crv": "X25519", "x": "AA"}))
            .unwrap_err();
        assert_eq!(err, KeyError::UnsupportedCurve("X25519".into()));
        let err = VerificationKey::from_jwk(&json!({"kty": "oct", "k": "AAAA"})).unwrap_err();
        assert_eq!(err, KeyError::SymmetricKeyInJwks);
        let err = VerificationKey::from_jwk(&json!({"kty": "AKP"})).unwrap_err();
        assert_eq!(err, KeyError::UnsupportedKeyType("AKP".into()));
        let err = VerificationKey::from_jwk(&json!({"kid": "x"})).unwrap_err();
        assert_eq!(err, KeyError::MissingMember("kty"));
        let err = VerificationKey::from_jwk(&json!({"kty": "RSA", "kid": 7})).unwrap_err();
        assert_eq!(err, KeyError::InvalidMember("kid"));
    }

    #[test]
    fn ed25519_key_is_parsed() {
        // RFC 8037 Appendix A.2.
        let jwk = json!({"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let key = VerificationKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.key_type(), KeyType::Ed25519);
        let short = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg"});
        assert_eq!(
            VerificationKey::from_jwk(&short).unwrap_err(),
            KeyError::InvalidEd25519Key
        );
    }

    #[test]
    fn roca_fingerprint_detects_vulnerable_moduli_only() {
        // The Wycheproof ROCA key (json_web_key_test.json, tcId 7).
        let roca = "AanFpofbj7KjD4Lf-N2hVMKR7yewSyXhhbirIMTGpfYEhZ_lnt5UoK98DnKIgArXGTu3MaW_HhFw16HGaTDUHqPrId7fe4r11CqRw09yBFuW79V8sYIwHdzCaWflUI6auImYbVfoN9_nD5n8N8SY9DwXw7mwZM9wREPXoDPgOoIWl6q_MPsp7n0zs3Z5ZaiQWOOzl1S9OhwAfSiiOwz6efnXEaxuTEtPd7BjSx7NaFka8Dx9U7YqXy2RFj1O9PjyaDGuRh7YXsX3iMUSP_wSyHQg_c_qHRtKUsNSGCT7OZg0hzm2KphtjnayKJvC64vAbROBR4Ubg6Bxg9IQVZ-QYyE";
        let err = VerificationKey::from_jwk(&rsa_jwk(json!({"n": roca}))).unwrap_err();
        assert_eq!(err, KeyError::RsaRocaVulnerable);
        assert!(!roca_fingerprint(
            &URL_SAFE_NO_PAD.decode(RFC7517_RSA_N).unwrap()
        ));
    }

    #[test]
    fn hmac_secret_must_be_as_long_as_the_hash() {
        assert!(VerificationKey::hmac(&[7; 32], Algorithm::HS256).is_ok());
        assert_eq!(
            VerificationKey::hmac(&[7; 31], Algorithm::HS256).unwrap_err(),
            KeyError::HmacSecretTooShort {
                alg: Algorithm::HS256,
                len: 31,
                min: 32
            }
        );
        assert!(VerificationKey::hmac(&[7; 48], Algorithm::HS384).is_ok());
        assert!(VerificationKey::hmac(&[7; 63], Algorithm::HS512).is_err());
        assert_eq!(
            VerificationKey::hmac(&[7; 64], Algorithm::RS256).unwrap_err(),
            KeyError::NotHmac(Algorithm::RS256)
        );
    }

    #[test]
    fn thumbprints_match_rfc_7638_and_rfc_8037() {
        // RFC 7638 §3.1.
        let key = VerificationKey::from_jwk(&rsa_jwk(json!({}))).unwrap();
        assert_eq!(
            key.thumbprint().as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
        // Independent of kid, alg and use.
        let other =
            VerificationKey::from_jwk(&rsa_jwk(json!({"kid": "x", "alg": "PS256", "use": "sig"})))
                .unwrap();
        assert_eq!(other.thumbprint(), key.thumbprint());
        // RFC 8037 Appendix A.3.
        let ed = VerificationKey::from_jwk(&json!({"kty": "OKP", "crv": "Ed25519",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}))
        .unwrap();
        assert_eq!(
            ed.thumbprint().as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
        assert_eq!(
            VerificationKey::hmac(&[7; 32], Algorithm::HS256)
                .unwrap()
                .thumbprint(),
            None
        );
    }

    #[test]
    fn a_pem_key_has_the_thumbprint_of_its_jwk() {
        // The RFC 8037 key as SubjectPublicKeyInfo.
        let pem = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";
        let key = VerificationKey::from_pem(pem.as_bytes()).unwrap();
        assert_eq!(
            key.thumbprint().as_deref(),
            Some("kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k")
        );
        assert_eq!(
            VerificationKey::from_pem(b"junk").unwrap_err(),
            KeyError::NotPem
        );
    }

    #[test]
    fn a_keys_issuer_vouches_only_for_its_tenants() {
        let common = "https://login.microsoftonline.com/{tenantid}/v2.0";
        let v2 = |t: &str| format!("https://login.microsoftonline.com/{t}/v2.0");
        let v1 = |t: &str| format!("https://sts.windows.net/{t}/");
        // Keys of every tenant: any tenant named consistently, v1 or v2.
        assert!(key_vouches_for(common, Some(&v2("t1")), Some("t1")));
        assert!(key_vouches_for(common, Some(&v1("t1")), Some("t1")));
        assert!(!key_vouches_for(common, Some(&v2("t1")), Some("t2")));
        assert!(!key_vouches_for(common, Some(&v2("t1")), None));
        assert!(!key_vouches_for(common, Some(&v2("t1")), Some("")));
        assert!(!key_vouches_for(
            common,
            Some("https://other.example/"),
            Some("t1")
        ));
        // A tenant's own key: its tenant only.
        let own = v2("t1");
        assert!(key_vouches_for(&own, Some(&v2("t1")), Some("t1")));
        assert!(key_vouches_for(&own, Some(&v1("t1")), Some("t1")));
        assert!(key_vouches_for(&own, Some(&own), None));
        assert!(!key_vouches_for(&own, Some(&v2("t2")), Some("t2")));
        assert!(!key_vouches_for(&own, Some(&v2("t2")), Some("t1")));
        assert!(!key_vouches_for(&own, Some(&v1("t2")), Some("t1")));
        assert!(!key_vouches_for(&own, None, None));
        // A `tid` equal to another part of the URL vouches for nothing.
        for tid in ["v2.0", "https:", "login.microsoftonline.com", "", "t1/"] {
            assert!(!key_vouches_for(&own, Some(&v2("t2")), Some(tid)), "{tid}");
            assert!(
                !key_vouches_for(
                    common,
                    Some("https://login.microsoftonline.com/t2/v2.0"),
                    Some(tid)
                ),
                "{tid}"
            );
        }
    }

    #[test]
    fn a_jwks_keys_issuer_member_is_kept_and_typed() {
        let mut jwk = rsa_jwk(json!({"issuer": "https://login.test/{tenantid}/v2.0"}));
        let key = VerificationKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.issuer(), Some("https://login.test/{tenantid}/v2.0"));
        jwk["issuer"] = json!(7);
        assert_eq!(
            VerificationKey::from_jwk(&jwk).unwrap_err(),
            KeyError::InvalidMember("issuer")
        );
    }
}
