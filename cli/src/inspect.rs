//! `bearer-guard inspect TOKEN`: a token decoded **without verifying it**
//! (the library's [`decode_unverified`]): header, claims, times in human
//! form, and what a resource server will check.

use std::process::ExitCode;

use bearer_guard::jwt::{Members, TypPolicy, UnverifiedJws, UnverifiedToken, decode_unverified};
use bearer_guard::keys::Algorithm;
use bearer_guard::limits::DEFAULT_MAX_TOKEN_SIZE;
use serde_json::Value;

use crate::input::{clean_token, read_token};
use crate::output::{Out, alg_text, complain, name_text, quote, show, usage_error};
use crate::when::{leeway_secs, now, numeric_date, relative, rfc3339, when};

/// Decode the token WITHOUT verifying it: header, claims, times in human
/// form, and what a resource server will check.
#[derive(Debug, clap::Args)]
#[command(after_help = crate::TOKEN_HELP)]
pub struct Args {
    /// The access token, or - to read it from standard input.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
}

pub fn run(args: Args) -> ExitCode {
    let Some(arg) = args.token else {
        return usage_error("inspect needs a TOKEN (or - to read it from standard input)");
    };
    let raw = match read_token(&arg) {
        Ok(raw) => raw,
        Err(e) => return usage_error(e),
    };
    let token = clean_token(&raw);
    let decoded = match decode_unverified(token) {
        Ok(decoded) => decoded,
        Err(e) => {
            complain(e);
            return ExitCode::from(2);
        }
    };
    let mut out = Out::default();
    match decoded {
        UnverifiedToken::Jws(jws) => explain_jws(&mut out, &jws, token.len(), now()),
        UnverifiedToken::Jwe(header) => explain_jwe(&mut out, &header),
        // Opaque, and any kind a later version of the library tells apart.
        _ => explain_opaque(&mut out, token),
    }
    out.print();
    ExitCode::SUCCESS
}

fn explain_opaque(out: &mut Out, token: &str) {
    out.line(format_args!(
        "Opaque token ({} characters): not a JWT (a JWT has three dot-separated segments).",
        token.len()
    ));
    out.line("Its meaning is known only to the authorization server that issued it: nothing");
    out.line("can be read from it here. A resource server checks it by asking that server,");
    out.line("with token introspection (RFC 7662): bearer-guard does so when the validator is");
    out.line("built with ValidatorBuilder::introspection. `bearer-guard verify` checks JWTs only.");
}

fn explain_jwe(out: &mut Out, header: &Members) {
    out.line("Encrypted JWT (JWE, five segments): its claims cannot be read without the");
    out.line("decryption key, and bearer-guard does not accept encrypted access tokens.");
    out.line("Ask the authorization server for signed (JWS) access tokens for this API.");
    out.blank();
    out.line("Header");
    for (name, value) in header.iter() {
        out.line(format_args!("  {}: {}", name_text(name), show(value)));
    }
}

/// What a header's `alg` means to a resource server.
fn alg_note(alg: Option<&str>) -> String {
    let Some(alg) = alg else {
        return "MISSING: a token without `alg` is refused".to_owned();
    };
    if alg.eq_ignore_ascii_case("none") {
        return format!(
            "{}: WARNING an unsigned token (alg none): always refused",
            quote(alg)
        );
    }
    match alg.parse::<Algorithm>() {
        Ok(a) if a.is_symmetric() => format!(
            "{a}: WARNING an HMAC shared secret, accepted only by a resource server configured \
             with that secret (a token HMAC-signed with a public key is an algorithm-confusion attack)"
        ),
        Ok(a) => format!("{a}: asymmetric, verified with the issuer's public key"),
        Err(_) => format!(
            "{}: WARNING not an algorithm bearer-guard implements: refused",
            quote(alg)
        ),
    }
}

/// How the validator's `typ` policies take a header's `typ`.
enum Typ {
    /// What RFC 9068 requires (`at+jwt`).
    AccessToken,
    /// Accepted by the default policy only (`JWT`, or none).
    Default,
    /// Refused by both.
    Refused,
}

fn typ_kind(typ: Option<&str>) -> Typ {
    if TypPolicy::Rfc9068.allows(typ) {
        Typ::AccessToken
    } else if TypPolicy::default().allows(typ) {
        Typ::Default
    } else {
        Typ::Refused
    }
}

/// What a header's `typ` means.
fn typ_note(typ: Option<&str>) -> String {
    match (typ, typ_kind(typ)) {
        (None, _) => "absent: accepted by default, refused under the strict RFC 9068 profile \
                      (which requires at+jwt)"
            .to_owned(),
        (Some(t), Typ::AccessToken) => format!("{}: an RFC 9068 JWT access token", quote(t)),
        (Some(t), Typ::Default) => format!(
            "{}: a generic JWT, accepted by default, refused under the strict RFC 9068 profile",
            quote(t)
        ),
        (Some(t), Typ::Refused) => format!(
            "{}: WARNING declares another kind of token (not an access token): refused",
            quote(t)
        ),
    }
}

fn explain_jws(out: &mut Out, jws: &UnverifiedJws, len: usize, now: i64) {
    let h = jws.header();
    let c = jws.claims();
    out.line("JWT (JWS compact serialization), NOT VERIFIED: decoded only. Nothing below is");
    out.line("proven until the signature is checked (use `bearer-guard verify`).");
    out.blank();

    out.line("Header");
    out.line(format_args!("  alg: {}", alg_note(h.get_str("alg"))));
    out.line(format_args!("  typ: {}", typ_note(h.get_str("typ"))));
    match h.get_str("kid") {
        Some(kid) => out.line(format_args!(
            "  kid: {}: the issuer's key that must verify the signature",
            quote(kid)
        )),
        None => out.line(
            "  kid: absent: accepted only when exactly one of the issuer's keys can verify its alg",
        ),
    }
    for (name, value) in h.iter() {
        match name {
            "alg" | "typ" | "kid" => {}
            "jku" | "x5u" | "jwk" | "x5c" => out.line(format_args!(
                "  {name}: WARNING ignored by a resource server: keys never come from the token"
            )),
            "x5t" | "x5t#S256" => out.line(format_args!(
                "  {name}: {} (a certificate thumbprint; ignored, the key is chosen by kid)",
                show(value)
            )),
            "crit" => out.line(format_args!(
                "  crit: {}: WARNING names extensions a resource server must understand; \
                 bearer-guard understands none and refuses the token",
                show(value)
            )),
            "b64" if value == &Value::Bool(false) => out.line(
                "  b64: false: WARNING unencoded payload (RFC 7797): refused by bearer-guard",
            ),
            _ => out.line(format_args!("  {}: {}", name_text(name), show(value))),
        }
    }
    for name in h.duplicates() {
        out.line(format_args!(
            "  WARNING header member {} appears twice: a resource server refuses the token",
            quote(name)
        ));
    }
    if jws.signature_len() == 0 {
        out.line("  WARNING the signature segment is empty: an unsigned token is always refused");
    }
    out.blank();

    out.line("Claims");
    out.lines(&claims_json(c));
    for name in c.duplicates() {
        out.line(format_args!(
            "WARNING claim {} appears twice: a resource server refuses the token",
            quote(name)
        ));
    }
    if c.get("nonce").is_some() || c.get("at_hash").is_some() {
        out.line(
            "WARNING nonce/at_hash: this looks like an OpenID Connect ID token, not an access \
             token; APIs take the access token",
        );
    }
    out.blank();

    explain_times(out, c, now);
    out.blank();
    explain_checks(out, jws, len, now);
    out.blank();
    out.line("NOT VERIFIED: run `bearer-guard verify` with the issuer, your audience and the");
    out.line("issuer's keys to check the signature and the claims.");
}

/// The claims, pretty-printed in token order (serde_json escapes C0
/// controls in strings; `Out::lines` escapes the rest).
fn claims_json(c: &Members) -> String {
    if c.is_empty() {
        return "{}".to_owned();
    }
    let mut text = String::from("{\n");
    let last = c.len().saturating_sub(1);
    for (i, (name, value)) in c.iter().enumerate() {
        let key = serde_json::to_string(name).unwrap_or_default();
        let pretty = serde_json::to_string_pretty(value).unwrap_or_default();
        let indented = pretty.replace('\n', "\n  ");
        text.push_str(&format!("  {key}: {indented}"));
        text.push_str(if i == last { "\n" } else { ",\n" });
    }
    text.push('}');
    text
}

fn explain_times(out: &mut Out, c: &Members, now: i64) {
    let leeway = leeway_secs(None);
    out.line(format_args!(
        "Times (UTC; now {})",
        rfc3339(now).unwrap_or_else(|| now.to_string())
    ));
    let mut any = false;
    for name in ["iat", "nbf", "exp", "auth_time"] {
        let Some(value) = c.get(name) else { continue };
        any = true;
        let Some(t) = numeric_date(value) else {
            out.line(format_args!(
                "  {name:<9}  {}: WARNING not a NumericDate (seconds since 1970): refused",
                show(value)
            ));
            continue;
        };
        let delta = t.saturating_sub(now);
        let verdict = match name {
            "exp" if delta <= 0 => {
                let grace = delta.saturating_add_unsigned(leeway);
                if grace > 0 {
                    format!("  EXPIRED (still within a {leeway} s leeway for {grace} s)")
                } else {
                    "  EXPIRED".to_owned()
                }
            }
            "nbf" if delta > 0 => "  NOT YET VALID".to_owned(),
            "iat" if delta > 0 => "  issued in the future (clock skew?)".to_owned(),
            _ => String::new(),
        };
        out.line(format_args!("  {name:<9}  {}{verdict}", when(t, now)));
    }
    if !any {
        out.line("  none (a token without exp is refused)");
    }
    let exp = c.get("exp").and_then(numeric_date);
    let iat = c.get("iat").and_then(numeric_date);
    if let (Some(exp), Some(iat)) = (exp, iat) {
        let lifetime = exp.saturating_sub(iat);
        out.line(format_args!(
            "  lifetime   {}",
            relative(lifetime)
                .trim_start_matches("in ")
                .trim_end_matches(" ago")
        ));
    }
}

fn explain_checks(out: &mut Out, jws: &UnverifiedJws, len: usize, now: i64) {
    let h = jws.header();
    let c = jws.claims();
    let missing = "MISSING: refused";
    out.line("What a resource server will check");
    let unsigned = jws.signature_len() == 0
        || h.get_str("alg")
            .is_some_and(|a| a.eq_ignore_ascii_case("none"));
    let alg = alg_text(h.get_str("alg"));
    let key = match h.get_str("kid") {
        Some(kid) => format!("the issuer's key {} ({alg})", quote(kid)),
        None => format!("the issuer's only key for {alg} (no kid)"),
    };
    if unsigned {
        out.line("  signature  ABSENT: an unsigned token is always refused");
    } else {
        out.line(format_args!(
            "  signature  verified with {key}, from the issuer's JWKS, never from the token"
        ));
    }
    out.line(format_args!(
        "  size       {len} bytes (limit {DEFAULT_MAX_TOKEN_SIZE} by default)"
    ));
    let typ = h.get_str("typ");
    let typ = match (typ, typ_kind(typ)) {
        (Some(t), Typ::AccessToken) => format!("{}: what RFC 9068 requires", quote(t)),
        (Some(t), Typ::Refused) => format!("{}: not an access token type, refused", quote(t)),
        (Some(t), Typ::Default) => format!(
            "{}: accepted by default; the strict RFC 9068 profile requires at+jwt",
            quote(t)
        ),
        (None, _) => {
            "absent: accepted by default; the strict RFC 9068 profile requires at+jwt".to_owned()
        }
    };
    out.line(format_args!("  typ        {typ}"));
    out.line(format_args!(
        "  iss        {}: must equal the configured issuer exactly (a trailing slash matters)",
        c.get("iss").map_or_else(|| missing.to_owned(), show)
    ));
    out.line(format_args!(
        "  aud        {}: must contain your API's audience",
        c.get("aud").map_or_else(|| missing.to_owned(), show)
    ));
    let leeway = leeway_secs(None);
    let exp = match c.get("exp").map(|v| (v, numeric_date(v))) {
        None => missing.to_owned(),
        Some((v, None)) => format!("{}: not a NumericDate, refused", show(v)),
        Some((_, Some(t))) if t.saturating_add_unsigned(leeway) <= now => {
            format!("EXPIRED {}", relative(t.saturating_sub(now)))
        }
        Some((_, Some(t))) => format!("{}: refused after it", when(t, now)),
    };
    out.line(format_args!(
        "  exp        {exp}, with a leeway of {leeway} s by default"
    ));
    let nbf = match c.get("nbf").and_then(numeric_date) {
        None => "absent: no lower bound".to_owned(),
        Some(t) if t > now.saturating_add_unsigned(leeway) => {
            format!("NOT YET VALID ({})", relative(t.saturating_sub(now)))
        }
        Some(_) => "passed".to_owned(),
    };
    out.line(format_args!("  nbf        {nbf}"));
    let scope = match (c.get("scope"), c.get("scp")) {
        (Some(v), _) => format!("scope {}: routes may require some of these", show(v)),
        (None, Some(v)) => format!("scp {}: routes may require some of these", show(v)),
        (None, None) => "none granted: routes that require a scope refuse it (403)".to_owned(),
    };
    out.line(format_args!("  scope      {scope}"));
    let binding = match c.get("cnf") {
        None => "none: a bearer token, usable by whoever holds it".to_owned(),
        Some(Value::Object(cnf)) if cnf.contains_key("jkt") => format!(
            "cnf.jkt {}: bound to a DPoP key (RFC 9449): needs a proof of possession \
             (Authorization: DPoP with a DPoP proof signed by that key)",
            cnf.get("jkt").map_or_else(String::new, show)
        ),
        Some(Value::Object(cnf)) if cnf.contains_key("x5t#S256") => format!(
            "cnf.x5t#S256 {}: bound to a client certificate (RFC 8705): needs a proof of \
             possession (mutual TLS with that certificate)",
            cnf.get("x5t#S256").map_or_else(String::new, show)
        ),
        Some(other) => format!(
            "{}: a binding bearer-guard cannot check: refused",
            show(other)
        ),
    };
    out.line(format_args!("  cnf        {binding}"));
    out.line(format_args!(
        "  client_id  {}",
        c.get("client_id").map_or_else(
            || "absent (required under the RFC 9068 profile)".to_owned(),
            |v| format!("{}: the OAuth client the token was issued to", show(v))
        )
    ));
    out.line(format_args!(
        "  sub        {}",
        c.get("sub").map_or_else(
            || "absent (required under the RFC 9068 profile)".to_owned(),
            |v| format!("{}: the user, or the client itself", show(v))
        )
    ));
}
