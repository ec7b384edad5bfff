//! `bearer-guard verify`: the real [`Validator`], built from the options a
//! resource server would be given, and the library's [`Report`] of every
//! check in the validator's order (`ok`, `FAIL`, `not reached`).

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use bearer_guard::config::{MAX_SECRET_FILE_SIZE, Secret, SecretError};
use bearer_guard::jwks::EndpointUrl;
use bearer_guard::jwt::{UnverifiedError, UnverifiedJws, UnverifiedToken, decode_unverified};
use bearer_guard::keys::{Algorithm, AlgorithmSet, KeySet};
use bearer_guard::limits::DEFAULT_MAX_TOKEN_SIZE;
use bearer_guard::report::{Check, Outcome, Report};
use bearer_guard::{BuildError, ValidationError, Validator};
use serde_json::Value;

use crate::input::{clean_token, read_token};
use crate::output::{
    Out, algorithm_list, complain, one_line, quote, quoted_list, show, usage_error,
};
use crate::when::{leeway_secs, now, numeric_date, when};

/// The options of `verify`, as given (checked by [`Args::check`]).
#[derive(Debug, clap::Args)]
#[command(
    override_usage = VERIFY_USAGE,
    after_help = crate::TOKEN_HELP,
)]
pub struct Args {
    /// The accepted issuer: `iss` must equal it exactly.
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// An accepted audience (repeat for several): `aud` must contain one of
    /// them.
    #[arg(long, value_name = "AUD")]
    audience: Vec<String>,
    /// Fetch the issuer's keys (JWKS) from URL.
    #[arg(long, value_name = "URL", help_heading = KEYS)]
    jwks_url: Option<String>,
    /// Read the issuer's keys (JWKS) from FILE.
    #[arg(long, value_name = "FILE", help_heading = KEYS)]
    jwks_file: Option<PathBuf>,
    /// Find the keys through the issuer's metadata (OpenID Connect
    /// Discovery, else RFC 8414).
    #[arg(long, help_heading = KEYS)]
    discover: bool,
    /// Read one PEM public key (RSA, P-256, P-384, Ed25519) from FILE. Key
    /// and secret files must be regular files (not a pipe) of at most
    /// 64 KiB.
    #[arg(long, value_name = "FILE", help_heading = KEYS)]
    key_file: Option<PathBuf>,
    /// Read a shared HMAC secret from FILE: its bytes as they are, but for
    /// one final line break in a text file.
    #[arg(long, value_name = "FILE", help_heading = KEYS)]
    hmac_secret_file: Option<PathBuf>,
    /// Take a shared HMAC secret from the variable VAR. An HMAC secret
    /// verifies HS256, or the HS algorithms given with --algorithm.
    #[arg(long, value_name = "VAR", help_heading = KEYS)]
    hmac_secret_env: Option<String>,
    /// The key id of --key-file's key or of the secret. Without it, the key
    /// verifies tokens with no kid or with a kid no other key has, as a key
    /// configured without a kid does.
    #[arg(long, value_name = "KID", help_heading = KEYS)]
    kid: Option<String>,
    /// Allow plain http:// URLs (loopback and tests only).
    #[arg(long)]
    allow_http: bool,
    /// Allow only these algorithms (repeat, or comma-separate; default:
    /// every asymmetric one).
    #[arg(long, value_name = "ALG")]
    algorithm: Vec<String>,
    /// Clock leeway for exp, nbf and iat (default 60).
    #[arg(long, value_name = "SECONDS", value_parser = parse_leeway)]
    leeway: Option<u64>,
    /// The strict RFC 9068 profile: typ at+jwt; sub, client_id, iat and jti
    /// required.
    #[arg(long)]
    rfc9068: bool,
    /// The access token, or - to read it from standard input.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
}

const KEYS: &str = "The issuer's keys (give one)";

const VERIFY_USAGE: &str = "\
bearer-guard verify --issuer URL --audience AUD [--audience AUD ...]
                           (--jwks-url URL | --jwks-file FILE | --discover |
                            --key-file FILE | --hmac-secret-file FILE |
                            --hmac-secret-env VAR) [--kid KID]
                           [--allow-http] [--algorithm ALG ...] [--leeway SECONDS]
                           [--rfc9068] TOKEN";

fn parse_leeway(value: &str) -> Result<u64, String> {
    value
        .trim()
        .parse::<u64>()
        .map_err(|_| format!("--leeway takes whole seconds, not {}", quote(value)))
}

/// Where the keys come from.
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
            // As the library shows a URL: without user information or
            // query values (where credentials live).
            KeySource::Url(url) => write!(f, "JWKS at {}", EndpointUrl::new(url.as_str())),
            KeySource::File(path) => write!(f, "JWKS file {}", path.display()),
            KeySource::Discover => f.write_str("issuer's metadata (discovery)"),
            KeySource::Pem(path) => write!(f, "PEM key file {}", path.display()),
            KeySource::HmacFile(path) => write!(f, "HMAC secret file {}", path.display()),
            KeySource::HmacEnv(var) => write!(f, "HMAC secret in the variable {}", quote(var)),
        }
    }
}

/// The options, checked.
struct Verify {
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

impl Args {
    /// What clap cannot say: one key source, the required options (with
    /// the messages that name what to give), `--kid` only for one key.
    fn check(self) -> Result<Verify, String> {
        let sources: Vec<KeySource> = [
            self.jwks_url.map(KeySource::Url),
            self.jwks_file.map(KeySource::File),
            self.discover.then_some(KeySource::Discover),
            self.key_file.map(KeySource::Pem),
            self.hmac_secret_file.map(KeySource::HmacFile),
            self.hmac_secret_env.map(KeySource::HmacEnv),
        ]
        .into_iter()
        .flatten()
        .collect();
        if sources.len() > 1 {
            return Err(
                "give one key source: --jwks-url, --jwks-file, --discover, --key-file, \
                        --hmac-secret-file or --hmac-secret-env"
                    .to_owned(),
            );
        }
        if self.kid.as_deref() == Some("") {
            return Err("--kid needs a key id, not an empty one".to_owned());
        }
        let mut algorithms = Vec::new();
        for value in &self.algorithm {
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
        let issuer = self.issuer.ok_or("verify needs --issuer URL")?;
        if self.audience.is_empty() {
            return Err("verify needs --audience AUD (the audience your API accepts)".to_owned());
        }
        let source = sources.into_iter().next().ok_or(
            "verify needs the issuer's keys: --jwks-url URL, --jwks-file FILE, --discover, \
             --key-file FILE, --hmac-secret-file FILE or --hmac-secret-env VAR",
        )?;
        if self.kid.is_some() && !source.is_single_key() {
            return Err(
                "--kid names the key of --key-file or of an HMAC secret; a JWKS names its own keys"
                    .to_owned(),
            );
        }
        let token = self
            .token
            .ok_or("verify needs a TOKEN (or - to read it from standard input)")?;
        let verify = Verify {
            issuer,
            audiences: self.audience,
            source,
            allow_http: self.allow_http,
            algorithms,
            leeway: self.leeway,
            rfc9068: self.rfc9068,
            kid: self.kid,
            token,
        };
        if verify.source.is_hmac() && verify.hmac_algorithms().is_empty() {
            return Err(
                "an HMAC secret verifies HS256, HS384 or HS512: --algorithm allows none of them"
                    .to_owned(),
            );
        }
        Ok(verify)
    }
}

impl Verify {
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

/// Why `verify` could not check the token at all (exit status 2).
struct Setup(String);

pub fn run(args: Args) -> ExitCode {
    let args = match args.check() {
        Ok(args) => args,
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
        Ok((validator, report)) => print_report(&args, token, &validator, &report),
        Err(Setup(message)) => {
            complain(message);
            ExitCode::from(2)
        }
    }
}

/// A key or secret as `config::Secret` reads it (a regular file of at most
/// `MAX_SECRET_FILE_SIZE` bytes, a text file without its final line break;
/// or an environment variable).
fn read_secret(secret: Secret, source: &KeySource) -> Result<Vec<u8>, Setup> {
    secret.resolve_bytes().map_err(|e| {
        Setup(match e {
            SecretError::EnvNotSet(name) => format!("the variable {} is not set", quote(&name)),
            SecretError::File { path, source } => {
                if source.kind() == std::io::ErrorKind::FileTooLarge {
                    format!(
                        "cannot read {}: longer than {MAX_SECRET_FILE_SIZE} bytes: not a key",
                        path.display()
                    )
                } else {
                    format!("cannot read {}: {source}", path.display())
                }
            }
            SecretError::Empty => format!("the {source} is empty"),
            other => format!("cannot read the {source}: {other}"),
        })
    })
}

/// Builds the validator (waiting for remote keys) and validates `token`.
async fn check(args: &Verify, token: &str) -> Result<(Validator, Report), Setup> {
    let mut builder = Validator::builder()
        .issuer(args.issuer.clone())
        .token_cache_capacity(0);
    for audience in &args.audiences {
        builder = builder.audience(audience.clone());
    }
    let source = &args.source;
    let remote = matches!(source, KeySource::Url(_) | KeySource::Discover);
    builder = match source {
        KeySource::Url(url) => builder.jwks_url(url.clone()),
        KeySource::File(path) => builder.jwks_file(path.clone()),
        KeySource::Discover => builder.discover(),
        KeySource::Pem(path) => {
            let pem = read_secret(Secret::File(path.clone()), source)?;
            builder.pem_public_key(pem, args.kid.as_deref())
        }
        KeySource::HmacFile(path) => hmac(builder, args, Secret::File(path.clone()))?,
        KeySource::HmacEnv(var) => hmac(builder, args, Secret::Env(var.clone()))?,
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
    let report = validator.validate_with_report(token).await;
    Ok((validator, report))
}

/// The builder with the secret, once for each HMAC algorithm.
fn hmac(
    mut builder: bearer_guard::ValidatorBuilder,
    args: &Verify,
    secret: Secret,
) -> Result<bearer_guard::ValidatorBuilder, Setup> {
    let secret = read_secret(secret, &args.source)?;
    for alg in args.hmac_algorithms() {
        builder = builder.hmac_secret(&secret, alg, args.kid.as_deref());
    }
    Ok(builder)
}

fn build_error(e: &BuildError, args: &Verify) -> String {
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

/// How a check is named on its line.
fn label(check: Check) -> &'static str {
    match check {
        Check::Size => "size",
        Check::Structure => "structure",
        Check::IssuerChoice => "issuer choice",
        Check::Algorithm => "header alg",
        Check::Critical => "header crit",
        Check::Type => "header typ",
        Check::Key => "key (kid)",
        Check::Signature => "signature",
        Check::RegisteredClaims => "exp/iss/aud",
        Check::Issuer => "iss",
        Check::Audience => "aud",
        Check::Expiry => "exp",
        Check::NotBefore => "nbf",
        Check::IssuedAt => "iat",
        Check::RequiredClaims => "required",
        Check::ClaimTypes => "claim types",
        Check::Binding => "binding (cnf)",
        other => other.name(),
    }
}

/// What `verify` shows besides the validator's answer: the token decoded
/// (unverified, for the details of each line) and the options.
struct Ctx<'a> {
    args: &'a Verify,
    token: &'a str,
    decoded: Result<UnverifiedToken, UnverifiedError>,
    keys: KeySet,
    now: i64,
}

impl Ctx<'_> {
    fn jws(&self) -> Option<&UnverifiedJws> {
        match &self.decoded {
            Ok(UnverifiedToken::Jws(jws)) => Some(jws),
            _ => None,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.jws().and_then(|j| j.header().get_str(name))
    }

    fn claim(&self, name: &str) -> Option<&Value> {
        self.jws().and_then(|j| j.claims().get(name))
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
    fn info(&self, check: Check) -> String {
        if !matches!(check, Check::Size | Check::Structure) && self.jws().is_none() {
            return String::new();
        }
        match check {
            Check::Size => format!(
                "{} bytes (limit {DEFAULT_MAX_TOKEN_SIZE})",
                self.token.len()
            ),
            Check::Structure => match &self.decoded {
                Ok(UnverifiedToken::Jws(_)) => "compact JWS: header.payload.signature".to_owned(),
                Ok(UnverifiedToken::Jwe(_)) => "an encrypted JWT (JWE)".to_owned(),
                Ok(_) => "not a JWT (an opaque token)".to_owned(),
                Err(e) => e.to_string(),
            },
            Check::IssuerChoice => format!("iss {}", self.claim_text("iss")),
            Check::Algorithm => match self.header("alg") {
                Some(alg) => format!(
                    "{} (allowed: {})",
                    quote(alg),
                    algorithm_list(self.allowed())
                ),
                None => "absent".to_owned(),
            },
            Check::Critical => match self.jws().and_then(|j| j.header().get("crit")) {
                Some(crit) => format!("crit {}", show(crit)),
                None => "no crit".to_owned(),
            },
            Check::Type => match self.header("typ") {
                Some(typ) => format!("{} ({})", quote(typ), self.accepted_typ()),
                None => format!("absent ({})", self.accepted_typ()),
            },
            Check::Key => match self.header("kid") {
                Some(kid) => format!("kid {} (issuer's keys: {})", quote(kid), self.kids()),
                None => format!("no kid (issuer's keys: {})", self.kids()),
            },
            Check::Signature => format!(
                "{} with the issuer's key {}",
                crate::output::alg_text(self.header("alg")),
                self.header("kid")
                    .map_or_else(|| "(no kid)".to_owned(), quote)
            ),
            Check::RegisteredClaims => "exp, iss and aud present".to_owned(),
            Check::Issuer => format!(
                "{} (expected exactly {})",
                self.claim_text("iss"),
                quote(&self.args.issuer)
            ),
            Check::Audience => format!(
                "{} (this API accepts {})",
                self.claim_text("aud"),
                quoted_list(self.args.audiences.iter().map(String::as_str))
            ),
            Check::Expiry => format!("{}, leeway {} s", self.time("exp"), self.leeway()),
            Check::NotBefore => self.time("nbf"),
            Check::IssuedAt => self.time("iat"),
            Check::RequiredClaims => {
                if self.args.rfc9068 {
                    "sub, client_id, iat and jti (RFC 9068 profile)".to_owned()
                } else {
                    "no other claim required (--rfc9068 requires sub, client_id, iat, jti)"
                        .to_owned()
                }
            }
            Check::ClaimTypes => {
                "sub, jti, client_id, azp strings; scope/scp, cnf, roles readable".to_owned()
            }
            Check::Binding => match self.claim("cnf") {
                None => "no cnf: a bearer token".to_owned(),
                Some(cnf) => format!("cnf {}", show(cnf)),
            },
            _ => String::new(),
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
            ValidationError::Malformed(_) => match &self.decoded {
                Ok(UnverifiedToken::Jws(_)) => return None,
                Ok(UnverifiedToken::Jwe(_)) => {
                    "an encrypted token (JWE), which cannot be checked".to_owned()
                }
                Ok(_) => {
                    "an opaque token: checked by introspection (RFC 7662), not by verify".to_owned()
                }
                Err(detail) => detail.to_string(),
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
                match self.jws().and_then(|j| j.header().get("crit")) {
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
                crate::output::alg_text(self.header("alg")),
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

/// Prints every check of the report with its verdict and the conclusion;
/// the exit status.
fn print_report(args: &Verify, token: &str, validator: &Validator, report: &Report) -> ExitCode {
    let ctx = Ctx {
        args,
        token,
        decoded: decode_unverified(token),
        keys: validator.keys(),
        now: now(),
    };
    if let Err(e) = report.result()
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

    for (check, outcome) in report.checks() {
        let (verdict, detail) = match (outcome, report.result()) {
            (Outcome::Failed, Err(e)) => ("FAIL", ctx.failure(e)),
            (Outcome::Passed, _) => ("ok", ctx.info(*check)),
            (Outcome::NotReached, _) => ("not reached", ctx.info(*check)),
            _ => ("?", ctx.info(*check)),
        };
        out.line(format_args!(
            "  {verdict:<11}  {:<13}  {}",
            label(*check),
            one_line(&detail)
        ));
    }
    out.blank();
    let code = match report.result() {
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
