//! The `bearer-guard` command (feature `cli`), run as a user runs it: the
//! built binary, its output and its exit status. `inspect` explains tokens
//! without verifying them; `verify` checks them with the real validator,
//! against a JWKS file or a JWKS served on 127.0.0.1.

#![cfg(feature = "cli")]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use bearer_guard::Algorithm;
use bearer_guard::testing::{TestIssuer, TestKey};

const AUDIENCE: &str = "payments";

/// The issuer whose tokens the commands check (one RSA key, kid `rs256`).
fn issuer() -> &'static TestIssuer {
    static ISSUER: OnceLock<TestIssuer> = OnceLock::new();
    ISSUER.get_or_init(|| TestIssuer::new().default_audience(AUDIENCE))
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bearer-guard"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run bearer-guard")
}

fn run_with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bearer-guard"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run bearer-guard");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn last_line(o: &Output) -> String {
    stdout(o).lines().last().unwrap_or_default().to_owned()
}

/// A file in the temporary directory, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn with(contents: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "bearer-guard-cli-{}-{}.json",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `verify` against the issuer's JWKS in a file, for `AUDIENCE`.
fn verify_with_file(token: &str, audience: &str) -> Output {
    let jwks = TempFile::with(&issuer().jwks_json());
    run(&[
        "verify",
        "--issuer",
        issuer().issuer(),
        "--audience",
        audience,
        "--jwks-file",
        jwks.path(),
        token,
    ])
}

fn assert_one_line_error(o: &Output) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    assert!(o.stdout.is_empty(), "{}", stdout(o));
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("bearer-guard: "), "{err}");
}

#[test]
fn help_and_version_describe_the_command() {
    for help in [&["--help"][..], &["help"], &["verify", "--help"]] {
        let o = run(help);
        assert_eq!(o.status.code(), Some(0));
        let text = stdout(&o);
        assert!(text.contains("bearer-guard inspect TOKEN"), "{text}");
        assert!(text.contains("--jwks-file FILE"), "{text}");
    }
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(
        stdout(&o).trim(),
        format!("bearer-guard {}", env!("CARGO_PKG_VERSION"))
    );
    // No command at all: the usage on stderr, status 2.
    let o = run(&[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("USAGE"));
}

#[test]
fn inspect_shows_the_claims_and_human_times_and_says_not_verified() {
    let token = issuer()
        .token()
        .scope("charge:customer refund")
        .claim("auth_time", 1_700_000_000)
        .expires_in(600)
        .sign();
    let o = run(&["inspect", &token]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("NOT VERIFIED"), "{text}");
    // The header and the claims, pretty-printed.
    assert!(text.contains("alg: RS256"), "{text}");
    assert!(text.contains(r#"typ: "at+jwt""#), "{text}");
    assert!(text.contains(r#"kid: "rs256""#), "{text}");
    assert!(text.contains(r#"  "sub": "test-subject""#), "{text}");
    assert!(
        text.contains(r#"  "scope": "charge:customer refund","#),
        "{text}"
    );
    // Times as RFC 3339 UTC and relative to now.
    assert!(text.contains("2023-11-14T22:13:20Z"), "{text}");
    assert!(text.contains("(in 10 min)"), "{text}");
    assert!(!text.contains("EXPIRED"), "{text}");
    // What a resource server will check.
    for check in [
        "signature",
        "iss",
        "aud",
        "exp",
        "typ",
        "scope",
        "cnf",
        "client_id",
    ] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(check)),
            "{check}: {text}"
        );
    }
    assert!(text.contains("a bearer token"), "{text}");
}

#[test]
fn inspect_flags_expiry_key_urls_and_bindings() {
    let token = issuer()
        .token()
        .expires_in(-3 * 3600)
        .header("jku", "https://attacker.example/jwks")
        .claim(
            "cnf",
            serde_json::json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        )
        .sign();
    let o = run(&["inspect", &token]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("EXPIRED"), "{text}");
    assert!(text.contains("3 h ago"), "{text}");
    assert!(
        text.contains("jku: WARNING ignored by a resource server: keys never come from the token"),
        "{text}"
    );
    assert!(text.contains("needs a proof of possession"), "{text}");
}

#[test]
fn inspect_reads_an_authorization_value_from_stdin() {
    let token = issuer().token().sign();
    let o = run_with_stdin(&["inspect", "-"], &format!("Bearer {token}\n"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains(r#""iss": "https://issuer.test""#));
}

#[test]
fn inspect_refuses_garbage_with_one_line_and_status_2() {
    // Characters no token has.
    let o = run(&["inspect", "this is not a token"]);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("not an access token"), "{}", stderr(&o));
    // Three segments whose header is not base64url JSON.
    let o = run(&["inspect", "abc.def.ghi"]);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("malformed JWT"), "{}", stderr(&o));
    // Empty input.
    let o = run_with_stdin(&["inspect", "-"], "  \n");
    assert_one_line_error(&o);
}

#[test]
fn inspect_says_an_opaque_token_needs_introspection() {
    let o = run(&["inspect", "2YotnFZFEjr1zCsicMWpAA"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("Opaque token"), "{text}");
    assert!(text.contains("introspection (RFC 7662)"), "{text}");
}

#[test]
fn verify_accepts_a_good_token_with_a_jwks_file() {
    let token = issuer().token().scope("charge:customer").sign();
    let o = verify_with_file(&token, AUDIENCE);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    assert!(!text.contains("FAIL"), "{text}");
    assert!(text.contains("  ok           signature"), "{text}");
    assert!(text.lines().any(|l| l == "VALID"), "{text}");
    assert!(text.contains(r#"sub        "test-subject""#), "{text}");
    assert!(text.contains(r#"client_id  "test-client""#), "{text}");
    assert!(text.contains("scopes     charge:customer"), "{text}");
}

#[test]
fn verify_names_the_audience_it_refuses() {
    let token = issuer().token().audience("orders").sign();
    let o = verify_with_file(&token, AUDIENCE);
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{text}{}", stderr(&o));
    let last = last_line(&o);
    assert!(last.starts_with("INVALID:"), "{text}");
    assert!(last.contains("audience"), "{last}");
    assert!(
        last.contains(r#"aud is "orders", this API accepts "payments""#),
        "{last}"
    );
    // The checks before the audience passed, the audience failed, the rest
    // were not reached.
    assert!(text.contains("  ok           signature"), "{text}");
    assert!(text.contains("  ok           iss"), "{text}");
    assert!(text.contains("  FAIL         aud"), "{text}");
    assert!(text.contains("  not reached  exp"), "{text}");
}

#[test]
fn verify_reports_an_expired_token() {
    let token = issuer().token().expires_in(-3600).sign();
    let o = verify_with_file(&token, AUDIENCE);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let last = last_line(&o);
    assert!(last.starts_with("INVALID: token expired"), "{last}");
    assert!(last.contains("1 h ago"), "{last}");
    assert!(stdout(&o).contains("  FAIL         exp"), "{}", stdout(&o));
}

#[test]
fn verify_refuses_a_token_signed_by_another_issuer() {
    // Same issuer name, same kid, another key: the signature fails.
    let impostor = TestIssuer::new().default_audience(AUDIENCE);
    let o = verify_with_file(&impostor.token().sign(), AUDIENCE);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let last = last_line(&o);
    assert!(
        last.starts_with("INVALID: signature does not verify"),
        "{last}"
    );
    assert!(stdout(&o).contains("  FAIL         signature"));

    // Another kid: no such key.
    let other = TestIssuer::with_keys(vec![
        TestKey::generate(Algorithm::ES256).with_kid("elsewhere"),
    ])
    .default_audience(AUDIENCE);
    let o = verify_with_file(&other.token().sign(), AUDIENCE);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let last = last_line(&o);
    assert!(
        last.starts_with("INVALID: no key with the token's `kid`"),
        "{last}"
    );
    assert!(last.contains(r#""elsewhere""#), "{last}");
}

#[test]
fn verify_usage_errors_and_unreadable_keys_exit_2() {
    let token = issuer().token().sign();
    // No issuer.
    let o = run(&["verify", "--audience", AUDIENCE, "--discover", &token]);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("--issuer"), "{}", stderr(&o));
    // Two key sources.
    let o = run(&[
        "verify",
        "--issuer",
        "https://issuer.test",
        "--audience",
        AUDIENCE,
        "--discover",
        "--jwks-file",
        "jwks.json",
        &token,
    ]);
    assert_one_line_error(&o);
    // A JWKS file that does not exist.
    let missing = std::env::temp_dir().join("bearer-guard-cli-no-such-file.json");
    let o = run(&[
        "verify",
        "--issuer",
        "https://issuer.test",
        "--audience",
        AUDIENCE,
        "--jwks-file",
        missing.to_str().unwrap(),
        &token,
    ]);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("cannot read JWKS file"),
        "{}",
        stderr(&o)
    );
}

/// Serves `jwks` at `/jwks` on 127.0.0.1; the base URL.
async fn serve_jwks(jwks: String) -> String {
    let app = Router::new().route("/jwks", get(move || async move { jwks }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Runs the command off the runtime's threads, so that the server answers.
async fn run_async(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn verify_fetches_the_keys_from_a_jwks_url() {
    let base = serve_jwks(issuer().jwks_json()).await;
    let token = issuer().token().sign();
    let args = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = [
            "verify",
            "--issuer",
            issuer().issuer(),
            "--audience",
            AUDIENCE,
            "--jwks-url",
            &format!("{base}/jwks"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.push(token.clone());
        args
    };
    let o = run_async(args(&["--allow-http"])).await;
    let text = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{text}{}", stderr(&o));
    assert!(
        text.contains(&format!("keys from the JWKS at {base}/jwks")),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "VALID"), "{text}");

    // Plain http without --allow-http: refused before any fetch, with the hint.
    let o = run_async(args(&[])).await;
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("--allow-http"), "{}", stderr(&o));
}
