//! [`KeySet`]: the keys a validator verifies with, and how a token's `kid`
//! and `alg` select among them.

use std::fmt;
use std::sync::Arc;

use super::algorithm::{Algorithm, AlgorithmSet};
use super::error::{JwksError, KeyError, SignatureError};
use super::jwk::{KeyBinding, KeyIdentity, VerificationKey};
use crate::json::{self, ObjectError};

/// A key that a JWKS offered and that was refused, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedKey {
    /// The key's `kid`, if it had a readable one.
    pub kid: Option<String>,
    /// Why it was refused.
    pub reason: KeyError,
}

/// A set of verification keys, from a JWKS document, PEM keys or HMAC secrets.
///
/// Keys keep their document order. A token is matched to keys by `kid`: each
/// key with that `kid` whose algorithms include the token's `alg` is tried in
/// document order (a set that repeats a `kid`, as some servers do during a
/// rotation, still verifies tokens from either key). A `kid` that no key has
/// is verified only by a key configured *without* a `kid` (a PEM key, a shared
/// secret), when exactly one such key may verify the `alg`. A token without `kid` is
/// accepted only when exactly one key in the set may verify its `alg`;
/// otherwise it is refused with
/// [`ValidationError::MissingKeyId`](crate::ValidationError::MissingKeyId) rather than
/// trying every key, which would let one token cost many verifications.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerificationKey>>,
    rejected: Vec<RejectedKey>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.keys)
            .field("rejected", &self.rejected)
            .finish()
    }
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a JWKS document (RFC 7517 §5).
    ///
    /// Keys that cannot verify signatures (wrong `use`/`key_ops`, unsupported
    /// `kty`/`crv`, weak or malformed keys, symmetric keys) are left out and
    /// listed in [`rejected`](Self::rejected), each with a warning in the
    /// trace; only a document that is not JSON or has no `keys` array is an
    /// error. The result may be empty.
    pub fn from_jwks(json: &[u8]) -> Result<Self, JwksError> {
        Self::from_jwks_with_limit(json, usize::MAX)
    }

    /// As [`from_jwks`](Self::from_jwks), refusing a document with more than
    /// `max_keys` entries before parsing any key.
    pub fn from_jwks_with_limit(json: &[u8], max_keys: usize) -> Result<Self, JwksError> {
        let mut doc = json::parse_object(json).map_err(|e| match e {
            ObjectError::NotAnObject => JwksError::NotJsonObject,
            ObjectError::DuplicateMember => JwksError::DuplicateMember,
        })?;
        let Some(serde_json::Value::Array(entries)) = doc.remove("keys") else {
            return Err(JwksError::NoKeysArray);
        };
        if entries.len() > max_keys {
            return Err(JwksError::TooManyKeys {
                count: entries.len(),
                limit: max_keys,
            });
        }
        let mut set = KeySet::new();
        for entry in &entries {
            match VerificationKey::from_jwk(entry) {
                Ok(key) => set.push(key),
                Err(reason) => {
                    let kid = entry
                        .get("kid")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned);
                    set.rejected.push(RejectedKey { kid, reason });
                }
            }
        }
        Ok(set)
    }

    /// Adds a key at the end of the set.
    pub fn push(&mut self, key: VerificationKey) {
        self.keys.push(Arc::new(key));
    }

    /// Appends every key (and rejection) of `other`.
    pub fn extend(&mut self, other: KeySet) {
        self.keys.extend(other.keys);
        self.rejected.extend(other.rejected);
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The usable keys, in document order.
    pub fn iter(&self) -> impl Iterator<Item = &VerificationKey> {
        self.keys.iter().map(|k| &**k)
    }

    /// Whether a key of the set is named `kid`.
    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The keys that were offered and refused, with the reasons.
    pub fn rejected(&self) -> &[RejectedKey] {
        &self.rejected
    }

    /// Logs each refused key: at `warn` for the keys of a source the
    /// operator configured or a verified issuer's, at `debug` otherwise (a
    /// document a stranger's request made the crate fetch).
    pub(crate) fn log_rejected(&self, warn: bool) {
        for r in &self.rejected {
            if warn {
                tracing::warn!(kid = ?r.kid, reason = %r.reason, "JWKS key skipped");
            } else {
                tracing::debug!(kid = ?r.kid, reason = %r.reason, "JWKS key skipped");
            }
        }
    }

    /// The algorithms that at least one key may verify.
    pub fn algorithms(&self) -> AlgorithmSet {
        self.keys
            .iter()
            .fold(AlgorithmSet::empty(), |acc, k| acc.union(k.algorithms))
    }

    /// Whether a key with the material of `key` (which verified a token
    /// with `alg`) is still in the set and may still verify `alg`.
    pub(crate) fn still_trusts(&self, key: &Arc<KeyIdentity>, alg: Algorithm) -> bool {
        self.keys
            .iter()
            .any(|k| key.is(k) && k.algorithms.contains(alg))
    }

    /// Whether this set still trusts every key of `before` for each of its
    /// algorithms: replacing `before` with it withdraws nothing (it may add).
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    pub(crate) fn keeps_all(&self, before: &KeySet) -> bool {
        before.keys.iter().all(|old| {
            old.algorithms
                .iter()
                .all(|alg| self.still_trusts(&old.identity, alg))
        })
    }

    /// Verifies a signature with the key(s) the header designates (see the
    /// type's documentation): by `kid`, every key with that `kid` that may
    /// verify `alg` is tried in document order; without `kid`, the single key
    /// that may verify `alg`. Returns which key verified it.
    pub(crate) fn verify(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<KeyBinding, SignatureError> {
        let Some(kid) = kid else {
            return self.verify_with_sole(
                |_| true,
                alg,
                message,
                signature,
                || SignatureError::NoKeyForAlgorithm(alg),
            );
        };
        let mut matching = self
            .keys
            .iter()
            .filter(|k| k.kid.as_deref() == Some(kid))
            .peekable();
        if matching.peek().is_none() {
            // A `kid` no key has: only a key configured without `kid` (a PEM
            // key, a shared secret) may still verify it. (If it does not, a
            // remote source still fetches the `kid`: it may be a rotation.)
            return self
                .verify_with_sole(
                    |k| k.kid.is_none(),
                    alg,
                    message,
                    signature,
                    || SignatureError::UnknownKeyId,
                )
                .map_err(|e| match e {
                    SignatureError::MissingKeyId => SignatureError::UnknownKeyId,
                    e => e,
                });
        }
        let mut tried = false;
        for key in matching.filter(|k| k.algorithms.contains(alg)) {
            tried = true;
            if key.verify(alg, message, signature) {
                return Ok(key.binding(alg));
            }
        }
        Err(if tried {
            SignatureError::InvalidSignature
        } else {
            SignatureError::KeyAlgorithmMismatch(alg)
        })
    }

    /// Verifies with the one key that is `eligible` and may verify `alg`;
    /// `none` is the error when there is no such key, `MissingKeyId` when
    /// there are several.
    fn verify_with_sole(
        &self,
        eligible: impl Fn(&VerificationKey) -> bool,
        alg: Algorithm,
        message: &[u8],
        signature: &[u8],
        none: impl FnOnce() -> SignatureError,
    ) -> Result<KeyBinding, SignatureError> {
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| eligible(k) && k.algorithms.contains(alg));
        match (candidates.next(), candidates.next()) {
            (Some(key), None) if key.verify(alg, message, signature) => Ok(key.binding(alg)),
            (Some(_), None) => Err(SignatureError::InvalidSignature),
            (Some(_), Some(_)) => Err(SignatureError::MissingKeyId),
            (None, _) => Err(none()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::jwk::tests::rsa_jwk;
    use serde_json::json;

    #[test]
    fn jwks_keeps_usable_keys_and_reports_the_rest() {
        let doc = json!({"keys": [
            rsa_jwk(json!({})),
            {"kty": "EC", "crv": "P-521", "kid": "big", "x": "AA", "y": "AA"},
            rsa_jwk(json!({"kid": "enc", "use": "enc"})),
        ]});
        let set = KeySet::from_jwks(doc.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!(set.rejected().len(), 2);
        assert_eq!(set.rejected()[0].kid.as_deref(), Some("big"));
        assert_eq!(set.rejected()[1].reason, KeyError::NotForSignatures);
    }

    #[test]
    fn jwks_document_errors() {
        assert!(matches!(
            KeySet::from_jwks(b"not json"),
            Err(JwksError::NotJsonObject)
        ));
        assert_eq!(
            KeySet::from_jwks(b"{}").unwrap_err(),
            JwksError::NoKeysArray
        );
        assert_eq!(
            KeySet::from_jwks(br#"{"keys": {}}"#).unwrap_err(),
            JwksError::NoKeysArray
        );
        assert!(KeySet::from_jwks(br#"{"keys": []}"#).unwrap().is_empty());
    }

    #[test]
    fn key_lookup_by_kid_then_algorithm() {
        let mut set = KeySet::new();
        set.push(VerificationKey::from_jwk(&rsa_jwk(json!({"kid": "a", "alg": "RS256"}))).unwrap());
        set.push(VerificationKey::from_jwk(&rsa_jwk(json!({"kid": "a", "alg": "PS256"}))).unwrap());
        let verify = |kid, alg| set.verify(kid, alg, b"msg", &[0u8; 256]).map(|_| ());
        // Keys exist for the kid and alg: the (junk) signature is what fails.
        assert_eq!(
            verify(Some("a"), Algorithm::PS256),
            Err(SignatureError::InvalidSignature)
        );
        assert_eq!(
            verify(Some("a"), Algorithm::ES256),
            Err(SignatureError::KeyAlgorithmMismatch(Algorithm::ES256))
        );
        assert_eq!(
            verify(Some("b"), Algorithm::RS256),
            Err(SignatureError::UnknownKeyId)
        );
    }

    #[test]
    fn key_lookup_without_kid_needs_exactly_one_candidate() {
        let mut set = KeySet::new();
        set.push(VerificationKey::from_jwk(&rsa_jwk(json!({"alg": "RS256"}))).unwrap());
        let verify = |set: &KeySet, alg| set.verify(None, alg, b"msg", &[0u8; 256]).map(|_| ());
        assert_eq!(
            verify(&set, Algorithm::RS256),
            Err(SignatureError::InvalidSignature)
        );
        assert_eq!(
            verify(&set, Algorithm::ES256),
            Err(SignatureError::NoKeyForAlgorithm(Algorithm::ES256))
        );
        set.push(VerificationKey::from_jwk(&rsa_jwk(json!({"kid": "b"}))).unwrap());
        assert_eq!(
            verify(&set, Algorithm::RS256),
            Err(SignatureError::MissingKeyId)
        );
    }
}
