//! The random values a login redirect needs (OpenID Connect Core §3.1.2.1,
//! RFC 7636), from the operating system's random source: a `state` to
//! bind the callback to the browser session, a `nonce` to bind the ID
//! token to it, and a PKCE verifier with its S256 challenge.
//!
//! Combine them with your web framework and session store: store `state`,
//! `nonce` and the verifier in the session, send `state`, `nonce` and the
//! challenge in the authorization request, compare `state` on the
//! callback, send the verifier with the code to the token endpoint, and
//! give the stored nonce to
//! [`IdTokenVerifier::verify`](crate::client::IdTokenVerifier::verify).
//!
//! ```
//! use bearer_guard::client::login::{Pkce, random_nonce, random_state};
//! let state = random_state()?;
//! let nonce = random_nonce()?;
//! let pkce = Pkce::new()?;
//! assert_eq!(pkce.method(), "S256");
//! assert_eq!(state.len(), 43);
//! # let _ = (nonce, pkce.verifier(), pkce.challenge());
//! # Ok::<(), bearer_guard::client::login::RandomError>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The operating system's random source failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random source failed")]
pub struct RandomError;

/// 32 random bytes, base64url: 256 bits, 43 characters.
fn random_text() -> Result<String, RandomError> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| RandomError)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A fresh `state` value (256 random bits, base64url).
pub fn random_state() -> Result<String, RandomError> {
    random_text()
}

/// A fresh `nonce` value (256 random bits, base64url).
pub fn random_nonce() -> Result<String, RandomError> {
    random_text()
}

/// A PKCE code verifier and its S256 challenge (RFC 7636 §4.1, §4.2).
#[derive(Clone)]
pub struct Pkce {
    verifier: String,
    challenge: String,
}

impl std::fmt::Debug for Pkce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The verifier is a secret until the code is redeemed.
        f.debug_struct("Pkce")
            .field("challenge", &self.challenge)
            .finish_non_exhaustive()
    }
}

impl Pkce {
    /// A fresh verifier (43 characters of base64url: 256 random bits, the
    /// RFC 7636 §4.1 recommendation) and its challenge.
    pub fn new() -> Result<Self, RandomError> {
        Ok(Pkce::from_verifier(random_text()?))
    }

    fn from_verifier(verifier: String) -> Self {
        let digest = crate::digest::sha256(verifier.as_bytes());
        Pkce {
            challenge: URL_SAFE_NO_PAD.encode(digest),
            verifier,
        }
    }

    /// The verifier, sent with the code to the token endpoint.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// The challenge, sent in the authorization request.
    pub fn challenge(&self) -> &str {
        &self.challenge
    }

    /// `code_challenge_method`: always `S256`.
    pub fn method(&self) -> &'static str {
        "S256"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_s256_challenge_matches_rfc_7636_appendix_b() {
        let p = Pkce::from_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into());
        assert_eq!(p.challenge(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
        assert!(!format!("{p:?}").contains("dBjftJeZ"));
    }

    #[test]
    fn values_are_fresh_and_43_characters() {
        let (a, b) = (random_state().unwrap(), random_state().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_ne!(random_nonce().unwrap(), random_nonce().unwrap());
    }
}
