//! The errors of the validator: [`ValidationError`] (why a token was
//! refused or could not be checked, one variant per check) and
//! [`BuildError`] (why a configuration was refused). How they answer over
//! HTTP is the business of the `http` module, not of this one.
//!
//! Error messages never contain the token or any part of it.

use crate::claims::ClaimError;
use crate::clock::TimeError;
use crate::dpop::DpopError;
#[cfg(feature = "remote")]
use crate::introspection::IntrospectionError;
#[cfg(feature = "remote")]
use crate::introspection::client::Rejection;
#[cfg(feature = "remote")]
use crate::introspection::response::Refusal;
use crate::jwt::{JwsError, Malformed};
use crate::keys::{Algorithm, JwksError, KeyError, SignatureError};
#[cfg(feature = "remote")]
use crate::remote::RemoteError;

/// Why a token was refused (or could not be checked).
///
/// Each check of [`Validator::validate`](crate::Validator::validate) has its own
/// variant, so callers and logs can tell exactly which one failed. The
/// `Display` text is meant for logs; [`description`](Self::description) is the
/// short, fixed text that may be sent to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The token is longer than the configured limit; it was not decoded.
    #[error("token is {len} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Length of the token in bytes.
        len: usize,
        /// The configured limit ([`ValidatorBuilder::max_token_size`](crate::ValidatorBuilder::max_token_size)).
        limit: usize,
    },
    /// The token is not a well-formed compact JWS.
    #[error("malformed token: {0}")]
    Malformed(Malformed),
    /// The header's `alg` is not an algorithm this crate implements (this
    /// includes `none`, which is never accepted).
    #[error("unsupported signature algorithm (`none` and unknown algorithms are never accepted)")]
    UnsupportedAlgorithm,
    /// The header's `alg` is implemented but not on the validator's allow-list.
    #[error("algorithm {0} is not allowed by this validator")]
    AlgorithmNotAllowed(Algorithm),
    /// The header lists a `crit` extension this crate does not understand, or
    /// uses `b64: false` (RFC 7797), which it does not support.
    #[error("the token header requires an extension this validator does not understand")]
    UnsupportedCritical,
    /// The header's `typ` is not allowed by the validator's [`TypPolicy`](crate::jwt::TypPolicy).
    #[error("token type (`typ` header) is not allowed")]
    TypeNotAllowed,
    /// The header has no `kid` and more than one configured key could verify
    /// its `alg`.
    #[error("token has no `kid` and several keys could verify it")]
    MissingKeyId,
    /// No configured key has the token's `kid`.
    #[error("no key with the token's `kid`")]
    UnknownKeyId,
    /// A key was found (by `kid`, or the only candidate without one) but it may
    /// not verify the header's `alg` (for example an RSA key and `alg: HS256`).
    #[error("the selected key may not verify algorithm {0}")]
    KeyAlgorithmMismatch(Algorithm),
    /// No key at all can verify the header's `alg`.
    #[error("no key can verify algorithm {0}")]
    NoKeyForAlgorithm(Algorithm),
    /// The signature does not verify.
    #[error("signature does not verify")]
    InvalidSignature,
    /// A required claim is absent (or `null`).
    #[error("required claim `{0}` is missing")]
    MissingClaim(String),
    /// A claim has the wrong JSON type or an impossible value.
    #[error("claim `{0}` has an invalid value")]
    InvalidClaim(&'static str),
    /// `exp` is in the past (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token is not valid yet (`nbf`)")]
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    #[error("token was issued in the future (`iat`)")]
    IssuedInFuture,
    /// `iss` is not one of the configured issuers.
    #[error("token issuer is not accepted")]
    InvalidIssuer,
    /// A claim required to hold one value holds another
    /// ([`require_claim_equals`](crate::ValidatorBuilder::require_claim_equals)).
    #[error("claim `{0}` does not have the required value")]
    UnexpectedClaimValue(String),
    /// `aud` contains none of the configured audiences.
    #[error("token audience is not accepted")]
    InvalidAudience,
    /// The token carries a confirmation (`cnf`) binding it to a key (DPoP,
    /// mutual TLS) and the request does not prove possession of it:
    /// a DPoP-bound token presented with the `Bearer` scheme (RFC 9449
    /// §7.2), or a binding this crate cannot check.
    #[error("a sender-constrained token (cnf) was presented as a bearer token")]
    SenderConstrained,
    /// The token is bound to a client certificate (`cnf.x5t#S256`, RFC 8705
    /// §3) and the request came without it, or with another one.
    #[error("the token is bound to another client certificate")]
    CertificateMismatch,
    /// The DPoP proof, or the token's binding to it, was refused (RFC 9449).
    #[error(transparent)]
    Dpop(#[from] DpopError),
    /// The validator accepts DPoP-bound tokens only
    /// ([`DpopOptions::required`](crate::dpop::DpopOptions::required)) and the
    /// token was presented as a bearer token.
    #[error("this validator accepts DPoP-bound tokens only")]
    DpopRequired,
    /// The introspection endpoint says the token is not active (revoked,
    /// expired, or never issued).
    #[error("token is not active (introspection)")]
    Inactive,
    /// The token could not be checked by introspection: HTTP 503.
    #[cfg(feature = "remote")]
    #[error("introspection unavailable: {0}")]
    IntrospectionUnavailable(IntrospectionError),
    /// The token could not be checked: no usable key set (the authorization
    /// server has not been reached yet, or the last good keys are older than
    /// the maximum stale age). Not the token's fault: HTTP 503.
    #[error("no usable key set: the authorization server's keys are unavailable")]
    KeysUnavailable,
}

impl ValidationError {
    /// The short `error_description` sent to the client: a fixed text per kind
    /// that never includes anything from the token.
    pub fn description(&self) -> &'static str {
        match self {
            ValidationError::TooLarge { .. } => "The access token is too large",
            ValidationError::Malformed(_) => "The access token is malformed",
            ValidationError::UnsupportedAlgorithm | ValidationError::AlgorithmNotAllowed(_) => {
                "The access token is signed with an algorithm that is not accepted"
            }
            ValidationError::UnsupportedCritical => {
                "The access token requires an unsupported header extension"
            }
            ValidationError::TypeNotAllowed => "The token is not an access token",
            ValidationError::MissingKeyId
            | ValidationError::UnknownKeyId
            | ValidationError::KeyAlgorithmMismatch(_)
            | ValidationError::NoKeyForAlgorithm(_) => {
                "The access token is signed with an unknown key"
            }
            ValidationError::InvalidSignature => "The access token signature is invalid",
            ValidationError::MissingClaim(_) => "The access token lacks a required claim",
            ValidationError::InvalidClaim(_) | ValidationError::UnexpectedClaimValue(_) => {
                "The access token has an invalid claim"
            }
            ValidationError::Expired => "The access token expired",
            ValidationError::NotYetValid => "The access token is not valid yet",
            ValidationError::IssuedInFuture => "The access token was issued in the future",
            ValidationError::InvalidIssuer => "The access token was issued by an untrusted issuer",
            ValidationError::InvalidAudience => "The access token is not meant for this resource",
            ValidationError::SenderConstrained => {
                "The access token is bound to a key and is not a bearer token"
            }
            ValidationError::CertificateMismatch => {
                "The access token is bound to another client certificate"
            }
            ValidationError::Dpop(e) => e.description(),
            ValidationError::DpopRequired => "This resource requires DPoP-bound access tokens",
            ValidationError::Inactive => "The access token is not active",
            ValidationError::KeysUnavailable => "The access token cannot be checked right now",
            #[cfg(feature = "remote")]
            ValidationError::IntrospectionUnavailable(_) => {
                "The access token cannot be checked right now"
            }
        }
    }

    /// A short, stable name for the kind of failure (`expired`,
    /// `invalid_signature`, `invalid_audience`, …), for metrics labels and
    /// log fields: a fixed set, nothing from the token.
    pub fn kind(&self) -> &'static str {
        match self {
            ValidationError::TooLarge { .. } => "too_large",
            ValidationError::Malformed(_) => "malformed",
            ValidationError::UnsupportedAlgorithm | ValidationError::AlgorithmNotAllowed(_) => {
                "algorithm_not_allowed"
            }
            ValidationError::UnsupportedCritical => "unsupported_critical",
            ValidationError::TypeNotAllowed => "type_not_allowed",
            ValidationError::MissingKeyId
            | ValidationError::UnknownKeyId
            | ValidationError::KeyAlgorithmMismatch(_)
            | ValidationError::NoKeyForAlgorithm(_) => "unknown_key",
            ValidationError::InvalidSignature => "invalid_signature",
            ValidationError::MissingClaim(_) => "missing_claim",
            ValidationError::InvalidClaim(_) | ValidationError::UnexpectedClaimValue(_) => {
                "invalid_claim"
            }
            ValidationError::Expired => "expired",
            ValidationError::NotYetValid => "not_yet_valid",
            ValidationError::IssuedInFuture => "issued_in_future",
            ValidationError::InvalidIssuer => "invalid_issuer",
            ValidationError::InvalidAudience => "invalid_audience",
            ValidationError::SenderConstrained => "sender_constrained",
            ValidationError::CertificateMismatch => "certificate_mismatch",
            ValidationError::Dpop(DpopError::Replayed) => "dpop_replayed",
            ValidationError::Dpop(e) if e.is_unavailable() => "unavailable",
            ValidationError::Dpop(_) => "invalid_dpop_proof",
            ValidationError::DpopRequired => "dpop_required",
            ValidationError::Inactive => "inactive",
            ValidationError::KeysUnavailable => "unavailable",
            #[cfg(feature = "remote")]
            ValidationError::IntrospectionUnavailable(_) => "unavailable",
        }
    }

    /// Whether the token could not be checked (rather than being refused).
    pub fn is_unavailable(&self) -> bool {
        match self {
            ValidationError::KeysUnavailable => true,
            ValidationError::Dpop(e) => e.is_unavailable(),
            #[cfg(feature = "remote")]
            ValidationError::IntrospectionUnavailable(_) => true,
            _ => false,
        }
    }
}

impl From<Malformed> for ValidationError {
    fn from(m: Malformed) -> Self {
        ValidationError::Malformed(m)
    }
}

impl From<SignatureError> for ValidationError {
    fn from(e: SignatureError) -> Self {
        match e {
            SignatureError::MissingKeyId => ValidationError::MissingKeyId,
            SignatureError::UnknownKeyId => ValidationError::UnknownKeyId,
            SignatureError::KeyAlgorithmMismatch(alg) => ValidationError::KeyAlgorithmMismatch(alg),
            SignatureError::NoKeyForAlgorithm(alg) => ValidationError::NoKeyForAlgorithm(alg),
            SignatureError::InvalidSignature => ValidationError::InvalidSignature,
        }
    }
}

impl From<JwsError> for ValidationError {
    fn from(e: JwsError) -> Self {
        match e {
            JwsError::Malformed(m) => ValidationError::Malformed(m),
            JwsError::UnsupportedAlgorithm => ValidationError::UnsupportedAlgorithm,
            JwsError::AlgorithmNotAllowed(alg) => ValidationError::AlgorithmNotAllowed(alg),
            JwsError::UnsupportedCritical => ValidationError::UnsupportedCritical,
            JwsError::TypeNotAllowed => ValidationError::TypeNotAllowed,
            JwsError::Signature(e) => e.into(),
        }
    }
}

impl From<TimeError> for ValidationError {
    fn from(e: TimeError) -> Self {
        match e {
            TimeError::Expired => ValidationError::Expired,
            TimeError::NotYetValid => ValidationError::NotYetValid,
            TimeError::IssuedInFuture => ValidationError::IssuedInFuture,
        }
    }
}

impl From<ClaimError> for ValidationError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Missing(name) => ValidationError::MissingClaim(name),
            ClaimError::Invalid(name) => ValidationError::InvalidClaim(name),
            ClaimError::Time(t) => t.into(),
            ClaimError::Issuer => ValidationError::InvalidIssuer,
            ClaimError::Audience => ValidationError::InvalidAudience,
            ClaimError::Mismatch(name) => ValidationError::UnexpectedClaimValue(name),
        }
    }
}

#[cfg(feature = "remote")]
impl From<Rejection> for ValidationError {
    fn from(e: Rejection) -> Self {
        match e {
            Rejection::Refused(Refusal::Inactive) => ValidationError::Inactive,
            Rejection::Refused(Refusal::NotAnAccessToken) => ValidationError::TypeNotAllowed,
            Rejection::Refused(Refusal::Claims(e)) => e.into(),
            Rejection::Unavailable(e) => ValidationError::IntrospectionUnavailable(e),
        }
    }
}

/// A mistake in the crate's configuration: why a
/// [`Validator`](crate::Validator) could not be built, or why a layer, a
/// [`Requirement`](crate::Requirement) or a resource's metadata refused a
/// value (their `try_` constructors; the others, made for literals, panic
/// with this error's message).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No issuer configured: every token's `iss` must be checked (RFC 9068 §4).
    #[error("no issuer configured: call ValidatorBuilder::issuer")]
    NoIssuer,
    /// No audience configured: every token's `aud` must be checked (RFC 9068 §4).
    #[error("no audience configured: call ValidatorBuilder::audience")]
    NoAudience,
    /// No usable verification key.
    #[error("no usable verification key configured{}", rejected_suffix(.rejected))]
    NoKeys {
        /// Why each offered key was refused, as `(kid, reason)`.
        rejected: Vec<(Option<String>, KeyError)>,
    },
    /// Several issuers and one key set, without
    /// [`issuers_share_keys`](crate::ValidatorBuilder::issuers_share_keys):
    /// a token naming one issuer would verify with another issuer's keys
    /// (RFC 8725 §3.8).
    #[error(
        "{issuers} issuers are configured with one key set, so a token naming one issuer could be verified with another issuer's key (RFC 8725 §3.8): build one validator per issuer, or call ValidatorBuilder::issuers_share_keys() if these are names of one authorization server that signs with these keys"
    )]
    IssuersShareKeys {
        /// How many issuers are configured.
        issuers: usize,
    },
    /// The same issuer is configured twice (with [`trust`](crate::ValidatorBuilder::trust)
    /// or [`issuer`](crate::ValidatorBuilder::issuer)).
    #[error("issuer {0:?} is configured twice")]
    DuplicateIssuer(String),
    /// A setting made for the other kind of [`Issuer`](crate::Issuer),
    /// which would do nothing: `tenant_claim`, `tenants` or `max_tenants`
    /// on an exact issuer ([`Issuer::new`](crate::Issuer::new)), `also` on
    /// a [`tenant_template`](crate::Issuer::tenant_template).
    #[error(
        "Issuer::{setting} does nothing on issuer {issuer:?}: tenant settings belong to Issuer::tenant_template, `also` to Issuer::new"
    )]
    MisplacedSetting {
        /// The issuer (or template) as configured.
        issuer: String,
        /// The setting that does not apply to it.
        setting: &'static str,
    },
    /// A [`tenant_template`](crate::Issuer::tenant_template) that cannot be
    /// used safely: no `{tenant}` or more than one, or `{tenant}` in the
    /// host without a [`tenants`](crate::Issuer::tenants) allow-list (a
    /// token could then name any host).
    #[error("the tenant template {template:?} {reason}")]
    TenantTemplate {
        /// The template as configured.
        template: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Settings the builder keeps for its own issuer (algorithms, `typ`
    /// policy, required claims, role sources, allowed client ids) while it
    /// names no issuer of its own: they would apply to nothing. Set them on
    /// each [`Issuer`](crate::Issuer) given to
    /// [`trust`](crate::ValidatorBuilder::trust).
    #[error(
        "ValidatorBuilder::{0} applies to the builder's own issuer, but it names none (only ValidatorBuilder::trust): set it on each Issuer instead"
    )]
    PolicyWithoutIssuer(&'static str),
    /// The strict RFC 9068 profile with the client-id mode and no audience:
    /// RFC 9068 §4 requires every access token to carry `aud`.
    #[error(
        "rfc9068_profile() requires `aud` (RFC 9068 §4), but this issuer accepts tokens by client id without an audience"
    )]
    ProfileNeedsAudience,
    /// Introspection needs an issuer configured by name, whose rules check
    /// the answers.
    #[cfg(feature = "remote")]
    #[error("introspection needs an issuer configured by name (not only tenant templates)")]
    IntrospectionNeedsIssuer,
    /// The algorithm allow-list is empty.
    #[error("the algorithm allow-list is empty")]
    NoAlgorithms,
    /// The DPoP proof algorithm allow-list is empty (or held only HMAC
    /// algorithms, which DPoP forbids).
    #[error("the DPoP algorithm allow-list is empty (DPoP proofs need asymmetric algorithms)")]
    NoDpopAlgorithms,
    /// The DPoP nonce secret is shorter than 16 bytes.
    #[error("the DPoP nonce secret is {len} bytes; it needs at least 16")]
    DpopNonceSecret {
        /// The length given.
        len: usize,
    },
    /// The operating system's random source failed.
    #[error("the system's random source failed")]
    RandomSource,
    /// A JWKS document could not be read.
    #[error("invalid JWKS: {0}")]
    Jwks(#[from] JwksError),
    /// A JWKS file could not be read.
    #[error("cannot read JWKS file {path}: {source}")]
    JwksFile {
        /// The path given.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM key or HMAC secret was refused.
    #[error("invalid key: {0}")]
    Key(#[from] KeyError),
    /// An HMAC secret was configured for an algorithm that the explicit
    /// allow-list excludes.
    #[error("an HMAC secret is configured for {0}, which the algorithm allow-list excludes")]
    HmacNotAllowed(Algorithm),
    /// Remote keys need a tokio runtime: build the validator inside one.
    #[cfg(feature = "remote")]
    #[error("remote keys need a tokio runtime: build the validator from within one")]
    NoRuntime,
    /// Both [`jwks_url`](crate::ValidatorBuilder::jwks_url) and
    /// [`discover`](crate::ValidatorBuilder::discover): one key source only.
    #[cfg(feature = "remote")]
    #[error("configure either jwks_url or discover, not both")]
    JwksUrlAndDiscovery,
    /// [`discover`](crate::ValidatorBuilder::discover) with other than
    /// exactly one issuer: the metadata's `issuer` must equal it.
    #[cfg(feature = "remote")]
    #[error("discover needs exactly one configured issuer, found {issuers}")]
    DiscoveryNeedsOneIssuer {
        /// How many issuers are configured.
        issuers: usize,
    },
    /// [`Introspection::discovered`](crate::introspection::Introspection::discovered)
    /// without [`discover`](crate::ValidatorBuilder::discover).
    #[cfg(feature = "remote")]
    #[error("Introspection::discovered needs ValidatorBuilder::discover to find the endpoint")]
    IntrospectionNeedsDiscovery,
    /// [`IntrospectionOptions::max_concurrent`](crate::introspection::IntrospectionOptions::max_concurrent)
    /// of 0: no opaque token could ever be checked.
    #[cfg(feature = "remote")]
    #[error("introspection needs at least one call in flight (max_concurrent is 0)")]
    IntrospectionConcurrency,
    /// A URL is not usable (not https, or not a URL:
    /// [`RemoteError::is_insecure_url`]), or the HTTP client could not be
    /// built.
    #[cfg(feature = "remote")]
    #[error(transparent)]
    Url(RemoteError),
    /// [`build_and_fetch`](crate::ValidatorBuilder::build_and_fetch): the
    /// first fetch of the keys failed.
    #[cfg(feature = "remote")]
    #[error("cannot load the authorization server's keys: {0}")]
    KeySource(#[from] RemoteError),
    /// A realm with control characters, which no HTTP header can carry.
    #[error("the realm {0:?} contains control characters, which no HTTP header can carry")]
    InvalidRealm(String),
    /// A public or resource URL that is not an absolute `http(s)` URL
    /// without user information, query or fragment. The message does not
    /// repeat the URL, which may hold the credentials it was refused for.
    #[error("not an absolute http(s) URL without user information, query or fragment")]
    InvalidUrl,
    /// Not a scope token (RFC 6749 §3.3: printable ASCII without space,
    /// `"` or `\`).
    #[error(
        "{0:?} is not a valid scope (RFC 6749 §3.3: printable ASCII without space, '\"' or '\\\\')"
    )]
    InvalidScope(String),
    /// A scope, role, permission or `acr` requirement that lists nothing:
    /// it would mean nothing.
    #[error("a requirement needs at least one scope, role, permission or acr value")]
    EmptyRequirement,
}

fn rejected_suffix(rejected: &[(Option<String>, KeyError)]) -> String {
    if rejected.is_empty() {
        return String::new();
    }
    let reasons: Vec<String> = rejected
        .iter()
        .map(|(kid, e)| match kid {
            Some(kid) => format!("kid {kid:?}: {e}"),
            None => e.to_string(),
        })
        .collect();
    format!(" (refused: {})", reasons.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_fit_rfc6750_charset() {
        // RFC 6750 §3: error_description is %x20-21 / %x23-5B / %x5D-7E.
        let all = [
            ValidationError::TooLarge { len: 1, limit: 0 },
            ValidationError::Malformed(Malformed::Base64),
            ValidationError::UnsupportedAlgorithm,
            ValidationError::AlgorithmNotAllowed(Algorithm::HS256),
            ValidationError::UnsupportedCritical,
            ValidationError::TypeNotAllowed,
            ValidationError::MissingKeyId,
            ValidationError::UnknownKeyId,
            ValidationError::KeyAlgorithmMismatch(Algorithm::RS256),
            ValidationError::NoKeyForAlgorithm(Algorithm::RS256),
            ValidationError::InvalidSignature,
            ValidationError::MissingClaim("sub".into()),
            ValidationError::InvalidClaim("exp"),
            ValidationError::Expired,
            ValidationError::NotYetValid,
            ValidationError::IssuedInFuture,
            ValidationError::InvalidIssuer,
            ValidationError::InvalidAudience,
            ValidationError::SenderConstrained,
            ValidationError::CertificateMismatch,
            ValidationError::DpopRequired,
            ValidationError::Dpop(DpopError::Replayed),
            ValidationError::Dpop(DpopError::UseNonce),
            ValidationError::Dpop(DpopError::KeyMismatch),
            ValidationError::Inactive,
            ValidationError::KeysUnavailable,
        ];
        for e in all {
            let d = e.description();
            assert!(
                d.bytes()
                    .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
                "{d}"
            );
        }
    }
}
