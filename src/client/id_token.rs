//! [`IdTokenVerifier`]: the ID token of a login callback, verified as
//! OpenID Connect Core §3.1.3.7 says, on the crate's key sources.

use std::time::Duration;

use crate::claims::Claims;
use crate::clock::Clock;
use crate::jwt::TypPolicy;
use crate::keys::Algorithm;
use crate::validator::{BuildError, DEFAULT_LEEWAY, ValidationError, Validator, ValidatorBuilder};

/// Why an ID token was refused: each check of OpenID Connect Core
/// §3.1.3.7 that can fail has its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// The token itself: signature, `alg` (the registered one), `iss`,
    /// `aud` (must contain the client id), `exp`, `iat`, `sub`...
    #[error(transparent)]
    Token(#[from] ValidationError),
    /// Several audiences and no `azp`, or an `azp` that is not this client.
    #[error("azp is missing or names another client")]
    AuthorizedParty,
    /// The caller stored a nonce and the token carries none.
    #[error("the ID token has no nonce")]
    MissingNonce,
    /// The token's nonce is not the one the caller stored: a replayed or
    /// injected token.
    #[error("the ID token's nonce is not the one sent")]
    NonceMismatch,
    /// `max_age` was asked and the token has no `auth_time`.
    #[error("the ID token has no auth_time, and max_age was requested")]
    MissingAuthTime,
    /// The user logged in longer ago than `max_age`.
    #[error("the user authenticated too long ago for the max_age requested")]
    AuthenticationTooOld,
}

/// Verifies ID tokens for one client of one issuer.
///
/// ```
/// # use bearer_guard::testing::TestIssuer;
/// use bearer_guard::client::IdTokenVerifier;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// # let issuer = TestIssuer::new();
/// let verifier = IdTokenVerifier::builder(issuer.issuer(), "web-app")
///     .jwks_json(issuer.jwks_json())
///     .build()
///     .unwrap();
/// # let id_token = issuer.token().header("typ", "JWT").audience("web-app").claim("nonce", "n-0S6_WzA2Mj").sign();
/// let claims = verifier.verify(&id_token, Some("n-0S6_WzA2Mj"), None).await.unwrap();
/// # let _ = claims;
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct IdTokenVerifier {
    validator: Validator,
    client_id: String,
    clock: Clock,
    leeway: Duration,
}

/// Configures an [`IdTokenVerifier`]: the issuer's keys (as for a
/// [`Validator`]), and the algorithm the client registered.
#[derive(Debug)]
#[must_use]
pub struct IdTokenVerifierBuilder {
    builder: ValidatorBuilder,
    client_id: String,
    clock: Clock,
    leeway: Duration,
}

impl IdTokenVerifier {
    /// ID tokens from `issuer` (exact `iss`) for the client `client_id`
    /// (which `aud` must contain): `typ` `JWT` or none, `sub` and `iat`
    /// required, signed with RS256 (OpenID Connect's default) unless
    /// [`algorithms`](IdTokenVerifierBuilder::algorithms) names the one the
    /// client registered.
    pub fn builder(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
    ) -> IdTokenVerifierBuilder {
        let client_id = client_id.into();
        IdTokenVerifierBuilder {
            builder: Validator::builder()
                .issuer(issuer)
                .audience(client_id.clone())
                // An access token (`at+jwt`) is not an ID token.
                .typ_policy(TypPolicy::OneOf(vec!["JWT".into(), String::new()]))
                // OpenID Connect's default `id_token_signed_response_alg`.
                .algorithms([Algorithm::RS256])
                .require_claim("sub")
                .require_claim("iat"),
            client_id,
            clock: Clock::System,
            leeway: DEFAULT_LEEWAY,
        }
    }

    /// Verifies `id_token`: the token (signature with the issuer's keys
    /// and the registered algorithm, `iss`, `aud`, `exp`, `iat`), then
    /// `azp` (required and equal to the client id when there are several
    /// audiences), `nonce` (equal to `nonce`, the value the caller stored
    /// before the redirect, when given), and `auth_time` within `max_age`
    /// (when the request asked for one).
    pub async fn verify(
        &self,
        id_token: &str,
        nonce: Option<&str>,
        max_age: Option<Duration>,
    ) -> Result<Claims, IdTokenError> {
        let claims = self.validator.validate(id_token).await?;
        let audiences = claims.audiences().count();
        match (claims.get("azp"), claims.authorized_party()) {
            (Some(_), None) => return Err(IdTokenError::AuthorizedParty),
            (_, Some(azp)) if azp != self.client_id => return Err(IdTokenError::AuthorizedParty),
            (None, None) if audiences > 1 => return Err(IdTokenError::AuthorizedParty),
            _ => {}
        }
        if let Some(expected) = nonce {
            match claims.get("nonce").and_then(|v| v.as_str()) {
                None => return Err(IdTokenError::MissingNonce),
                Some(n) if n != expected => return Err(IdTokenError::NonceMismatch),
                Some(_) => {}
            }
        }
        if let Some(max_age) = max_age {
            let auth_time = claims.auth_time().ok_or(IdTokenError::MissingAuthTime)?;
            let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(0);
            let max = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
            if auth_time.saturating_add(max).saturating_add(leeway) < self.clock.now() {
                return Err(IdTokenError::AuthenticationTooOld);
            }
        }
        Ok(claims)
    }
}

impl IdTokenVerifierBuilder {
    /// The issuer's keys from this JWKS document.
    pub fn jwks_json(mut self, json: impl Into<String>) -> Self {
        self.builder = self.builder.jwks_json(json);
        self
    }

    /// The issuer's keys from this JWKS URL, kept fresh.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.builder = self.builder.jwks_url(url);
        self
    }

    /// The issuer's keys found through its metadata.
    pub fn discover(mut self) -> Self {
        self.builder = self.builder.discover();
        self
    }

    /// The algorithm(s) the client registered
    /// (`id_token_signed_response_alg`, RS256 by default in OpenID Connect).
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.builder = self.builder.algorithms(algs);
        self
    }

    /// Clock leeway for `exp`, `iat` and `auth_time` (the validator's
    /// default, 60 s, otherwise).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.builder = self.builder.leeway(leeway);
        self.leeway = leeway;
        self
    }

    /// Allows `http://` key URLs (loopback test set-ups only).
    pub fn allow_insecure_http(mut self) -> Self {
        self.builder = self.builder.allow_insecure_http();
        self
    }

    /// Fetches discovery and keys with `client`: see
    /// [`ValidatorBuilder::http_client`](crate::ValidatorBuilder::http_client).
    pub fn http_client(mut self, client: reqwest::ClientBuilder) -> Self {
        self.builder = self.builder.http_client(client);
        self
    }

    /// The clock (a `ManualClock` in tests).
    pub fn clock(mut self, clock: impl Into<Clock>) -> Self {
        let clock = clock.into();
        self.builder = self.builder.clock(clock.clone());
        self.clock = clock;
        self
    }

    /// Builds the verifier.
    ///
    /// # Errors
    ///
    /// As [`ValidatorBuilder::build`].
    pub fn build(self) -> Result<IdTokenVerifier, BuildError> {
        Ok(IdTokenVerifier {
            validator: self.builder.build()?,
            client_id: self.client_id,
            clock: self.clock,
            leeway: self.leeway,
        })
    }
}
