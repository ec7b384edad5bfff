//! `bearer-guard`: explains an OAuth 2.0 access token, and checks it the way
//! a resource server protected by this crate would.
//!
//! Installed with `cargo install bearer-guard --features cli`.
//!
//! ```text
//! bearer-guard inspect TOKEN
//!     Decodes a JWT's header and claims WITHOUT verifying them, shows its
//!     times in human form and what a resource server will check. An opaque
//!     token is recognised as such (it needs RFC 7662 introspection).
//!
//! bearer-guard verify --issuer URL --audience AUD [--audience AUD ...]
//!                     (--jwks-url URL | --jwks-file FILE | --discover)
//!                     [--allow-http] [--algorithm ALG ...] [--leeway SECONDS]
//!                     [--rfc9068] TOKEN
//!     Validates the token with the real `Validator` and prints every check
//!     with its verdict (ok, FAIL, not reached).
//!
//! bearer-guard help | --help | --version
//! ```
//!
//! `TOKEN` may be `-` to read it from standard input (it then stays out of
//! the shell history and the process list); a leading `Bearer ` or `DPoP `
//! (or a whole `Authorization:` header line) is removed.
//!
//! Exit status: 0 the token was decoded (`inspect`) or is valid (`verify`);
//! 1 `verify` refused the token; 2 a usage error, input that is not a token
//! (`inspect`), or keys that could not be loaded (`verify`).

#![forbid(unsafe_code)]
// As in the library: untrusted input never panics.
#![cfg_attr(
    not(test),
    deny(
        clippy::string_slice,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::arithmetic_side_effects,
    )
)]

use std::collections::HashSet;
use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::{
    BuildError, Claims, ValidationError, Validator,
    keys::{Algorithm, AlgorithmSet, KeySet},
    limits::{DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE},
};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

const USAGE: &str = "\
bearer-guard: explain and check OAuth 2.0 JWT access tokens (RFC 9068)

USAGE:
    bearer-guard inspect TOKEN
    bearer-guard verify --issuer URL --audience AUD [--audience AUD ...]
                        (--jwks-url URL | --jwks-file FILE | --discover |
                         --key-file FILE | --hmac-secret-file FILE |
                         --hmac-secret-env VAR) [--kid KID]
                        [--allow-http] [--algorithm ALG ...] [--leeway SECONDS]
                        [--rfc9068] TOKEN
    bearer-guard help | --help | -h
    bearer-guard --version | -V

COMMANDS:
    inspect   Decode the token WITHOUT verifying it: header, claims, times in
              human form, and what a resource server will check.
    verify    Validate the token as a resource server would, and print every
              check with its verdict (ok, FAIL, not reached).

TOKEN is the access token, or - to read it from standard input (it then stays
out of your shell history and the process list). A leading \"Bearer \" or
\"DPoP \" is removed.

VERIFY OPTIONS:
    --issuer URL        The accepted issuer: `iss` must equal it exactly.
    --audience AUD      An accepted audience (repeat for several): `aud` must
                        contain one of them.
    --jwks-url URL      Fetch the issuer's keys (JWKS) from URL.
    --jwks-file FILE    Read the issuer's keys (JWKS) from FILE.
    --discover          Find the keys through the issuer's metadata (OpenID
                        Connect Discovery, else RFC 8414).
    --key-file FILE     Read one PEM public key (RSA, P-256, P-384, Ed25519)
                        from FILE. Key and secret files must be regular files
                        (not a pipe) of at most 64 KiB.
    --hmac-secret-file FILE
                        Read a shared HMAC secret from FILE: its bytes as they
                        are, but for one final line break in a text file.
    --hmac-secret-env VAR
                        Take a shared HMAC secret from the variable VAR. An
                        HMAC secret verifies HS256, or the HS algorithms given
                        with --algorithm.
    --kid KID           The key id of --key-file's key or of the secret.
                        Without it, the key verifies tokens with no kid or
                        with a kid no other key has, as a key configured
                        without a kid does.
    --allow-http        Allow plain http:// URLs (loopback and tests only).
    --algorithm ALG     Allow only these algorithms (repeat, or comma-separate;
                        default: every asymmetric one).
    --leeway SECONDS    Clock leeway for exp, nbf and iat (default 60).
    --rfc9068           The strict RFC 9068 profile: typ at+jwt; sub,
                        client_id, iat and jti required.

EXIT STATUS:
    0   inspect: the token was decoded; verify: the token is valid
    1   verify: the token is refused (the last line says why)
    2   usage error, input that is not a token, or keys that cannot be loaded
";

/// Largest input read from standard input.
const MAX_INPUT: u64 = 1024 * 1024;

/// Largest key or secret file read (a PEM key or an HMAC secret).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Output goes through a buffer written once: a closed pipe (`| head`) is
/// not a reason to panic, as `println!` would.
///
/// Every line is escaped on its way in (control characters, C0, DEL and
/// C1, line breaks included, and bidi controls, as `\u001b`): whatever
/// the token holds, and whichever code path prints it, nothing reaches the
/// terminal raw. Text already escaped (by `quote`) holds none of these and
/// is unchanged.
#[derive(Default)]
struct Out(String);

impl Out {
    /// One line.
    fn line(&mut self, text: impl fmt::Display) {
        escape_into(&mut self.0, &text.to_string());
        self.0.push('\n');
    }

    /// Several lines: `text`'s own line breaks (`\n`) kept, each line
    /// escaped as by [`Out::line`].
    fn lines(&mut self, text: &str) {
        for line in text.split('\n') {
            self.line(line);
        }
    }

    /// The usage text (a constant: the only text not escaped).
    fn usage(&mut self) {
        self.0.push_str(USAGE);
    }

    fn blank(&mut self) {
        self.0.push('\n');
    }

    fn print(&self) {
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(self.0.as_bytes());
        let _ = stdout.flush();
    }
}

/// One line on standard error; write failures are ignored.
fn complain(text: impl fmt::Display) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "bearer-guard: {}", one_line(&text.to_string()));
}

fn usage_error(text: impl fmt::Display) -> ExitCode {
    complain(format_args!("{text} (see bearer-guard --help)"));
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(arg) => args.push(arg),
            Err(_) => return usage_error("an argument is not valid UTF-8"),
        }
    }
    let Some((command, rest)) = args.split_first() else {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(USAGE.as_bytes());
        return ExitCode::from(2);
    };
    match command.as_str() {
        "help" | "--help" | "-h" => {
            let mut out = Out::default();
            out.usage();
            out.print();
            ExitCode::SUCCESS
        }
        "--version" | "-V" | "version" => {
            let mut out = Out::default();
            out.line(format_args!("bearer-guard {}", env!("CARGO_PKG_VERSION")));
            out.print();
            ExitCode::SUCCESS
        }
        "inspect" => inspect_command(rest),
        "verify" => verify_command(rest),
        other => usage_error(format_args!("unknown command {}", quote(other))),
    }
}

// ---------------------------------------------------------------------------
// Reading and decoding a token (nothing here verifies anything).

/// The token text: the argument, or standard input for `-`.
fn read_token(arg: &str) -> Result<String, String> {
    if arg != "-" {
        return Ok(arg.to_owned());
    }
    let mut bytes = Vec::new();
    // One byte more than the limit, to tell a long input from one that fits.
    std::io::stdin()
        .lock()
        .take(MAX_INPUT.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read standard input: {e}"))?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_INPUT) {
        return Err(format!(
            "standard input is longer than {MAX_INPUT} bytes: not an access token"
        ));
    }
    String::from_utf8(bytes).map_err(|_| "standard input is not UTF-8 text".to_owned())
}

/// `s` without a case-insensitive ASCII `prefix`.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// The bare token: trimmed, without an `Authorization:` header name and
/// without the `Bearer` / `DPoP` scheme.
fn clean_token(raw: &str) -> &str {
    let mut token = raw.trim();
    if let Some(rest) = strip_prefix_ci(token, "authorization:") {
        token = rest.trim_start();
    }
    for scheme in ["bearer ", "dpop "] {
        if let Some(rest) = strip_prefix_ci(token, scheme) {
            token = rest.trim_start();
            break;
        }
    }
    token
}

/// A JSON object's members in document order, repeats included.
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    members.push(entry);
                }
                Ok(Members(members))
            }
        }
        d.deserialize_map(V)
    }
}

impl Members {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// Member names that appear more than once, each once, in the order of
    /// their first repetition. Linear: a token may hold ~100k members.
    fn duplicates(&self) -> Vec<&str> {
        let mut seen: HashSet<&str> = HashSet::with_capacity(self.0.len());
        let mut reported: HashSet<&str> = HashSet::new();
        let mut repeated: Vec<&str> = Vec::new();
        for (name, _) in &self.0 {
            let name = name.as_str();
            if !seen.insert(name) && reported.insert(name) {
                repeated.push(name);
            }
        }
        repeated
    }
}

/// A decoded (unverified) compact JWS.
struct Jwt {
    header: Members,
    claims: Members,
    signature_len: usize,
}

/// What the input is.
enum Kind {
    Jwt(Jwt),
    /// An encrypted JWT (five segments): its protected header.
    Jwe(Members),
    /// Not a JWT: its number of dot-separated segments.
    Opaque,
}

fn decode_segment(segment: &str, which: &str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| format!("malformed JWT: the {which} is not unpadded base64url"))
}

fn decode_object(segment: &str, which: &str) -> Result<Members, String> {
    let bytes = decode_segment(segment, which)?;
    serde_json::from_slice::<Members>(&bytes)
        .map_err(|e| format!("malformed JWT: the {which} is not a JSON object ({e})"))
}

/// Whether `c` may appear in a token (RFC 6750 §2.1 `b64token`, which also
/// covers JWTs and the usual opaque formats).
fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=')
}

/// Decodes `token` without verifying anything.
fn classify(token: &str) -> Result<Kind, String> {
    if token.is_empty() {
        return Err("no token: the input is empty".to_owned());
    }
    if let Some((at, c)) = token.char_indices().find(|(_, c)| !token_char(*c)) {
        return Err(format!(
            "not an access token: {} at byte {at} is not a token character (RFC 6750 b64token)",
            quote(&c.to_string())
        ));
    }
    let segments: Vec<&str> = token.split('.').collect();
    match segments.as_slice() {
        [header, payload, signature] => {
            if header.is_empty() {
                return Err("malformed JWT: the header (first segment) is empty".to_owned());
            }
            let header = decode_object(header, "header (first segment)")?;
            let claims = decode_object(payload, "payload (second segment)")?;
            let signature_len = decode_segment(signature, "signature (third segment)")?.len();
            Ok(Kind::Jwt(Jwt {
                header,
                claims,
                signature_len,
            }))
        }
        [header, _, _, _, _] => Ok(Kind::Jwe(decode_object(header, "JWE header")?)),
        _ => Ok(Kind::Opaque),
    }
}

// ---------------------------------------------------------------------------
// Text helpers.

/// The bidirectional formatting characters (they reorder what follows on
/// the line), and the Unicode line and paragraph separators.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}'
            | '\u{2028}'
            | '\u{2029}'
    )
}

/// Whether `c` must not reach the terminal as it is: a control character
/// (C0, DEL, C1) or a bidi control.
fn is_unsafe(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Appends `c` as `\uXXXX`.
fn push_escape(out: &mut String, c: char) {
    use fmt::Write as _;
    let _ = write!(out, "\\u{:04x}", u32::from(c));
}

/// Appends `s` with its unsafe characters escaped.
fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        if is_unsafe(c) {
            push_escape(out, c);
        } else {
            out.push(c);
        }
    }
}

/// A string from the token, quoted, with control and bidi characters
/// escaped (a claim cannot move the cursor or reorder the line).
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_unsafe(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text that must stay on one line (control characters escaped).
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// A member name from the token: as it is when it is plain ASCII (`alg`,
/// `x5t#S256`), else quoted, so that an odd name cannot pass for another.
fn name_text(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | ':'));
    if plain { name.to_owned() } else { quote(name) }
}

/// A header's `alg` in running text: the algorithm's name when it is one,
/// else the token's value quoted.
fn alg_text(alg: Option<&str>) -> String {
    match alg {
        None => "no alg".to_owned(),
        Some(alg) => match alg.parse::<Algorithm>() {
            Ok(a) => a.as_str().to_owned(),
            Err(_) => quote(alg),
        },
    }
}

/// A claim value on one line: strings quoted, anything else as JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        other => one_line(&other.to_string()),
    }
}

fn quoted_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let list: Vec<String> = items.into_iter().map(quote).collect();
    if list.is_empty() {
        "none".to_owned()
    } else {
        list.join(", ")
    }
}

fn algorithm_list(set: AlgorithmSet) -> String {
    let names: Vec<&str> = set.iter().map(Algorithm::as_str).collect();
    names.join(", ")
}

// ---------------------------------------------------------------------------
// Time.

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// A NumericDate (RFC 7519 §2): whole or fractional seconds.
fn numeric_date(v: &Value) -> Option<i64> {
    const LIMIT: f64 = 1e15;
    let Value::Number(n) = v else { return None };
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && f.abs() < LIMIT)
            .map(|f| f.floor() as i64)
    })
}

/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
const FIRST_SECOND: i64 = -62_167_219_200;
const LAST_SECOND: i64 = 253_402_300_799;

/// `secs` since the Unix epoch as an RFC 3339 UTC timestamp; `None` outside
/// the years 0000 to 9999.
fn rfc3339(secs: i64) -> Option<String> {
    if !(FIRST_SECOND..=LAST_SECOND).contains(&secs) {
        return None;
    }
    let (y, m, d, hh, mm, ss) = civil(secs);
    Some(format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"))
}

/// The civil date and time of `secs` (within the years 0000 to 9999): Howard
/// Hinnant's civil-from-days algorithm on the proleptic Gregorian calendar.
#[allow(clippy::arithmetic_side_effects)] // |secs| < 2.6e11: no step can overflow an i64
fn civil(secs: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // day of era, [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, of_day / 3_600, of_day % 3_600 / 60, of_day % 60)
}

/// "in 5 min", "3 h ago", "now".
fn relative(delta: i64) -> String {
    let abs = delta.unsigned_abs();
    let round = |unit: u64| {
        abs.saturating_add(unit / 2)
            .checked_div(unit)
            .unwrap_or_default()
    };
    let amount = if abs < 60 {
        format!("{abs} s")
    } else if abs < 3_570 {
        format!("{} min", round(60))
    } else if abs < 172_800 {
        let minutes = round(60);
        let (h, min) = (minutes / 60, minutes % 60);
        if min == 0 || h >= 10 {
            format!("{} h", round(3_600))
        } else {
            format!("{h} h {min} min")
        }
    } else {
        format!("{} d", round(86_400))
    };
    match delta {
        0 => "now".to_owned(),
        d if d > 0 => format!("in {amount}"),
        _ => format!("{amount} ago"),
    }
}

/// A time claim for display: the timestamp and how far from now.
fn when(secs: i64, now: i64) -> String {
    match rfc3339(secs) {
        Some(t) => format!("{t} ({})", relative(secs.saturating_sub(now))),
        None => format!("{secs} (outside the years 0000-9999)"),
    }
}

fn leeway_secs(leeway: Option<u64>) -> u64 {
    leeway.unwrap_or(DEFAULT_LEEWAY.as_secs())
}

// ---------------------------------------------------------------------------
// inspect

fn inspect_command(args: &[String]) -> ExitCode {
    let mut positional = Vec::new();
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => {
                let mut out = Out::default();
                out.usage();
                out.print();
                return ExitCode::SUCCESS;
            }
            a if a.starts_with("--") => {
                return usage_error(format_args!("inspect: unknown option {}", quote(a)));
            }
            _ => positional.push(arg.as_str()),
        }
    }
    let arg = match positional.as_slice() {
        [one] => *one,
        [] => return usage_error("inspect needs a TOKEN (or - to read it from standard input)"),
        _ => return usage_error("inspect takes one TOKEN"),
    };
    let raw = match read_token(arg) {
        Ok(raw) => raw,
        Err(e) => return usage_error(e),
    };
    let token = clean_token(&raw);
    let kind = match classify(token) {
        Ok(kind) => kind,
        Err(e) => {
            complain(e);
            return ExitCode::from(2);
        }
    };
    let mut out = Out::default();
    match kind {
        Kind::Jwt(jwt) => explain_jwt(&mut out, &jwt, token.len(), now()),
        Kind::Jwe(header) => explain_jwe(&mut out, &header),
        Kind::Opaque => explain_opaque(&mut out, token),
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
    for (name, value) in &header.0 {
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

/// What a header's `typ` means.
fn typ_note(typ: Option<&str>) -> String {
    let Some(typ) = typ else {
        return "absent: accepted by default, refused under the strict RFC 9068 profile (which requires at+jwt)"
            .to_owned();
    };
    let bare = strip_prefix_ci(typ, "application/")
        .filter(|r| !r.is_empty())
        .unwrap_or(typ);
    if bare.eq_ignore_ascii_case("at+jwt") {
        format!("{}: an RFC 9068 JWT access token", quote(typ))
    } else if bare.eq_ignore_ascii_case("jwt") {
        format!(
            "{}: a generic JWT, accepted by default, refused under the strict RFC 9068 profile",
            quote(typ)
        )
    } else {
        format!(
            "{}: WARNING declares another kind of token (not an access token): refused",
            quote(typ)
        )
    }
}

fn explain_jwt(out: &mut Out, jwt: &Jwt, len: usize, now: i64) {
    let h = &jwt.header;
    let c = &jwt.claims;
    out.line("JWT (JWS compact serialization), NOT VERIFIED: decoded only. Nothing below is");
    out.line("proven until the signature is checked (use `bearer-guard verify`).");
    out.blank();

    out.line("Header");
    out.line(format_args!("  alg: {}", alg_note(h.str("alg"))));
    out.line(format_args!("  typ: {}", typ_note(h.str("typ"))));
    match h.str("kid") {
        Some(kid) => out.line(format_args!(
            "  kid: {}: the issuer's key that must verify the signature",
            quote(kid)
        )),
        None => out.line(
            "  kid: absent: accepted only when exactly one of the issuer's keys can verify its alg",
        ),
    }
    for (name, value) in &h.0 {
        match name.as_str() {
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
    if jwt.signature_len == 0 {
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
    explain_checks(out, jwt, len, now);
    out.blank();
    out.line("NOT VERIFIED: run `bearer-guard verify` with the issuer, your audience and the");
    out.line("issuer's keys to check the signature and the claims.");
}

/// The claims, pretty-printed in token order (serde_json escapes C0
/// controls in strings; `Out::lines` escapes the rest).
fn claims_json(c: &Members) -> String {
    if c.0.is_empty() {
        return "{}".to_owned();
    }
    let mut text = String::from("{\n");
    let last = c.0.len().saturating_sub(1);
    for (i, (name, value)) in c.0.iter().enumerate() {
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

fn explain_checks(out: &mut Out, jwt: &Jwt, len: usize, now: i64) {
    let h = &jwt.header;
    let c = &jwt.claims;
    let missing = "MISSING: refused";
    out.line("What a resource server will check");
    let unsigned =
        jwt.signature_len == 0 || h.str("alg").is_some_and(|a| a.eq_ignore_ascii_case("none"));
    let alg = alg_text(h.str("alg"));
    let key = match h.str("kid") {
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
    let typ = match h.str("typ") {
        Some(t) if typ_note(Some(t)).contains("RFC 9068 JWT access token") => {
            format!("{}: what RFC 9068 requires", quote(t))
        }
        Some(t) if typ_note(Some(t)).contains("WARNING") => {
            format!("{}: not an access token type, refused", quote(t))
        }
        Some(t) => format!(
            "{}: accepted by default; the strict RFC 9068 profile requires at+jwt",
            quote(t)
        ),
        None => {
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

// ---------------------------------------------------------------------------
// verify

enum KeySource {
    Url(String),
    File(PathBuf),
    Discover,
    Pem(PathBuf),
    HmacFile(PathBuf),
    HmacEnv(String),
}

impl KeySource {
    fn is_hmac(&self) -> bool {
        matches!(self, KeySource::HmacFile(_) | KeySource::HmacEnv(_))
    }

    /// Whether it is one key that `--kid` can name.
    fn is_single_key(&self) -> bool {
        matches!(
            self,
            KeySource::Pem(_) | KeySource::HmacFile(_) | KeySource::HmacEnv(_)
        )
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Url(url) => write!(f, "JWKS at {url}"),
            KeySource::File(path) => write!(f, "JWKS file {}", path.display()),
            KeySource::Discover => f.write_str("issuer's metadata (discovery)"),
            KeySource::Pem(path) => write!(f, "PEM key file {}", path.display()),
            KeySource::HmacFile(path) => write!(f, "HMAC secret file {}", path.display()),
            KeySource::HmacEnv(var) => write!(f, "HMAC secret in the variable {}", quote(var)),
        }
    }
}

struct VerifyArgs {
    issuer: String,
    audiences: Vec<String>,
    source: KeySource,
    allow_http: bool,
    algorithms: Vec<Algorithm>,
    leeway: Option<u64>,
    rfc9068: bool,
    kid: Option<String>,
    token: String,
}

impl VerifyArgs {
    /// The algorithms an HMAC secret is given for: the symmetric ones of
    /// `--algorithm`, else HS256.
    fn hmac_algorithms(&self) -> Vec<Algorithm> {
        // Each once: the same secret twice without a kid would make a
        // token without kid ambiguous.
        let given: AlgorithmSet = self
            .algorithms
            .iter()
            .copied()
            .filter(|a| a.is_symmetric())
            .collect();
        let given: Vec<Algorithm> = given.iter().collect();
        if given.is_empty() && self.algorithms.is_empty() {
            vec![Algorithm::HS256]
        } else {
            given
        }
    }
}

fn take_value(
    name: &str,
    inline: Option<&str>,
    rest: &mut std::slice::Iter<'_, String>,
) -> Result<String, String> {
    match inline {
        Some(v) => Ok(v.to_owned()),
        None => rest
            .next()
            .cloned()
            .ok_or_else(|| format!("{name} needs a value")),
    }
}

fn set_source(new: KeySource, source: &mut Option<KeySource>) -> Result<(), String> {
    if source.is_some() {
        return Err(
            "give one key source: --jwks-url, --jwks-file, --discover, --key-file, \
                    --hmac-secret-file or --hmac-secret-env"
                .to_owned(),
        );
    }
    *source = Some(new);
    Ok(())
}

fn parse_verify(args: &[String]) -> Result<Option<VerifyArgs>, String> {
    let mut issuer = None;
    let mut audiences = Vec::new();
    let mut source = None;
    let mut allow_http = false;
    let mut algorithms = Vec::new();
    let mut leeway = None;
    let mut rfc9068 = false;
    let mut kid = None;
    let mut token: Option<String> = None;
    let mut only_positional = false;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let is_option = !only_positional && arg.starts_with('-') && arg != "-";
        if !is_option {
            if token.is_some() {
                return Err(format!("verify: unexpected argument {}", quote(arg)));
            }
            token = Some(arg.clone());
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => (name, Some(value)),
            _ => (arg.as_str(), None),
        };
        let flag = |value: Option<&str>| match value {
            Some(_) => Err(format!("{name} takes no value")),
            None => Ok(()),
        };
        match name {
            "--" => only_positional = true,
            "-h" | "--help" => return Ok(None),
            "--issuer" => issuer = Some(take_value(name, inline, &mut rest)?),
            "--audience" => audiences.push(take_value(name, inline, &mut rest)?),
            "--jwks-url" => set_source(
                KeySource::Url(take_value(name, inline, &mut rest)?),
                &mut source,
            )?,
            "--jwks-file" => set_source(
                KeySource::File(take_value(name, inline, &mut rest)?.into()),
                &mut source,
            )?,
            "--discover" => {
                flag(inline)?;
                set_source(KeySource::Discover, &mut source)?;
            }
            "--key-file" => set_source(
                KeySource::Pem(take_value(name, inline, &mut rest)?.into()),
                &mut source,
            )?,
            "--hmac-secret-file" => set_source(
                KeySource::HmacFile(take_value(name, inline, &mut rest)?.into()),
                &mut source,
            )?,
            "--hmac-secret-env" => set_source(
                KeySource::HmacEnv(take_value(name, inline, &mut rest)?),
                &mut source,
            )?,
            "--kid" => {
                if kid.is_some() {
                    return Err("--kid is given twice".to_owned());
                }
                let value = take_value(name, inline, &mut rest)?;
                if value.is_empty() {
                    return Err("--kid needs a key id, not an empty one".to_owned());
                }
                kid = Some(value);
            }
            "--allow-http" => {
                flag(inline)?;
                allow_http = true;
            }
            "--rfc9068" => {
                flag(inline)?;
                rfc9068 = true;
            }
            "--algorithm" => {
                let value = take_value(name, inline, &mut rest)?;
                for alg in value.split(',').map(str::trim).filter(|a| !a.is_empty()) {
                    let parsed = alg.parse::<Algorithm>().map_err(|_| {
                        let all: Vec<&str> = Algorithm::ALL.iter().map(|a| a.as_str()).collect();
                        format!(
                            "unknown algorithm {} (one of {})",
                            quote(alg),
                            all.join(", ")
                        )
                    })?;
                    algorithms.push(parsed);
                }
            }
            "--leeway" => {
                let value = take_value(name, inline, &mut rest)?;
                let secs = value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| format!("--leeway takes whole seconds, not {}", quote(&value)))?;
                leeway = Some(secs);
            }
            other => return Err(format!("verify: unknown option {}", quote(other))),
        }
    }
    let issuer = issuer.ok_or("verify needs --issuer URL")?;
    if audiences.is_empty() {
        return Err("verify needs --audience AUD (the audience your API accepts)".to_owned());
    }
    let source = source.ok_or(
        "verify needs the issuer's keys: --jwks-url URL, --jwks-file FILE, --discover, \
         --key-file FILE, --hmac-secret-file FILE or --hmac-secret-env VAR",
    )?;
    if kid.is_some() && !source.is_single_key() {
        return Err(
            "--kid names the key of --key-file or of an HMAC secret; a JWKS names its own keys"
                .to_owned(),
        );
    }
    let token = token.ok_or("verify needs a TOKEN (or - to read it from standard input)")?;
    Ok(Some(VerifyArgs {
        issuer,
        audiences,
        source,
        allow_http,
        algorithms,
        leeway,
        rfc9068,
        kid,
        token,
    }))
    .and_then(|args| match args {
        Some(args) if args.source.is_hmac() && args.hmac_algorithms().is_empty() => Err(
            "an HMAC secret verifies HS256, HS384 or HS512: --algorithm allows none of them"
                .to_owned(),
        ),
        args => Ok(args),
    })
}

/// The bytes of a key or secret file: a regular file of at most
/// `MAX_KEY_FILE` bytes.
fn read_key_file(path: &std::path::Path) -> Result<Vec<u8>, Setup> {
    let cannot = |e: &dyn fmt::Display| Setup(format!("cannot read {}: {e}", path.display()));
    let file = open_nonblocking(path).map_err(|e| cannot(&e))?;
    // The handle's own type: a FIFO (opened without waiting for a writer)
    // or a device such as /dev/zero is refused here.
    let metadata = file.metadata().map_err(|e| cannot(&e))?;
    if !metadata.is_file() {
        return Err(cannot(&"not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(&e))?;
    if u64::try_from(bytes.len()).map_or(true, |n| n > MAX_KEY_FILE) {
        return Err(cannot(&format_args!(
            "longer than {MAX_KEY_FILE} bytes: not a key"
        )));
    }
    Ok(bytes)
}

#[cfg(unix)]
fn open_nonblocking(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    if !std::fs::metadata(path)?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    std::fs::File::open(path)
}

/// An HMAC secret as given: one final line break is dropped from text
/// (`echo secret > file`), binary bytes are kept as they are.
fn secret_bytes(mut bytes: Vec<u8>) -> Vec<u8> {
    if std::str::from_utf8(&bytes).is_ok() {
        if bytes.ends_with(b"\r\n") {
            bytes.truncate(bytes.len().saturating_sub(2));
        } else if bytes.ends_with(b"\n") {
            bytes.truncate(bytes.len().saturating_sub(1));
        }
    }
    bytes
}

/// Why `verify` could not check the token at all (exit status 2).
struct Setup(String);

fn verify_command(args: &[String]) -> ExitCode {
    let args = match parse_verify(args) {
        Ok(Some(args)) => args,
        Ok(None) => {
            let mut out = Out::default();
            out.usage();
            out.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return usage_error(e),
    };
    let raw = match read_token(&args.token) {
        Ok(raw) => raw,
        Err(e) => return usage_error(e),
    };
    let token = clean_token(&raw);
    if token.is_empty() {
        return usage_error("no token: the input is empty");
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            complain(format_args!("cannot start the async runtime: {e}"));
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(check(&args, token)) {
        Ok((validator, result)) => report(&args, token, &validator, result),
        Err(Setup(message)) => {
            complain(message);
            ExitCode::from(2)
        }
    }
}

/// Builds the validator (waiting for remote keys) and validates `token`.
async fn check(
    args: &VerifyArgs,
    token: &str,
) -> Result<(Validator, Result<Claims, ValidationError>), Setup> {
    let mut builder = Validator::builder()
        .issuer(args.issuer.clone())
        .token_cache_capacity(0);
    for audience in &args.audiences {
        builder = builder.audience(audience.clone());
    }
    let remote = match &args.source {
        KeySource::Url(url) => {
            builder = builder.jwks_url(url.clone());
            true
        }
        KeySource::File(path) => {
            builder = builder.jwks_file(path.clone());
            false
        }
        KeySource::Discover => {
            builder = builder.discover();
            true
        }
        KeySource::Pem(path) => {
            builder = builder.pem_public_key(read_key_file(path)?, args.kid.as_deref());
            false
        }
        KeySource::HmacFile(_) | KeySource::HmacEnv(_) => {
            let secret = match &args.source {
                KeySource::HmacEnv(var) => std::env::var_os(var)
                    .ok_or_else(|| Setup(format!("the variable {} is not set", quote(var))))?
                    .into_encoded_bytes(),
                KeySource::HmacFile(path) => secret_bytes(read_key_file(path)?),
                _ => Vec::new(),
            };
            if secret.is_empty() {
                return Err(Setup(format!("the {} is empty", args.source)));
            }
            for alg in args.hmac_algorithms() {
                builder = builder.hmac_secret(&secret, alg, args.kid.as_deref());
            }
            false
        }
    };
    if args.allow_http {
        builder = builder.allow_insecure_http();
    }
    if !args.algorithms.is_empty() {
        builder = builder.algorithms(args.algorithms.iter().copied());
    }
    if let Some(secs) = args.leeway {
        builder = builder.leeway(Duration::from_secs(secs));
    }
    if args.rfc9068 {
        builder = builder.rfc9068_profile();
    }
    let built = if remote {
        builder.build_and_fetch().await
    } else {
        builder.build()
    };
    let validator = built.map_err(|e| Setup(build_error(&e, args)))?;
    let result = validator.validate(token).await;
    Ok((validator, result))
}

fn build_error(e: &BuildError, args: &VerifyArgs) -> String {
    let mut text = format!("cannot load the keys from the {}: {e}", args.source);
    if text.contains("allow_insecure_http") && !args.allow_http {
        text.push_str(" (for a plain-http test or loopback server, add --allow-http)");
    }
    if matches!(e, BuildError::NoKeys { .. }) && !args.algorithms.is_empty() {
        let allowed: AlgorithmSet = args.algorithms.iter().copied().collect();
        text.push_str(&format!(
            " (no key in it can verify the algorithms given with --algorithm: {})",
            algorithm_list(allowed)
        ));
    }
    text
}

/// The checks of a validation, in the order the validator runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Size,
    Structure,
    Alg,
    Crit,
    Typ,
    Key,
    Signature,
    Present,
    Iss,
    Aud,
    Exp,
    Nbf,
    Iat,
    Required,
    Types,
    Binding,
}

const STEPS: [Step; 16] = [
    Step::Size,
    Step::Structure,
    Step::Alg,
    Step::Crit,
    Step::Typ,
    Step::Key,
    Step::Signature,
    Step::Present,
    Step::Iss,
    Step::Aud,
    Step::Exp,
    Step::Nbf,
    Step::Iat,
    Step::Required,
    Step::Types,
    Step::Binding,
];

impl Step {
    fn label(self) -> &'static str {
        match self {
            Step::Size => "size",
            Step::Structure => "structure",
            Step::Alg => "header alg",
            Step::Crit => "header crit",
            Step::Typ => "header typ",
            Step::Key => "key (kid)",
            Step::Signature => "signature",
            Step::Present => "exp/iss/aud",
            Step::Iss => "iss",
            Step::Aud => "aud",
            Step::Exp => "exp",
            Step::Nbf => "nbf",
            Step::Iat => "iat",
            Step::Required => "required",
            Step::Types => "claim types",
            Step::Binding => "binding (cnf)",
        }
    }
}

/// The step a validation error comes from (see `Validator::validate` and
/// the claim checks' order: presence of exp/iss/aud, iss, aud, exp, nbf,
/// iat, other required claims, claim types, then the binding).
fn failed_step(e: &ValidationError) -> Option<Step> {
    Some(match e {
        ValidationError::TooLarge { .. } => Step::Size,
        ValidationError::Malformed(_) => Step::Structure,
        ValidationError::UnsupportedAlgorithm | ValidationError::AlgorithmNotAllowed(_) => {
            Step::Alg
        }
        ValidationError::UnsupportedCritical => Step::Crit,
        ValidationError::TypeNotAllowed => Step::Typ,
        ValidationError::MissingKeyId
        | ValidationError::UnknownKeyId
        | ValidationError::KeyAlgorithmMismatch(_)
        | ValidationError::NoKeyForAlgorithm(_)
        | ValidationError::KeysUnavailable => Step::Key,
        ValidationError::InvalidSignature => Step::Signature,
        ValidationError::MissingClaim(name) => {
            if ["exp", "iss", "aud"].contains(&name.as_str()) {
                Step::Present
            } else {
                Step::Required
            }
        }
        ValidationError::InvalidClaim(name) => match *name {
            "iss" => Step::Iss,
            "aud" => Step::Aud,
            "exp" => Step::Exp,
            "nbf" => Step::Nbf,
            "iat" => Step::Iat,
            _ => Step::Types,
        },
        ValidationError::InvalidIssuer => Step::Iss,
        ValidationError::InvalidAudience => Step::Aud,
        ValidationError::Expired => Step::Exp,
        ValidationError::NotYetValid => Step::Nbf,
        ValidationError::IssuedInFuture => Step::Iat,
        ValidationError::UnexpectedClaimValue(_) => Step::Required,
        ValidationError::SenderConstrained
        | ValidationError::CertificateMismatch
        | ValidationError::Dpop(_)
        | ValidationError::DpopRequired => Step::Binding,
        _ => return None,
    })
}

/// What `verify` knows besides the validator's answer.
struct Ctx<'a> {
    args: &'a VerifyArgs,
    token: &'a str,
    kind: Result<Kind, String>,
    keys: KeySet,
    now: i64,
}

impl Ctx<'_> {
    fn jwt(&self) -> Option<&Jwt> {
        match &self.kind {
            Ok(Kind::Jwt(jwt)) => Some(jwt),
            _ => None,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.jwt().and_then(|j| j.header.str(name))
    }

    fn claim(&self, name: &str) -> Option<&Value> {
        self.jwt().and_then(|j| j.claims.get(name))
    }

    fn claim_text(&self, name: &str) -> String {
        self.claim(name).map_or_else(|| "absent".to_owned(), show)
    }

    fn leeway(&self) -> u64 {
        leeway_secs(self.args.leeway)
    }

    fn allowed(&self) -> AlgorithmSet {
        if self.args.algorithms.is_empty() {
            let mut set = AlgorithmSet::asymmetric();
            if self.args.source.is_hmac() {
                set.insert(Algorithm::HS256);
            }
            set
        } else {
            self.args.algorithms.iter().copied().collect()
        }
    }

    fn accepted_typ(&self) -> &'static str {
        if self.args.rfc9068 {
            "accepted: at+jwt only, --rfc9068"
        } else {
            "accepted: at+jwt, JWT or none"
        }
    }

    /// The keys' ids, `(no kid)` for a key without one.
    fn kids(&self) -> String {
        let kids: Vec<String> = self
            .keys
            .iter()
            .map(|k| k.kid().map_or_else(|| "(no kid)".to_owned(), quote))
            .collect();
        if kids.is_empty() {
            "none".to_owned()
        } else {
            kids.join(", ")
        }
    }

    fn time(&self, name: &str) -> String {
        match self.claim(name) {
            None => "absent".to_owned(),
            Some(v) => match numeric_date(v) {
                Some(t) => when(t, self.now),
                None => format!("{}: not a NumericDate", show(v)),
            },
        }
    }

    /// The line of a check that passed, or was not reached: what the
    /// token holds for it.
    fn info(&self, step: Step) -> String {
        if step > Step::Structure && self.jwt().is_none() {
            return String::new();
        }
        match step {
            Step::Size => format!(
                "{} bytes (limit {DEFAULT_MAX_TOKEN_SIZE})",
                self.token.len()
            ),
            Step::Structure => match &self.kind {
                Ok(Kind::Jwt(_)) => "compact JWS: header.payload.signature".to_owned(),
                Ok(Kind::Jwe(_)) => "an encrypted JWT (JWE)".to_owned(),
                Ok(Kind::Opaque) => "not a JWT (an opaque token)".to_owned(),
                Err(e) => e.clone(),
            },
            Step::Alg => match self.header("alg") {
                Some(alg) => format!(
                    "{} (allowed: {})",
                    quote(alg),
                    algorithm_list(self.allowed())
                ),
                None => "absent".to_owned(),
            },
            Step::Crit => match self.jwt().and_then(|j| j.header.get("crit")) {
                Some(crit) => format!("crit {}", show(crit)),
                None => "no crit".to_owned(),
            },
            Step::Typ => match self.header("typ") {
                Some(typ) => format!("{} ({})", quote(typ), self.accepted_typ()),
                None => format!("absent ({})", self.accepted_typ()),
            },
            Step::Key => match self.header("kid") {
                Some(kid) => format!("kid {} (issuer's keys: {})", quote(kid), self.kids()),
                None => format!("no kid (issuer's keys: {})", self.kids()),
            },
            Step::Signature => format!(
                "{} with the issuer's key {}",
                alg_text(self.header("alg")),
                self.header("kid")
                    .map_or_else(|| "(no kid)".to_owned(), quote)
            ),
            Step::Present => "exp, iss and aud present".to_owned(),
            Step::Iss => format!(
                "{} (expected exactly {})",
                self.claim_text("iss"),
                quote(&self.args.issuer)
            ),
            Step::Aud => format!(
                "{} (this API accepts {})",
                self.claim_text("aud"),
                quoted_list(self.args.audiences.iter().map(String::as_str))
            ),
            Step::Exp => format!("{}, leeway {} s", self.time("exp"), self.leeway()),
            Step::Nbf => self.time("nbf"),
            Step::Iat => self.time("iat"),
            Step::Required => {
                if self.args.rfc9068 {
                    "sub, client_id, iat and jti (RFC 9068 profile)".to_owned()
                } else {
                    "no other claim required (--rfc9068 requires sub, client_id, iat, jti)"
                        .to_owned()
                }
            }
            Step::Types => {
                "sub, jti, client_id, azp strings; scope/scp, cnf, roles readable".to_owned()
            }
            Step::Binding => match self.claim("cnf") {
                None => "no cnf: a bearer token".to_owned(),
                Some(cnf) => format!("cnf {}", show(cnf)),
            },
        }
    }

    /// What the token holds that made the check fail, in one line, when
    /// the error's own text does not say it all.
    fn why(&self, e: &ValidationError) -> Option<String> {
        let kid = || {
            self.header("kid")
                .map_or_else(|| "(no kid)".to_owned(), quote)
        };
        Some(match e {
            ValidationError::Malformed(_) => match &self.kind {
                Ok(Kind::Opaque) => {
                    "an opaque token: checked by introspection (RFC 7662), not by verify".to_owned()
                }
                Ok(Kind::Jwe(_)) => "an encrypted token (JWE), which cannot be checked".to_owned(),
                Err(detail) => detail.clone(),
                Ok(Kind::Jwt(_)) => return None,
            },
            ValidationError::UnsupportedAlgorithm => format!(
                "alg is {}",
                self.header("alg")
                    .map_or_else(|| "absent".to_owned(), quote)
            ),
            ValidationError::AlgorithmNotAllowed(alg) => {
                let mut text = format!("{alg}; allowed: {}", algorithm_list(self.allowed()));
                if alg.is_symmetric() && self.args.source.is_hmac() {
                    text.push_str(&format!(
                        " (add --algorithm {alg} to check it with the secret)"
                    ));
                }
                text
            }
            ValidationError::UnsupportedCritical => {
                match self.jwt().and_then(|j| j.header.get("crit")) {
                    Some(crit) => format!("crit is {}", show(crit)),
                    None => "b64 is false (RFC 7797)".to_owned(),
                }
            }
            ValidationError::TypeNotAllowed => format!(
                "typ is {}; {}",
                self.header("typ")
                    .map_or_else(|| "absent".to_owned(), quote),
                self.accepted_typ()
            ),
            ValidationError::MissingKeyId => format!(
                "alg {}; the issuer's keys: {}",
                alg_text(self.header("alg")),
                self.kids()
            ),
            ValidationError::UnknownKeyId => format!(
                "kid is {}; the issuer's keys: {} (signed by another key or another issuer, \
                 or a key rotated out)",
                kid(),
                self.kids()
            ),
            ValidationError::KeyAlgorithmMismatch(alg) => format!("kid is {}, alg {alg}", kid()),
            ValidationError::NoKeyForAlgorithm(alg) => {
                format!("alg {alg}; the issuer's keys: {}", self.kids())
            }
            ValidationError::InvalidSignature => {
                format!("key {} (signed by another key, or altered)", kid())
            }
            ValidationError::MissingClaim(name)
                if self.args.rfc9068
                    && ["sub", "client_id", "iat", "jti"].contains(&name.as_str()) =>
            {
                format!(
                    "{} is required by the RFC 9068 profile (--rfc9068)",
                    quote(name)
                )
            }
            ValidationError::InvalidClaim(name) if self.claim(name).is_some() => {
                format!("{name} is {}", self.claim_text(name))
            }
            ValidationError::UnexpectedClaimValue(name) if self.claim(name).is_some() => {
                format!("{name} is {}", self.claim_text(name))
            }
            ValidationError::Expired => {
                format!("exp is {}; leeway {} s", self.time("exp"), self.leeway())
            }
            ValidationError::NotYetValid => {
                format!("nbf is {}; leeway {} s", self.time("nbf"), self.leeway())
            }
            ValidationError::IssuedInFuture => format!(
                "iat is {}; leeway {} s: check the clocks",
                self.time("iat"),
                self.leeway()
            ),
            ValidationError::InvalidIssuer => {
                let iss = self.claim("iss").and_then(Value::as_str);
                let mut text = format!(
                    "iss is {}, expected exactly {}",
                    self.claim_text("iss"),
                    quote(&self.args.issuer)
                );
                if iss.is_some_and(|i| {
                    i.trim_end_matches('/') == self.args.issuer.trim_end_matches('/')
                }) {
                    text.push_str(" (they differ only by a trailing slash: the match is exact)");
                }
                text
            }
            ValidationError::InvalidAudience => format!(
                "aud is {}, this API accepts {}",
                self.claim_text("aud"),
                quoted_list(self.args.audiences.iter().map(String::as_str))
            ),
            ValidationError::SenderConstrained | ValidationError::CertificateMismatch => {
                let what = match self.claim("cnf") {
                    Some(Value::Object(cnf)) if cnf.contains_key("jkt") => {
                        "a DPoP key (cnf.jkt): it needs a proof of possession, a DPoP proof \
                         signed by that key"
                            .to_owned()
                    }
                    Some(Value::Object(cnf)) if cnf.contains_key("x5t#S256") => {
                        "a client certificate (cnf.x5t#S256): it needs a proof of possession, \
                         mutual TLS with that certificate"
                            .to_owned()
                    }
                    cnf => format!(
                        "a key, in a way bearer-guard cannot check (cnf {})",
                        cnf.map_or_else(|| "absent".to_owned(), show)
                    ),
                };
                format!(
                    "bound to {what}, which this command cannot present; every other check passed"
                )
            }
            _ => return None,
        })
    }

    /// The detail of the failed check's line.
    fn failure(&self, e: &ValidationError) -> String {
        self.why(e).unwrap_or_else(|| e.to_string())
    }

    /// The conclusion: the error and what the token holds.
    fn reason(&self, e: &ValidationError) -> String {
        match self.why(e) {
            Some(why) => format!("{e}: {why}"),
            None => e.to_string(),
        }
    }
}

/// Prints every check with its verdict and the conclusion; the exit status.
fn report(
    args: &VerifyArgs,
    token: &str,
    validator: &Validator,
    result: Result<Claims, ValidationError>,
) -> ExitCode {
    let ctx = Ctx {
        args,
        token,
        kind: classify(token),
        keys: validator.keys(),
        now: now(),
    };
    if let Err(e) = &result
        && e.is_unavailable()
    {
        complain(format_args!("cannot check the token: {e}"));
        return ExitCode::from(2);
    }
    let mut out = Out::default();
    out.line(format_args!(
        "Verifying against issuer {} and audience {}, keys from the {}",
        quote(&args.issuer),
        quoted_list(args.audiences.iter().map(String::as_str)),
        args.source
    ));
    let keys: Vec<String> = ctx
        .keys
        .iter()
        .map(|k| {
            format!(
                "{} ({})",
                k.kid().map_or_else(|| "(no kid)".to_owned(), quote),
                algorithm_list(k.algorithms())
            )
        })
        .collect();
    out.line(format_args!(
        "  keys: {}",
        if keys.is_empty() {
            "none".to_owned()
        } else {
            keys.join(", ")
        }
    ));
    for rejected in ctx.keys.rejected() {
        out.line(format_args!(
            "  note: the key {} was refused when loaded: {}",
            rejected
                .kid
                .as_deref()
                .map_or_else(|| "(no kid)".to_owned(), quote),
            one_line(&rejected.reason.to_string())
        ));
    }
    out.blank();

    let failed = result.as_ref().err().map(failed_step);
    for step in STEPS {
        let (verdict, detail) = match (&result, failed) {
            (Ok(_), _) => ("ok", ctx.info(step)),
            (Err(e), Some(Some(at))) if step == at => ("FAIL", ctx.failure(e)),
            (Err(_), Some(Some(at))) if step < at => ("ok", ctx.info(step)),
            (Err(_), Some(Some(_))) => ("not reached", ctx.info(step)),
            (Err(_), _) => ("?", ctx.info(step)),
        };
        out.line(format_args!(
            "  {verdict:<11}  {:<13}  {}",
            step.label(),
            one_line(&detail)
        ));
    }
    out.blank();
    let code = match &result {
        Ok(claims) => {
            out.line("VALID");
            out.line(format_args!(
                "  sub        {}",
                claims.subject().map_or_else(|| "(none)".to_owned(), quote)
            ));
            out.line(format_args!(
                "  client_id  {}",
                claims
                    .client_id()
                    .map_or_else(|| "(none)".to_owned(), quote)
            ));
            let scopes: Vec<&str> = claims.scopes().iter().collect();
            out.line(format_args!(
                "  scopes     {}",
                if scopes.is_empty() {
                    "(none)".to_owned()
                } else {
                    one_line(&scopes.join(" "))
                }
            ));
            if let Some(exp) = claims.expires_at() {
                out.line(format_args!("  expires    {}", when(exp, ctx.now)));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            out.line(format_args!("INVALID: {}", one_line(&ctx.reason(e))));
            ExitCode::from(1)
        }
    };
    out.print();
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_civil_dates() {
        assert_eq!(rfc3339(0).as_deref(), Some("1970-01-01T00:00:00Z"));
        assert_eq!(rfc3339(-1).as_deref(), Some("1969-12-31T23:59:59Z"));
        assert_eq!(
            rfc3339(951_782_400).as_deref(),
            Some("2000-02-29T00:00:00Z")
        );
        assert_eq!(
            rfc3339(1_700_000_000).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            rfc3339(4_107_542_400).as_deref(),
            Some("2100-03-01T00:00:00Z")
        );
        assert_eq!(
            rfc3339(FIRST_SECOND).as_deref(),
            Some("0000-01-01T00:00:00Z")
        );
        assert_eq!(
            rfc3339(LAST_SECOND).as_deref(),
            Some("9999-12-31T23:59:59Z")
        );
        assert_eq!(rfc3339(LAST_SECOND + 1), None);
        assert_eq!(rfc3339(i64::MIN), None);
    }

    #[test]
    fn relative_times_read_naturally() {
        assert_eq!(relative(0), "now");
        assert_eq!(relative(5), "in 5 s");
        assert_eq!(relative(299), "in 5 min");
        assert_eq!(relative(-3 * 3600), "3 h ago");
        assert_eq!(relative(-(2 * 3600 + 15 * 60)), "2 h 15 min ago");
        assert_eq!(relative(3 * 86_400), "in 3 d");
        assert!(relative(i64::MIN).ends_with(" d ago"));
    }

    #[test]
    fn the_scheme_and_header_name_are_removed() {
        assert_eq!(clean_token("  Bearer abc \n"), "abc");
        assert_eq!(clean_token("dpop abc"), "abc");
        assert_eq!(clean_token("Authorization: Bearer abc"), "abc");
        assert_eq!(clean_token("abc"), "abc");
        assert_eq!(clean_token("Bé"), "Bé");
    }

    #[test]
    fn every_output_line_is_escaped() {
        let mut out = Out::default();
        out.line("a\u{1b}]0;t\u{7}\u{9b}\u{7f}\r\nb\u{202e}\u{2066}\u{200f}\u{61c}c");
        out.lines("{\n  \"k\u{85}\": 1\n}");
        assert_eq!(
            out.0,
            "a\\u001b]0;t\\u0007\\u009b\\u007f\\u000d\\u000ab\\u202e\\u2066\\u200f\\u061cc\n\
             {\n  \"k\\u0085\": 1\n}\n"
        );
        // Text already quoted is unchanged.
        let mut out = Out::default();
        out.line(quote("\u{1b}"));
        assert_eq!(out.0, "\"\\u001b\"\n");
    }

    #[test]
    fn odd_member_names_are_quoted() {
        assert_eq!(name_text("x5t#S256"), "x5t#S256");
        assert_eq!(name_text(""), "\"\"");
        assert_eq!(name_text("a b"), "\"a b\"");
        assert_eq!(name_text("alg: RS256"), "\"alg: RS256\"");
        assert_eq!(name_text("\u{1b}[2J"), "\"\\u001b[2J\"");
        assert_eq!(alg_text(Some("ES256")), "ES256");
        assert_eq!(alg_text(Some("\u{7}")), "\"\\u0007\"");
        assert_eq!(alg_text(None), "no alg");
    }

    #[test]
    fn duplicates_are_found_once_each() {
        let members = Members(
            ["a", "b", "a", "c", "a", "b"]
                .iter()
                .map(|n| ((*n).to_owned(), Value::Null))
                .collect(),
        );
        assert_eq!(members.duplicates(), ["a", "b"]);
    }

    #[test]
    fn quoting_escapes_controls() {
        assert_eq!(
            quote("a\"b\n\u{1b}[2J\u{202e}"),
            "\"a\\\"b\\u000a\\u001b[2J\\u202e\""
        );
    }
}
