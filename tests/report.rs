//! `Validator::validate_with_report` follows the validator's own order:
//! each token here fails two neighbouring checks at once, and the report
//! must name the earlier one as failed (with the validator's error), every
//! check before it as passed and every check after it as not reached. A
//! change to the order of the checks fails here until `Check::ORDER`
//! follows it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::keys::Algorithm;
use bearer_guard::report::{Check, Outcome, Report};
use bearer_guard::testing::{TestIssuer, TestKey};
use bearer_guard::{Issuer, ValidationError, Validator};
use serde_json::json;

fn issuer() -> TestIssuer {
    TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256).with_kid("k")])
        .default_audience("payments")
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn report(validator: &Validator, token: &str) -> Report {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(validator.validate_with_report(token))
}

/// The report failed at `at`, passed everything before, reached nothing after.
fn assert_failed_at(report: &Report, at: Check) {
    assert_eq!(report.failed(), Some(at), "{report:?}");
    let mut before = true;
    for (check, outcome) in report.checks() {
        let expected = if *check == at {
            before = false;
            Outcome::Failed
        } else if before {
            Outcome::Passed
        } else {
            Outcome::NotReached
        };
        assert_eq!(*outcome, expected, "{check:?} in {report:?}");
    }
}

#[test]
fn a_valid_token_passed_every_check_in_order() {
    let issuer = issuer();
    let valid = report(&issuer.validator(), &issuer.token().sign());
    assert!(valid.result().is_ok(), "{valid:?}");
    assert_eq!(valid.failed(), None);
    let checks: Vec<Check> = valid.checks().iter().map(|(c, _)| *c).collect();
    let single: Vec<Check> = Check::ORDER
        .into_iter()
        .filter(|c| *c != Check::IssuerChoice)
        .collect();
    assert_eq!(checks, single, "one issuer: no issuer choice");
    assert!(valid.checks().iter().all(|(_, o)| *o == Outcome::Passed));
}

#[test]
fn a_token_failing_two_neighbouring_checks_is_reported_at_the_first() {
    let issuer = issuer();
    let plain = issuer.validator();
    let strict = issuer
        .validator_builder()
        .audience("payments")
        .rfc9068_profile()
        .build()
        .unwrap();
    let small = issuer
        .validator_builder()
        .audience("payments")
        .max_token_size(100)
        .build()
        .unwrap();
    let later = now() + 3600;
    let duplicate_alg = format!(
        "{}.e30.c2ln",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","alg":"none"}"#)
    );
    let jkt = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"});
    type Case<'a> = (
        &'a str,
        &'a Validator,
        String,
        Check,
        fn(&ValidationError) -> bool,
    );
    let cases: Vec<Case> = vec![
        (
            "too large, and not a token",
            &small,
            "!".repeat(200),
            Check::Size,
            |e| matches!(e, ValidationError::TooLarge { .. }),
        ),
        (
            "a repeated header member, and alg none",
            &plain,
            duplicate_alg,
            Check::Structure,
            |e| matches!(e, ValidationError::Malformed(_)),
        ),
        (
            "alg none, and crit",
            &plain,
            issuer.token().header("crit", vec!["x"]).unsigned(),
            Check::Algorithm,
            |e| *e == ValidationError::UnsupportedAlgorithm,
        ),
        (
            "crit, and a typ of another kind",
            &plain,
            issuer
                .token()
                .header("crit", vec!["x"])
                .header("typ", "dpop+jwt")
                .sign(),
            Check::Critical,
            |e| *e == ValidationError::UnsupportedCritical,
        ),
        (
            "a typ of another kind, and an unknown kid",
            &plain,
            issuer
                .token()
                .header("typ", "dpop+jwt")
                .header("kid", "nope")
                .sign(),
            Check::Type,
            |e| *e == ValidationError::TypeNotAllowed,
        ),
        (
            "an unknown kid, and a bad signature",
            &plain,
            issuer.token().header("kid", "nope").tampered(),
            Check::Key,
            |e| *e == ValidationError::UnknownKeyId,
        ),
        (
            "a bad signature, and no exp",
            &plain,
            issuer.token().without_claim("exp").tampered(),
            Check::Signature,
            |e| *e == ValidationError::InvalidSignature,
        ),
        (
            "no aud, and another issuer",
            &plain,
            issuer
                .token()
                .without_claim("aud")
                .claim("iss", "https://other.test")
                .sign(),
            Check::RegisteredClaims,
            |e| *e == ValidationError::MissingClaim("aud".into()),
        ),
        (
            "another issuer, and another audience",
            &plain,
            issuer
                .token()
                .claim("iss", "https://other.test")
                .audience("orders")
                .sign(),
            Check::Issuer,
            |e| *e == ValidationError::InvalidIssuer,
        ),
        (
            "another audience, and expired",
            &plain,
            issuer.token().audience("orders").expires_in(-3600).sign(),
            Check::Audience,
            |e| *e == ValidationError::InvalidAudience,
        ),
        (
            "expired, and not valid yet",
            &plain,
            issuer.token().expires_in(-3600).claim("nbf", later).sign(),
            Check::Expiry,
            |e| *e == ValidationError::Expired,
        ),
        (
            "not valid yet, and issued in the future",
            &plain,
            issuer
                .token()
                .claim("nbf", later)
                .claim("iat", later)
                .sign(),
            Check::NotBefore,
            |e| *e == ValidationError::NotYetValid,
        ),
        (
            "issued in the future, and no jti (RFC 9068)",
            &strict,
            issuer
                .token()
                .claim("iat", later)
                .without_claim("jti")
                .sign(),
            Check::IssuedAt,
            |e| *e == ValidationError::IssuedInFuture,
        ),
        (
            "no jti (RFC 9068), and a sub that is a number",
            &strict,
            issuer.token().without_claim("jti").claim("sub", 42).sign(),
            Check::RequiredClaims,
            |e| *e == ValidationError::MissingClaim("jti".into()),
        ),
        (
            "a sub that is a number, and bound to a DPoP key",
            &plain,
            issuer
                .token()
                .claim("sub", 42)
                .claim("cnf", jkt.clone())
                .sign(),
            Check::ClaimTypes,
            |e| *e == ValidationError::InvalidClaim("sub"),
        ),
        (
            "bound to a DPoP key, presented as a bearer token",
            &plain,
            issuer.token().claim("cnf", jkt).sign(),
            Check::Binding,
            |e| *e == ValidationError::SenderConstrained,
        ),
    ];
    // The cases follow one another as the checks do: together they pin
    // `Check::ORDER` (one issuer) to what the validator does.
    let order: Vec<Check> = cases.iter().map(|case| case.3).collect();
    let single: Vec<Check> = Check::ORDER
        .into_iter()
        .filter(|c| *c != Check::IssuerChoice)
        .collect();
    assert_eq!(order, single);
    for (what, validator, token, at, error) in cases {
        let refused = report(validator, &token);
        let e = refused.result().expect_err(what);
        assert!(error(e), "{what}: {e:?}");
        assert_failed_at(&refused, at);
    }
}

#[test]
fn with_several_issuers_the_unverified_iss_is_chosen_before_the_signature() {
    let a = issuer();
    let b = TestIssuer::with_keys(vec![TestKey::generate(Algorithm::ES256).with_kid("b")])
        .issuer_url("https://b.test")
        .default_audience("payments");
    let validator = Validator::builder()
        .trust(
            Issuer::new(a.issuer())
                .audience("payments")
                .jwks_json(a.jwks_json()),
        )
        .trust(
            Issuer::new(b.issuer())
                .audience("payments")
                .jwks_json(b.jwks_json()),
        )
        .build()
        .unwrap();
    // Neither issuer, and a bad signature: refused before the signature,
    // which the report does not claim was checked.
    let token = a.token().claim("iss", "https://c.test").tampered();
    let refused = report(&validator, &token);
    assert_eq!(
        refused.result().unwrap_err(),
        &ValidationError::InvalidIssuer
    );
    assert_failed_at(&refused, Check::IssuerChoice);
    assert!(
        refused
            .checks()
            .contains(&(Check::Signature, Outcome::NotReached))
    );
    // A token of the second issuer passes every check, the choice included.
    let accepted = report(&validator, &b.token().sign());
    assert!(accepted.result().is_ok(), "{accepted:?}");
    assert_eq!(accepted.checks().len(), Check::ORDER.len());
}

#[test]
fn a_signature_refused_for_its_length_is_not_reported_past_the_key() {
    // The validator refuses a signature longer than any algorithm's
    // before it looks up the token's `kid`: here one no key has, so the
    // report must not say the key check passed.
    let issuer = issuer();
    let token = issuer.token().header("kid", "nope").sign();
    let (signing_input, _) = token.rsplit_once('.').unwrap();
    let long = format!("{signing_input}.{}", "A".repeat(1400));
    let refused = report(&issuer.validator(), &long);
    assert_eq!(
        refused.result().unwrap_err(),
        &ValidationError::InvalidSignature
    );
    assert!(
        !refused.checks().contains(&(Check::Key, Outcome::Passed)),
        "the kid was never looked up: {refused:?}"
    );
    assert_failed_at(&refused, Check::Key);
}
