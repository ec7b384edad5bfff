//! [`Report`]: a validation and the checks it went through, in the order
//! the validator runs them, for diagnostics (the `bearer-guard verify`
//! command prints one).
//!
//! The order is the validator's: `tests/report.rs` holds it with tokens
//! that fail two neighbouring checks at once, whose report must name the
//! earlier one. The mapping from an error to its check is one `match`
//! without a wildcard, so a new [`ValidationError`] variant cannot be
//! added without deciding where it belongs.

use super::{ValidationError, Validator};
use crate::claims::Claims;

/// One check of a JWT's validation. [`Check::ORDER`] is the order in which
/// [`Validator::validate`] runs them; a token is refused at the first that
/// fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The token's length, against
    /// [`max_token_size`](crate::ValidatorBuilder::max_token_size), before
    /// anything is decoded.
    Size,
    /// A compact JWS: three base64url segments, a JSON header (and JSON
    /// claims) naming each member once.
    Structure,
    /// Only with several issuers ([`trust`](crate::ValidatorBuilder::trust),
    /// tenant templates): the token's unverified `iss` chooses whose keys
    /// verify it, before the signature. A single issuer's validator reads
    /// nothing from the payload before the signature and has no such check.
    IssuerChoice,
    /// The header's `alg`: implemented and allowed.
    Algorithm,
    /// No `crit` extension, no `b64: false`.
    Critical,
    /// The header's `typ`, against the [`TypPolicy`](crate::jwt::TypPolicy).
    Type,
    /// A key of the issuer for the token's `kid` and `alg` (and, for a key
    /// that names its issuer, one that vouches for the token's). A
    /// signature longer than any algorithm's is refused here, before the
    /// key is looked up.
    Key,
    /// The signature, with that key.
    Signature,
    /// `exp`, `iss` and `aud` present (`client_id` instead of `aud` in the
    /// client-id mode).
    RegisteredClaims,
    /// `iss` exactly a configured issuer.
    Issuer,
    /// `aud` holds a configured audience (and `client_id` is an allowed
    /// client, when a list is configured).
    Audience,
    /// `exp` not passed, with the leeway.
    Expiry,
    /// `nbf` passed, with the leeway.
    NotBefore,
    /// `iat` not in the future, with the leeway.
    IssuedAt,
    /// The other required claims, and the claims required to hold a value.
    RequiredClaims,
    /// The types of `sub`, `jti`, `client_id`, `azp`, the scopes, `cnf`,
    /// roles and permissions.
    ClaimTypes,
    /// The token's binding (`cnf`): a bearer token presented as one; a
    /// token bound to a key needs its proof.
    Binding,
}

impl Check {
    /// Every check, in the order the validator runs them.
    pub const ORDER: [Check; 17] = [
        Check::Size,
        Check::Structure,
        Check::IssuerChoice,
        Check::Algorithm,
        Check::Critical,
        Check::Type,
        Check::Key,
        Check::Signature,
        Check::RegisteredClaims,
        Check::Issuer,
        Check::Audience,
        Check::Expiry,
        Check::NotBefore,
        Check::IssuedAt,
        Check::RequiredClaims,
        Check::ClaimTypes,
        Check::Binding,
    ];

    /// A short, stable name (`size`, `signature`, `aud`, ...), for logs.
    pub fn name(self) -> &'static str {
        match self {
            Check::Size => "size",
            Check::Structure => "structure",
            Check::IssuerChoice => "issuer_choice",
            Check::Algorithm => "alg",
            Check::Critical => "crit",
            Check::Type => "typ",
            Check::Key => "key",
            Check::Signature => "signature",
            Check::RegisteredClaims => "registered_claims",
            Check::Issuer => "iss",
            Check::Audience => "aud",
            Check::Expiry => "exp",
            Check::NotBefore => "nbf",
            Check::IssuedAt => "iat",
            Check::RequiredClaims => "required_claims",
            Check::ClaimTypes => "claim_types",
            Check::Binding => "binding",
        }
    }
}

/// What became of one [`Check`] in a validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The validator went past it.
    Passed,
    /// The token was refused here.
    Failed,
    /// The token was refused before it.
    NotReached,
}

/// A validation and the checks it went through: see
/// [`Validator::validate_with_report`].
///
/// A check is [`Passed`](Outcome::Passed) only when the validator went past
/// it. Where an error could come from either of two checks, the report
/// names the earlier one (and shows the checks between as not reached):
/// it may under-state what passed, never over-state it.
#[derive(Debug, Clone)]
pub struct Report {
    checks: Vec<(Check, Outcome)>,
    result: Result<Claims, ValidationError>,
}

impl Report {
    /// The checks in the order the validator ran them, each with its
    /// outcome. [`Check::IssuerChoice`] appears only for a validator with
    /// several issuers. Empty when the token was not checked as a JWT (it
    /// went to introspection).
    pub fn checks(&self) -> &[(Check, Outcome)] {
        &self.checks
    }

    /// The check that refused the token, if one did.
    pub fn failed(&self) -> Option<Check> {
        self.checks
            .iter()
            .find(|(_, outcome)| *outcome == Outcome::Failed)
            .map(|(check, _)| *check)
    }

    /// The validation's result, as [`Validator::validate`] returns it.
    pub fn result(&self) -> Result<&Claims, &ValidationError> {
        self.result.as_ref()
    }

    /// The validation's result, owned.
    pub fn into_result(self) -> Result<Claims, ValidationError> {
        self.result
    }
}

impl Validator {
    /// Validates `token` exactly as [`validate`](Self::validate) does (the
    /// same checks, caches and key fetches) and reports which checks it
    /// passed, which refused it and which it never reached: for a
    /// diagnostic tool or a test, where [`validate`](Self::validate) says
    /// only why a token was refused.
    ///
    /// ```
    /// use bearer_guard::ValidationError;
    /// use bearer_guard::report::{Check, Outcome};
    /// # use bearer_guard::testing::TestIssuer;
    /// # let issuer = TestIssuer::new();
    /// # let validator = issuer.validator();
    /// # let token = issuer.token().audience("another-api").sign();
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let report = validator.validate_with_report(&token).await;
    /// assert_eq!(report.result().unwrap_err(), &ValidationError::InvalidAudience);
    /// assert_eq!(report.failed(), Some(Check::Audience));
    /// for (check, outcome) in report.checks() {
    ///     println!("{:<17} {outcome:?}", check.name()); // signature Passed ... exp NotReached
    /// }
    /// # });
    /// ```
    pub async fn validate_with_report(&self, token: &str) -> Report {
        let result = self.validate(token).await;
        let checks = if self.checked_as_jwt(token) {
            let failed = match &result {
                Ok(_) => None,
                Err(e) => self.failed_check(e, token),
            };
            let several = self.inner.issuers.single().is_none();
            let mut outcome = Outcome::Passed;
            Check::ORDER
                .iter()
                .filter(|check| several || **check != Check::IssuerChoice)
                .map(|check| {
                    if Some(*check) == failed {
                        outcome = Outcome::NotReached;
                        (*check, Outcome::Failed)
                    } else {
                        (*check, outcome)
                    }
                })
                .collect()
        } else {
            Vec::new()
        };
        Report { checks, result }
    }

    /// Whether `token` goes through the JWT checks (not introspection).
    fn checked_as_jwt(&self, token: &str) -> bool {
        #[cfg(feature = "remote")]
        if self.introspects(token) {
            return false;
        }
        let _ = token;
        true
    }

    /// The check a JWT validation of `token` failed at; `None` for the
    /// errors of introspection. Where an error may come from two checks,
    /// the earlier.
    fn failed_check(&self, e: &ValidationError, token: &str) -> Option<Check> {
        let issuers = &self.inner.issuers;
        let several = issuers.single().is_none();
        let rules = || {
            issuers
                .exact
                .iter()
                .map(|t| &t.claims)
                .chain(issuers.templates.iter().map(|t| &t.claims))
        };
        // The client-id mode checks `client_id` with the audience.
        let client_id_mode = rules().any(|r| r.audiences.is_empty());
        let client_allow_list = rules().any(|r| !r.client_ids.is_empty());
        // A key that names its issuer is checked against `iss` right after
        // the signature, before the claims.
        let issuer_bound_keys = self.keys().iter().any(|k| k.issuer().is_some());
        Some(match e {
            ValidationError::TooLarge { .. } => Check::Size,
            // A payload that is not a JSON object is found after the
            // signature (one issuer), a signature that is not base64url
            // before the key: both reported at the structure, earlier.
            ValidationError::Malformed(_) => Check::Structure,
            // With several issuers, `iss` is read first, to choose the keys.
            ValidationError::MissingClaim(name) if several && name == "iss" => Check::IssuerChoice,
            ValidationError::InvalidClaim("iss") | ValidationError::InvalidIssuer if several => {
                Check::IssuerChoice
            }
            ValidationError::KeysUnavailable if several => Check::IssuerChoice,
            ValidationError::UnsupportedAlgorithm | ValidationError::AlgorithmNotAllowed(_) => {
                Check::Algorithm
            }
            ValidationError::UnsupportedCritical => Check::Critical,
            ValidationError::TypeNotAllowed => Check::Type,
            ValidationError::MissingKeyId
            | ValidationError::UnknownKeyId
            | ValidationError::KeyAlgorithmMismatch(_)
            | ValidationError::NoKeyForAlgorithm(_)
            | ValidationError::KeysUnavailable => Check::Key,
            // A signature longer than any is refused before the key is
            // looked up (the `kid` may be one no key has).
            ValidationError::InvalidSignature if crate::jwt::signature_too_long(token) => {
                Check::Key
            }
            ValidationError::InvalidSignature => Check::Signature,
            ValidationError::InvalidIssuer if issuer_bound_keys => Check::Key,
            ValidationError::MissingClaim(name) => match name.as_str() {
                "exp" | "iss" | "aud" => Check::RegisteredClaims,
                "client_id" if client_id_mode => Check::RegisteredClaims,
                _ => Check::RequiredClaims,
            },
            ValidationError::InvalidClaim(name) => match *name {
                "iss" => Check::Issuer,
                "aud" => Check::Audience,
                "client_id" if client_allow_list => Check::Audience,
                "exp" => Check::Expiry,
                "nbf" => Check::NotBefore,
                "iat" => Check::IssuedAt,
                _ => Check::ClaimTypes,
            },
            ValidationError::InvalidIssuer => Check::Issuer,
            ValidationError::InvalidAudience => Check::Audience,
            ValidationError::Expired => Check::Expiry,
            ValidationError::NotYetValid => Check::NotBefore,
            ValidationError::IssuedInFuture => Check::IssuedAt,
            ValidationError::UnexpectedClaimValue(_) => Check::RequiredClaims,
            ValidationError::SenderConstrained
            | ValidationError::CertificateMismatch
            | ValidationError::Dpop(_)
            | ValidationError::DpopRequired => Check::Binding,
            ValidationError::Inactive => return None,
            #[cfg(feature = "remote")]
            ValidationError::IntrospectionUnavailable(_) => return None,
        })
    }
}
