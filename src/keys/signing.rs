//! Signing keys: the client's private key for `private_key_jwt` client
//! authentication (RFC 7523), and the keys of the `testing` feature's issuer.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::algorithm::Algorithm;
use super::error::KeyError;
use super::jwk::VerificationKey;

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

/// A private key that signs JWTs: RSA (RS*/PS*), ECDSA P-256/P-384, Ed25519,
/// or an HMAC secret.
///
/// Used for `private_key_jwt` client authentication at the introspection
/// endpoint ([`ClientAuth::PrivateKeyJwt`](crate::introspection::ClientAuth::PrivateKeyJwt)).
pub struct SigningKey {
    alg: Algorithm,
    kid: Option<String>,
    signer: Signer,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads a PEM private key for `alg`: `PRIVATE KEY` (PKCS#8, any key
    /// type), `RSA PRIVATE KEY` (PKCS#1) or `EC PRIVATE KEY` (SEC 1).
    pub fn from_pem(pem: &[u8], alg: Algorithm) -> Result<Self, KeyError> {
        let parsed = super::pem::parse(pem).ok_or(KeyError::NotPem)?;
        let der = parsed.der.as_slice();
        let bad = |_| KeyError::InvalidPrivateKey(alg);
        let signer = match (alg, parsed.label.as_str()) {
            (Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512, _)
            | (Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512, _) => {
                let pair = RsaKeyPair::from_pkcs8(der)
                    .or_else(|_| RsaKeyPair::from_der(der))
                    .map_err(bad)?;
                let bits = pair.public_modulus_len().saturating_mul(8);
                if bits < 2048 {
                    return Err(KeyError::RsaModulusTooSmall(bits));
                }
                Signer::Rsa(pair)
            }
            (Algorithm::ES256 | Algorithm::ES384, tag) => {
                let signing = ec_signing(alg);
                let pair = if tag == "EC PRIVATE KEY" {
                    EcdsaKeyPair::from_private_key_der(signing, der)
                } else {
                    EcdsaKeyPair::from_pkcs8(signing, der)
                };
                Signer::Ec(pair.map_err(bad)?)
            }
            (Algorithm::EdDSA, _) => Signer::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(bad)?),
            (hs, _) => return Err(KeyError::SecretNotPem(hs)),
        };
        Ok(SigningKey {
            alg,
            kid: None,
            signer,
        })
    }

    /// An HMAC secret for `alg` (at least as long as the hash, RFC 7518 §3.2).
    pub fn hmac(secret: &[u8], alg: Algorithm) -> Result<Self, KeyError> {
        // Same rules as for verification.
        VerificationKey::hmac(secret, alg)?;
        Ok(SigningKey {
            alg,
            kid: None,
            signer: Signer::Hmac(secret.to_vec()),
        })
    }

    /// Generates a key for `alg` (RSA: 2048 bits; HMAC: a random secret as
    /// long as the hash). Test set-ups only (feature `testing`): a real
    /// client's key is registered with its authorization server.
    ///
    /// # Panics
    ///
    /// If the system's random generator fails: the test machine is broken.
    #[cfg(any(test, feature = "testing"))]
    #[allow(clippy::expect_used)]
    pub fn generate(alg: Algorithm) -> Self {
        let signer = match alg {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Signer::Rsa(
                RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .expect("RSA key generation failed"),
            ),
            Algorithm::ES256 | Algorithm::ES384 => Signer::Ec(
                EcdsaKeyPair::generate(ec_signing(alg)).expect("EC key generation failed"),
            ),
            Algorithm::EdDSA => {
                Signer::Ed(Ed25519KeyPair::generate().expect("Ed25519 key generation failed"))
            }
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                let mut secret = vec![0u8; hmac_len(alg)];
                aws_lc_rs::rand::fill(&mut secret).expect("random generation failed");
                Signer::Hmac(secret)
            }
        };
        SigningKey {
            alg,
            kid: None,
            signer,
        }
    }

    /// An HMAC key with any secret, even one a validator must refuse (tests).
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn hmac_unchecked(secret: &[u8], alg: Algorithm) -> Self {
        SigningKey {
            alg,
            kid: None,
            signer: Signer::Hmac(secret.to_vec()),
        }
    }

    /// Sets the `kid` put in the JWT header.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key id.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The HMAC secret, for HMAC keys (feature `testing`: a test issuer
    /// shares it with the validator it builds).
    #[cfg(any(test, feature = "testing"))]
    pub fn secret(&self) -> Option<&[u8]> {
        match &self.signer {
            Signer::Hmac(s) => Some(s),
            _ => None,
        }
    }

    /// The public key as a JWK with `kid`, `alg` and `use: sig`. `None` for
    /// HMAC keys, which have no public form.
    pub fn public_jwk(&self) -> Option<Value> {
        let alg = self.alg.as_str();
        let mut jwk = match &self.signer {
            Signer::Rsa(k) => {
                let public = k.public_key();
                json!({"kty": "RSA", "alg": alg, "use": "sig",
                    "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
                    "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero())})
            }
            Signer::Ec(k) => {
                // An uncompressed point: 0x04, then x and y of equal length.
                let coordinates = k.public_key().as_ref().get(1..).unwrap_or_default();
                let (x, y) = coordinates.split_at(coordinates.len() / 2);
                let crv = if x.len() == 32 { "P-256" } else { "P-384" };
                json!({"kty": "EC", "alg": alg, "use": "sig", "crv": crv,
                    "x": URL_SAFE_NO_PAD.encode(x),
                    "y": URL_SAFE_NO_PAD.encode(y)})
            }
            Signer::Ed(k) => json!({"kty": "OKP", "alg": alg, "use": "sig",
                "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(k.public_key().as_ref())}),
            Signer::Hmac(_) => return None,
        };
        if let (Some(kid), Some(members)) = (&self.kid, jwk.as_object_mut()) {
            members.insert("kid".into(), json!(kid));
        }
        Some(jwk)
    }

    /// The public key as PEM (`PUBLIC KEY`). `None` for HMAC keys.
    pub fn public_pem(&self) -> Option<String> {
        let der = match &self.signer {
            Signer::Rsa(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Signer::Ec(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Signer::Ed(k) => k.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Signer::Hmac(_) => return None,
        }
        .ok()?;
        Some(super::pem::encode("PUBLIC KEY", &der))
    }

    /// The private key as PKCS#8 DER (feature `testing`, to sign with
    /// another JWT library in interoperability tests). `None` for HMAC keys.
    #[cfg(any(test, feature = "testing"))]
    pub fn private_pkcs8_der(&self) -> Option<Vec<u8>> {
        match &self.signer {
            Signer::Rsa(k) => k.as_der().ok().map(|d| d.as_ref().to_vec()),
            Signer::Ec(k) => k.to_pkcs8v1().ok().map(|d| d.as_ref().to_vec()),
            Signer::Ed(k) => k.to_pkcs8v1().ok().map(|d| d.as_ref().to_vec()),
            Signer::Hmac(_) => None,
        }
    }

    /// Signs `message` with `alg`; `None` when this key cannot produce `alg`
    /// (an EC key asked for RS256, say).
    pub fn sign(&self, alg: Algorithm, message: &[u8]) -> Option<Vec<u8>> {
        match &self.signer {
            Signer::Rsa(k) => {
                let padding: &'static dyn sig::RsaEncoding = match alg {
                    Algorithm::RS256 => &sig::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &sig::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &sig::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &sig::RSA_PSS_SHA256,
                    Algorithm::PS384 => &sig::RSA_PSS_SHA384,
                    Algorithm::PS512 => &sig::RSA_PSS_SHA512,
                    _ => return None,
                };
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(padding, &SystemRandom::new(), message, &mut out)
                    .ok()?;
                Some(out)
            }
            Signer::Ec(k) if alg == self.alg => k
                .sign(&SystemRandom::new(), message)
                .ok()
                .map(|s| s.as_ref().to_vec()),
            Signer::Ed(k) if alg == Algorithm::EdDSA => Some(k.sign(message).as_ref().to_vec()),
            Signer::Hmac(secret) => hmac_sign(secret, alg, message),
            _ => None,
        }
    }

    /// A compact JWS of `claims` with header `{alg, kid?, typ?}`; `None` if
    /// the signature could not be made.
    #[cfg(feature = "remote")]
    pub(crate) fn sign_jwt(&self, typ: Option<&str>, claims: &Value) -> Option<String> {
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), json!(self.alg.as_str()));
        if let Some(kid) = &self.kid {
            header.insert("kid".into(), json!(kid));
        }
        if let Some(typ) = typ {
            header.insert("typ".into(), json!(typ));
        }
        let header = Value::Object(header);
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.sign(self.alg, input.as_bytes())?;
        Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

fn ec_signing(alg: Algorithm) -> &'static sig::EcdsaSigningAlgorithm {
    if alg == Algorithm::ES384 {
        &sig::ECDSA_P384_SHA384_FIXED_SIGNING
    } else {
        &sig::ECDSA_P256_SHA256_FIXED_SIGNING
    }
}

#[cfg(any(test, feature = "testing"))]
fn hmac_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS256 => 32,
        Algorithm::HS384 => 48,
        _ => 64,
    }
}

/// HMAC of `message`; `None` if `alg` is not an HMAC algorithm.
pub(crate) fn hmac_sign(secret: &[u8], alg: Algorithm, message: &[u8]) -> Option<Vec<u8>> {
    let algorithm = match alg {
        Algorithm::HS256 => hmac::HMAC_SHA256,
        Algorithm::HS384 => hmac::HMAC_SHA384,
        Algorithm::HS512 => hmac::HMAC_SHA512,
        _ => return None,
    };
    Some(
        hmac::sign(&hmac::Key::new(algorithm, secret), message)
            .as_ref()
            .to_vec(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_private_keys_round_trip() {
        for alg in [
            Algorithm::RS256,
            Algorithm::ES256,
            Algorithm::ES384,
            Algorithm::EdDSA,
        ] {
            let key = SigningKey::generate(alg);
            let pem = crate::keys::pem::encode("PRIVATE KEY", &key.private_pkcs8_der().unwrap());
            let back = SigningKey::from_pem(pem.as_bytes(), alg).unwrap();
            assert_eq!(back.public_jwk(), key.public_jwk(), "{alg}");
        }
    }

    #[test]
    fn keys_refuse_algorithms_they_cannot_produce() {
        let ec = SigningKey::generate(Algorithm::ES256);
        assert!(ec.sign(Algorithm::RS256, b"m").is_none());
        assert!(ec.sign(Algorithm::ES384, b"m").is_none());
        let rsa = SigningKey::generate(Algorithm::RS256);
        assert!(rsa.sign(Algorithm::PS512, b"m").is_some());
        assert!(rsa.sign(Algorithm::HS256, b"m").is_none());
        assert!(SigningKey::from_pem(b"garbage", Algorithm::RS256).is_err());
        assert!(SigningKey::hmac(&[1; 16], Algorithm::HS256).is_err());
    }
}
