//! Verification keys: a parsed JWKS, PEM public keys and shared HMAC secrets.
//!
//! Every key is checked when it is loaded, not when a token arrives: RSA
//! moduli of 2048 to 8192 bits with a sane public exponent, EC points that lie
//! on their curve, Ed25519 points of the right length, HMAC secrets at least as
//! long as their hash. Each key is then parsed once into the form the crypto
//! library verifies with, and bound to the algorithms it may verify: its `alg`
//! if the JWK names one, else every algorithm its `kty`/`crv` allows.
//!
//! ```
//! use bearer_guard::{keys::{Algorithm, KeySet}};
//!
//! let jwks = r#"{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "k1",
//!     "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
//! let keys = KeySet::from_jwks(jwks.as_bytes()).unwrap();
//! assert_eq!(keys.len(), 1);
//! let key = keys.iter().next().unwrap();
//! assert_eq!(key.kid(), Some("k1"));
//! assert!(key.algorithms().contains(Algorithm::EdDSA));
//! ```
//!
//! Layout (private): `algorithm` (leaf) → `error` → `jwk` (one key) → `set`
//! (lookup by `kid` and `alg`); `signing` holds private keys. Key handling
//! knows nothing of tokens, validators or HTTP.

pub(crate) mod algorithm;
pub(crate) mod error;
pub(crate) mod jwk;
pub(crate) mod pem;
pub(crate) mod set;
pub(crate) mod signing;

pub use algorithm::{Algorithm, AlgorithmSet, UnknownAlgorithm};
pub(crate) use error::SignatureError;
pub use error::{JwksError, KeyError};
pub(crate) use jwk::{KeyBinding, KeyIdentity, key_vouches_for};
pub use jwk::{KeyType, VerificationKey};
pub use set::{KeySet, RejectedKey};
pub use signing::SigningKey;
