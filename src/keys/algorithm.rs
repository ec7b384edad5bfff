//! JWS signature algorithms (RFC 7518 §3, RFC 8037) and sets of them. A
//! leaf module.

use std::fmt;
use std::str::FromStr;

/// A JWS signature algorithm this crate can verify (RFC 7518 §3, RFC 8037).
///
/// `none` is deliberately not a variant: it can never be selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
#[allow(clippy::upper_case_acronyms)]
pub enum Algorithm {
    /// HMAC with SHA-256.
    HS256,
    /// HMAC with SHA-384.
    HS384,
    /// HMAC with SHA-512.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA (Ed25519).
    EdDSA,
}

impl Algorithm {
    /// Every algorithm this crate implements.
    pub const ALL: [Algorithm; 12] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    pub(crate) const RSA: [Algorithm; 6] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
    ];

    /// The `alg` value as it appears in a JOSE header.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Whether this is an HMAC (shared-secret) algorithm.
    pub fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an `alg` name this crate does not implement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported algorithm")]
pub struct UnknownAlgorithm;

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// Parses an `alg` value. Names are case-sensitive (RFC 7515 §4.1.1), so
    /// `rs256` and `None` are unknown, like `none`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAlgorithm)
    }
}

/// A set of [`Algorithm`]s.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// The empty set.
    pub const fn empty() -> Self {
        AlgorithmSet(0)
    }

    /// The asymmetric algorithms: the default allow-list of a validator.
    pub fn asymmetric() -> Self {
        Algorithm::ALL
            .into_iter()
            .filter(|a| !a.is_symmetric())
            .collect()
    }

    /// Whether `alg` is in the set.
    pub fn contains(&self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// Adds `alg`.
    pub fn insert(&mut self, alg: Algorithm) {
        self.0 |= alg.bit();
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The algorithms in the set, in [`Algorithm::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = Algorithm> + '_ {
        Algorithm::ALL.into_iter().filter(|a| self.contains(*a))
    }

    /// The intersection of two sets.
    pub fn intersection(&self, other: AlgorithmSet) -> AlgorithmSet {
        AlgorithmSet(self.0 & other.0)
    }

    /// The union of two sets.
    pub fn union(&self, other: AlgorithmSet) -> AlgorithmSet {
        AlgorithmSet(self.0 | other.0)
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        let mut set = AlgorithmSet::empty();
        for a in iter {
            set.insert(a);
        }
        set
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_are_case_sensitive_and_none_is_unknown() {
        assert_eq!("RS256".parse::<Algorithm>(), Ok(Algorithm::RS256));
        for bad in ["none", "None", "NONE", "rs256", "ES512", ""] {
            assert!(bad.parse::<Algorithm>().is_err(), "{bad}");
        }
    }

    #[test]
    fn sets_combine() {
        let a: AlgorithmSet = [Algorithm::RS256, Algorithm::ES256].into_iter().collect();
        let b: AlgorithmSet = [Algorithm::ES256, Algorithm::EdDSA].into_iter().collect();
        assert_eq!(
            a.intersection(b).iter().collect::<Vec<_>>(),
            [Algorithm::ES256]
        );
        assert_eq!(a.union(b).iter().count(), 3);
        assert!(AlgorithmSet::asymmetric().iter().all(|a| !a.is_symmetric()));
    }
}
