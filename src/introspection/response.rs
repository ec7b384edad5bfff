//! Reading an introspection answer (RFC 7662 §2.2): whether the token is
//! active, then the same claim checks as a JWT (see `ClaimRules::check` for
//! what an answer may leave out).

use serde_json::Value;

use super::IntrospectionOptions;
use crate::claims::{ClaimError, ClaimRules, Claims, Source};
use crate::json::{self, ObjectError};

/// What is wrong with an introspection answer: the token could not be
/// checked (HTTP 503), it was not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidResponse {
    /// Not a complete, valid UTF-8 JSON object.
    #[error("not a JSON object")]
    NotJsonObject,
    /// A top-level member appears twice.
    #[error("a member appears twice")]
    DuplicateMember,
    /// `active` is missing or not a boolean.
    #[error("no boolean `active`")]
    NoActive,
}

/// Why an answered token was refused (each maps to its own validation error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `active: false`.
    Inactive,
    /// A `token_type` that is not a bearer access token.
    NotAnAccessToken,
    /// Active, but the claims fail a check.
    Claims(ClaimError),
}

/// What an answer says, and for how long (seconds) it may be reused.
#[derive(Clone)]
pub(crate) enum Answer {
    /// Active, and the claims pass the checks.
    Active { claims: Claims, ttl: u64 },
    /// Inactive, or refused by the claim checks.
    Refused { refusal: Refusal, ttl: u64 },
}

/// Reads an introspection response body at time `now`.
pub(crate) fn interpret(
    body: &[u8],
    rules: &ClaimRules,
    now: i64,
    options: &IntrospectionOptions,
) -> Result<Answer, InvalidResponse> {
    let map = json::parse_object(body).map_err(|e| match e {
        ObjectError::NotAnObject => InvalidResponse::NotJsonObject,
        ObjectError::DuplicateMember => InvalidResponse::DuplicateMember,
    })?;
    let refused = |refusal| Answer::Refused {
        refusal,
        ttl: options.inactive_ttl.as_secs(),
    };
    match map.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Ok(refused(Refusal::Inactive)),
        _ => return Err(InvalidResponse::NoActive),
    }
    // RFC 9449 §6.2: a DPoP-bound token is `token_type: DPoP` with the key's
    // thumbprint in `cnf.jkt`; the validator checks it against the proof.
    let mut dpop = false;
    if let Some(token_type) = map.get("token_type").and_then(Value::as_str) {
        dpop = token_type.eq_ignore_ascii_case("dpop");
        if !dpop
            && !token_type.eq_ignore_ascii_case("bearer")
            && !token_type.eq_ignore_ascii_case("access_token")
        {
            return Ok(refused(Refusal::NotAnAccessToken));
        }
    }
    match rules.check(map, now, Source::Introspection) {
        Ok(claims) if dpop && claims.dpop_thumbprint().is_none() => {
            Ok(refused(Refusal::Claims(ClaimError::Missing("cnf".into()))))
        }
        Ok(claims) => {
            let until_exp = claims.expires_at().map_or(u64::MAX, |exp| {
                u64::try_from(exp.saturating_sub(now)).unwrap_or(0)
            });
            let ttl = until_exp.min(options.max_ttl.as_secs());
            Ok(Answer::Active { claims, ttl })
        }
        Err(error) => Ok(refused(Refusal::Claims(error))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Leeway;

    fn rules() -> ClaimRules {
        ClaimRules {
            issuers: vec!["https://as.example".into()],
            audiences: vec!["api".into()],
            leeway: Leeway(60),
            ..ClaimRules::default()
        }
    }

    fn read(body: &str) -> Result<Answer, InvalidResponse> {
        interpret(
            body.as_bytes(),
            &rules(),
            1000,
            &IntrospectionOptions::default(),
        )
    }

    #[test]
    fn answers_are_read_strictly() {
        assert_eq!(read("[]").err(), Some(InvalidResponse::NotJsonObject));
        assert_eq!(
            read(r#"{"active":true,"active":false}"#).err(),
            Some(InvalidResponse::DuplicateMember)
        );
        assert_eq!(
            read(r#"{"active":"true"}"#).err(),
            Some(InvalidResponse::NoActive)
        );
        let refusal = |body| match read(body) {
            Ok(Answer::Refused { refusal, ttl }) => Some((refusal, ttl)),
            _ => None,
        };
        assert_eq!(
            refusal(r#"{"active":false}"#),
            Some((Refusal::Inactive, 10))
        );
        assert_eq!(
            refusal(r#"{"active":true,"aud":"api","token_type":"DPoP"}"#),
            Some((Refusal::Claims(ClaimError::Missing("cnf".into())), 10))
        );
        assert_eq!(
            refusal(r#"{"active":true,"token_type":"refresh_token"}"#),
            Some((Refusal::NotAnAccessToken, 10))
        );
        assert_eq!(
            refusal(r#"{"active":true,"aud":"other"}"#),
            Some((Refusal::Claims(ClaimError::Audience), 10))
        );
        // The audience is required of an answer as of a JWT.
        assert_eq!(
            refusal(r#"{"active":true}"#),
            Some((Refusal::Claims(ClaimError::Missing("aud".into())), 10))
        );
    }

    #[test]
    fn an_active_answer_lives_until_exp_or_the_max_ttl() {
        let ttl = |body| match read(body) {
            Ok(Answer::Active { ttl, .. }) => Some(ttl),
            _ => None,
        };
        assert_eq!(ttl(r#"{"active":true,"aud":"api"}"#), Some(60));
        assert_eq!(ttl(r#"{"active":true,"aud":"api","exp":1030}"#), Some(30));
        assert_eq!(ttl(r#"{"active":true,"aud":"api","exp":1000}"#), Some(0));
    }
}
