//! The `bearer-guard` command, run as a user runs it: the built binary, its
//! output and its exit status. `inspect` explains tokens without verifying
//! them; `verify` checks them with the real validator, against a JWKS file
//! or a JWKS served on 127.0.0.1.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use bearer_guard::keys::Algorithm;
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
        Self::bytes(contents.as_bytes())
    }

    fn bytes(contents: &[u8]) -> Self {
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
    for help in [&["--help"][..], &["help"], &["-h"]] {
        let o = run(help);
        assert_eq!(o.status.code(), Some(0));
        let text = stdout(&o);
        assert!(text.contains("bearer-guard inspect TOKEN"), "{text}");
        assert!(text.contains("--jwks-file FILE"), "{text}");
        assert!(text.contains("EXIT STATUS"), "{text}");
    }
    // A command's own help: its synopsis and every option.
    for help in [&["verify", "--help"][..], &["help", "verify"]] {
        let o = run(help);
        assert_eq!(o.status.code(), Some(0));
        let text = stdout(&o);
        assert!(text.contains("bearer-guard verify --issuer URL"), "{text}");
        assert!(text.contains("--jwks-file FILE"), "{text}");
        assert!(text.contains("--hmac-secret-env <VAR>"), "{text}");
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

/// A compact JWS built by hand from `header` and `claims` (JSON text, so
/// that member names and values can be anything), with a dummy signature.
fn hand_made(header: &str, claims: &str) -> String {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

/// Text that would drive a terminal: set the window title (OSC ... BEL),
/// clear the screen (CSI), C1 CSI, DEL, a forged line, and the bidi
/// controls that reorder a line.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}31m\u{7f}\r\nFORGED LINE\
                       \u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}\
                       \u{200e}\u{200f}\u{61c}end";

fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// Nothing in `bytes` can reach the terminal as a control: no ESC, no BEL,
/// no other C0 control but the line feed, no DEL, no C1 control, no bidi
/// control, and no line the token forged.
fn assert_terminal_safe(what: &str, bytes: &[u8]) {
    assert!(!bytes.contains(&0x1b), "{what}: ESC in {bytes:?}");
    assert!(!bytes.contains(&0x07), "{what}: BEL in {bytes:?}");
    let text = std::str::from_utf8(bytes).unwrap();
    for c in text.chars() {
        assert!(
            c == '\n' || !(c.is_control() || is_bidi_control(c)),
            "{what}: U+{:04X} in {text}",
            u32::from(c)
        );
    }
    assert!(
        !text.lines().any(|l| l.starts_with("FORGED")),
        "{what}: a forged line in {text}"
    );
}

fn assert_output_terminal_safe(what: &str, o: &Output) {
    assert_terminal_safe(&format!("{what} (stdout)"), &o.stdout);
    assert_terminal_safe(&format!("{what} (stderr)"), &o.stderr);
}

#[test]
fn inspect_escapes_terminal_controls_in_names_and_values() {
    let name = serde_json::to_string(HOSTILE).unwrap();
    let header = format!(
        r#"{{"alg":{name},"typ":{name},"kid":{name},{name}:{name},"crit":[{name}],"x5t":{name},"jku":{name}}}"#
    );
    let claims = serde_json::json!({
        HOSTILE: HOSTILE,
        "iss": HOSTILE,
        "aud": [HOSTILE],
        "sub": HOSTILE,
        "client_id": HOSTILE,
        "scope": HOSTILE,
        "exp": HOSTILE,
        "nbf": {HOSTILE: HOSTILE},
        "cnf": {"jkt": HOSTILE},
    })
    .to_string();
    let token = hand_made(&header, &claims);
    let o = run(&["inspect", &token]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_output_terminal_safe("inspect", &o);
    let text = stdout(&o);
    // The characters are shown, escaped, in the header (the odd member
    // name quoted), in the alg's notes and in the claims.
    assert!(text.contains(r#"\u001b]0;pwned\u0007"#), "{text}");
    assert!(
        text.contains(r#"  "\u001b]0;pwned\u0007\u001b[2J\u009b31m\u007f\u000d\u000aFORGED LINE"#),
        "{text}"
    );
    assert!(text.contains(r#"\u202e\u2066"#), "{text}");
    assert!(
        text.contains("signature  verified with the issuer's key \""),
        "{text}"
    );

    // An alg that is nothing but controls, without a kid: "key for {alg}".
    let token = hand_made(&format!(r#"{{"alg":{name}}}"#), "{}");
    let o = run(&["inspect", &token]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_output_terminal_safe("inspect, no kid", &o);
    assert!(
        stdout(&o).contains(r#"the issuer's only key for "\u001b]0;pwned"#),
        "{}",
        stdout(&o)
    );

    // An encrypted token (five segments): its header's names and values.
    let jwe = {
        let signed = hand_made(&header, "{}");
        let head = signed.split('.').next().unwrap().to_owned();
        format!("{head}.a.b.c.d")
    };
    let o = run(&["inspect", &jwe]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_output_terminal_safe("inspect JWE", &o);
    assert!(stdout(&o).contains("Encrypted JWT"), "{}", stdout(&o));
    assert!(
        stdout(&o).contains(r#"  "\u001b]0;pwned\u0007"#),
        "{}",
        stdout(&o)
    );
}

#[test]
fn verify_escapes_terminal_controls_in_names_and_values() {
    let name = serde_json::to_string(HOSTILE).unwrap();
    let jwks = TempFile::with(&issuer().jwks_json());
    let verify = |token: &str| {
        run(&[
            "verify",
            "--issuer",
            issuer().issuer(),
            "--audience",
            AUDIENCE,
            "--jwks-file",
            jwks.path(),
            token,
        ])
    };
    let cases: Vec<(&str, String, Option<i32>)> = vec![
        // Refused at the alg, which the lines show.
        (
            "hostile alg",
            hand_made(&format!(r#"{{"alg":{name},{name}:1}}"#), "{}"),
            Some(1),
        ),
        // A known alg, no kid: "alg ...; the issuer's keys".
        (
            "hostile member, no kid",
            hand_made(&format!(r#"{{"alg":"RS256",{name}:{name}}}"#), "{}"),
            Some(1),
        ),
        (
            "hostile kid",
            hand_made(&format!(r#"{{"alg":"RS256","kid":{name}}}"#), "{}"),
            Some(1),
        ),
        (
            "hostile typ",
            issuer().token().header("typ", HOSTILE).sign(),
            Some(1),
        ),
        (
            "hostile crit",
            issuer().token().header("crit", vec![HOSTILE]).sign(),
            Some(1),
        ),
        (
            "hostile iss",
            issuer().token().claim("iss", HOSTILE).sign(),
            Some(1),
        ),
        (
            "hostile aud",
            issuer().token().audiences(&[HOSTILE]).sign(),
            Some(1),
        ),
        (
            "hostile exp",
            issuer().token().claim("exp", HOSTILE).sign(),
            Some(1),
        ),
        (
            "hostile cnf",
            issuer()
                .token()
                .claim("cnf", serde_json::json!({ HOSTILE: HOSTILE }))
                .sign(),
            Some(1),
        ),
        // Valid, with hostile names and values where nothing looks: the
        // header member and claim names, sub and client_id (printed).
        (
            "valid, hostile sub",
            issuer()
                .token()
                .header(HOSTILE, HOSTILE)
                .claim(HOSTILE, HOSTILE)
                .subject(HOSTILE)
                .claim("client_id", HOSTILE)
                .sign(),
            Some(0),
        ),
        // A scope with controls: shown whether accepted or refused.
        (
            "hostile scope",
            issuer().token().scope(HOSTILE).sign(),
            None,
        ),
    ];
    for (what, token, code) in cases {
        let o = verify(&token);
        assert_output_terminal_safe(what, &o);
        match code {
            Some(code) => assert_eq!(
                o.status.code(),
                Some(code),
                "{what}: {}{}",
                stdout(&o),
                stderr(&o)
            ),
            None => assert!(
                matches!(o.status.code(), Some(0 | 1)),
                "{what}: {}{}",
                stdout(&o),
                stderr(&o)
            ),
        }
        // Shown escaped, except a header member's name, which verify
        // does not print.
        if what != "hostile member, no kid" {
            assert!(
                stdout(&o).contains(r#"\u001b]0;pwned\u0007"#),
                "{what}: {}",
                stdout(&o)
            );
        }
    }
}

/// A JWT whose header and claims hold `members` distinct members each
/// (plus one repeated name), built as JSON text.
fn many_members(members: usize) -> String {
    let object = |first: &str| {
        let mut json = format!("{{{first}");
        for i in 0..members {
            json.push_str(&format!(r#","m{i}":0"#));
        }
        json.push_str(r#","m0":1}"#);
        json
    };
    hand_made(&object(r#""alg":"RS256""#), &object(r#""exp":0"#))
}

#[test]
fn inspect_handles_fifty_thousand_members() {
    // About 850 kB: within the 1 MiB read from standard input (argv could
    // not carry it). The duplicate check must not be quadratic; the test
    // harness's timeout is the bound, not an assertion on time.
    let token = many_members(25_000);
    assert!(token.len() < 1024 * 1024, "{}", token.len());
    let o = run_with_stdin(&["inspect", "-"], &token);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("  m24999: 0"), "header member");
    assert!(text.contains(r#"  "m24999": 0"#), "claim");
    assert!(
        text.contains(r#"WARNING header member "m0" appears twice"#),
        "header duplicate"
    );
    assert!(
        text.contains(r#"WARNING claim "m0" appears twice"#),
        "claim duplicate"
    );

    // 50k members in the claims alone.
    let mut claims = String::from(r#"{"exp":0"#);
    for i in 0..50_000 {
        claims.push_str(&format!(r#","c{i}":0"#));
    }
    claims.push_str(r#","c7":1}"#);
    let token = hand_made(r#"{"alg":"RS256"}"#, &claims);
    assert!(token.len() < 1024 * 1024, "{}", token.len());
    let o = run_with_stdin(&["inspect", "-"], &token);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains(r#"  "c49999": 0"#), "last claim");
    assert!(
        text.contains(r#"WARNING claim "c7" appears twice"#),
        "claim duplicate"
    );
}

#[test]
fn inspect_refuses_standard_input_over_one_mebibyte() {
    // One byte over the limit: refused, not cut and then misread.
    let input = "a".repeat(1024 * 1024 + 1);
    let o = run_with_stdin(&["inspect", "-"], &input);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("longer than"), "{}", stderr(&o));
    // Exactly the limit: read (an opaque token).
    let input = "a".repeat(1024 * 1024);
    let o = run_with_stdin(&["inspect", "-"], &input);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn verify_exits_2_when_the_keys_cannot_be_fetched() {
    // A port nobody listens on: bound, then released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let token = issuer().token().sign();
    let base = format!("http://127.0.0.1:{port}");
    let jwks_url = format!("{base}/jwks");
    for source in [&["--jwks-url", jwks_url.as_str()][..], &["--discover"]] {
        let mut args = vec![
            "verify",
            "--issuer",
            base.as_str(),
            "--audience",
            AUDIENCE,
            "--allow-http",
        ];
        args.extend_from_slice(source);
        args.push(&token);
        let o = run(&args);
        // Not 1: the token was not refused, it could not be checked.
        assert_one_line_error(&o);
        let err = stderr(&o);
        assert!(err.contains("cannot load the keys"), "{source:?}: {err}");
    }
}

#[test]
fn verify_never_prints_the_credentials_of_a_jwks_url() {
    // A port nobody listens on: bound, then released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let token = issuer().token().sign();
    let jwks_url = format!("http://svc:pa55word@127.0.0.1:{port}/jwks?api_key=k3y");
    let o = run(&[
        "verify",
        "--issuer",
        issuer().issuer(),
        "--audience",
        AUDIENCE,
        "--allow-http",
        "--jwks-url",
        &jwks_url,
        &token,
    ]);
    assert_one_line_error(&o);
    let shown = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        !shown.contains("pa55word") && !shown.contains("k3y"),
        "the library hides a URL's credentials, the command prints them: {shown}"
    );
    assert!(shown.contains("/jwks?api_key=***"), "{shown}");
}

/// `verify` of `token` for `issuer` and `AUDIENCE`, with the options `keys`.
fn verify_with(issuer: &TestIssuer, keys: &[&str], token: &str) -> Output {
    let mut args = vec![
        "verify",
        "--issuer",
        issuer.issuer(),
        "--audience",
        AUDIENCE,
    ];
    args.extend_from_slice(keys);
    args.push(token);
    run(&args)
}

#[test]
fn verify_checks_hmac_tokens_with_a_secret_from_a_file_or_the_environment() {
    let secret = b"a-shared-secret-of-at-least-32-bytes-for-hs256";
    let hs = TestIssuer::with_keys(vec![TestKey::hmac(secret, Algorithm::HS256)])
        .default_audience(AUDIENCE);
    let token = hs.token().sign();
    // A text file: its final line break is not part of the secret.
    let mut line = secret.to_vec();
    line.push(b'\n');
    let file = TempFile::bytes(&line);
    let o = verify_with(&hs, &["--hmac-secret-file", file.path()], &token);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert_eq!(
        stdout(&o).lines().find(|l| l.starts_with("VALID")),
        Some("VALID")
    );
    assert!(
        stdout(&o).contains("keys from the HMAC secret file"),
        "{}",
        stdout(&o)
    );
    // The secret never reaches the output.
    assert!(!stdout(&o).contains("a-shared-secret"), "{}", stdout(&o));

    let o = Command::new(env!("CARGO_BIN_EXE_bearer-guard"))
        .args(["verify", "--issuer", hs.issuer(), "--audience", AUDIENCE])
        .args(["--hmac-secret-env", "BG_TEST_SECRET", &token])
        .env("BG_TEST_SECRET", std::str::from_utf8(secret).unwrap())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("keys from the HMAC secret in the variable \"BG_TEST_SECRET\""),
        "{}",
        stdout(&o)
    );
    // An algorithm named twice is one key, not two that make a token
    // without kid ambiguous.
    let o = verify_with(
        &hs,
        &[
            "--hmac-secret-file",
            file.path(),
            "--algorithm",
            "HS256,HS256",
        ],
        &token,
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));

    // Another secret: the signature fails, status 1.
    let other = TempFile::with("another-shared-secret-of-at-least-32-bytes!!");
    let o = verify_with(&hs, &["--hmac-secret-file", other.path()], &token);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(last_line(&o).starts_with("INVALID"), "{}", stdout(&o));
    assert!(
        stdout(&o)
            .lines()
            .any(|l| l.contains("FAIL") && l.contains("signature")),
        "{}",
        stdout(&o)
    );

    // An HS512 token: refused by the default (HS256), with the option to
    // give; checked once HS512 is given (its secret is long enough).
    let long = [7u8; 64];
    let hs512 = TestIssuer::with_keys(vec![TestKey::hmac(&long, Algorithm::HS512)])
        .default_audience(AUDIENCE);
    let token512 = hs512.token().sign();
    let long_file = TempFile::bytes(&long);
    let o = verify_with(&hs512, &["--hmac-secret-file", long_file.path()], &token512);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    assert!(
        last_line(&o).contains("add --algorithm HS512"),
        "{}",
        last_line(&o)
    );
    let o = verify_with(
        &hs512,
        &[
            "--hmac-secret-file",
            long_file.path(),
            "--algorithm",
            "HS512",
        ],
        &token512,
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // The 46-byte secret is too short for HS512 (RFC 7518 3.2): status 2.
    let o = verify_with(
        &hs,
        &["--hmac-secret-file", file.path(), "--algorithm", "HS512"],
        &token,
    );
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("shorter than the 64 bytes"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn verify_takes_a_binary_secret_byte_for_byte() {
    // Not UTF-8, and ending in a byte that is a line feed: kept.
    let mut secret = vec![0xffu8; 40];
    secret.push(b'\n');
    let hs = TestIssuer::with_keys(vec![TestKey::hmac(&secret, Algorithm::HS256)])
        .default_audience(AUDIENCE);
    let file = TempFile::bytes(&secret);
    let o = verify_with(
        &hs,
        &["--hmac-secret-file", file.path()],
        &hs.token().sign(),
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
}

#[test]
fn verify_refuses_unusable_secrets_and_key_files_with_status_2() {
    let token = issuer().token().sign();
    let empty = TempFile::with("");
    let o = verify_with(issuer(), &["--hmac-secret-file", empty.path()], &token);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("is empty"), "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_bearer-guard"))
        .args([
            "verify",
            "--issuer",
            issuer().issuer(),
            "--audience",
            AUDIENCE,
        ])
        .args(["--hmac-secret-env", "BG_TEST_UNSET_SECRET", &token])
        .env_remove("BG_TEST_UNSET_SECRET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("BG_TEST_UNSET_SECRET"),
        "{}",
        stderr(&o)
    );
    // A secret with only asymmetric algorithms allowed: a usage error.
    let secret = TempFile::with("a-shared-secret-of-at-least-32-bytes-for-hs256");
    let o = verify_with(
        issuer(),
        &["--hmac-secret-file", secret.path(), "--algorithm", "RS256"],
        &token,
    );
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("HS256, HS384 or HS512"),
        "{}",
        stderr(&o)
    );
    // A directory, a file over 64 KiB, a file that is not PEM.
    let dir = std::env::temp_dir();
    let o = verify_with(issuer(), &["--key-file", dir.to_str().unwrap()], &token);
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    let at_limit = TempFile::bytes(&vec![b'a'; 64 * 1024]);
    let o = verify_with(issuer(), &["--key-file", at_limit.path()], &token);
    assert_one_line_error(&o);
    assert!(!stderr(&o).contains("longer than"), "{}", stderr(&o));
    let over = TempFile::bytes(&vec![b'a'; 64 * 1024 + 1]);
    let o = verify_with(issuer(), &["--key-file", over.path()], &token);
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("longer than 65536 bytes"),
        "{}",
        stderr(&o)
    );
    // A FIFO no writer opens: refused at once, not waited on (a command
    // that blocked would fail the watchdog, not hang the test).
    #[cfg(unix)]
    {
        let fifo =
            std::env::temp_dir().join(format!("bearer-guard-cli-{}-fifo", std::process::id()));
        let _ = std::fs::remove_file(&fifo);
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let (path, token) = (fifo.to_str().unwrap().to_owned(), token.clone());
        std::thread::spawn(move || {
            let _ = tx.send(verify_with(
                issuer(),
                &["--hmac-secret-file", &path],
                &token,
            ));
        });
        let o = rx.recv_timeout(std::time::Duration::from_secs(60));
        let _ = std::fs::remove_file(&fifo);
        let o = o.expect("verify blocked on a FIFO");
        assert_one_line_error(&o);
        assert!(stderr(&o).contains("not a regular file"), "{}", stderr(&o));
    }
    // --kid names one key; a JWKS names its own.
    let jwks = TempFile::with(&issuer().jwks_json());
    let o = verify_with(
        issuer(),
        &["--jwks-file", jwks.path(), "--kid", "k"],
        &token,
    );
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("--kid"), "{}", stderr(&o));
    // Two key sources.
    let o = verify_with(
        issuer(),
        &[
            "--jwks-file",
            jwks.path(),
            "--hmac-secret-file",
            secret.path(),
        ],
        &token,
    );
    assert_one_line_error(&o);
    assert!(stderr(&o).contains("give one key source"), "{}", stderr(&o));
    // An empty key id.
    let o = verify_with(
        issuer(),
        &["--hmac-secret-file", secret.path(), "--kid="],
        &token,
    );
    assert_one_line_error(&o);
    assert!(
        stderr(&o).contains("--kid needs a key id"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn verify_checks_a_token_with_a_pem_public_key_and_its_kid() {
    let key = TestKey::generate(Algorithm::ES256).with_kid("signing-2026");
    let pem = TempFile::with(&key.public_pem().unwrap());
    let es = TestIssuer::with_keys(vec![key]).default_audience(AUDIENCE);
    let token = es.token().sign();
    // Without --kid, the one key verifies whatever kid the token names.
    let o = verify_with(&es, &["--key-file", pem.path()], &token);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("keys: (no kid) (ES256)"),
        "{}",
        stdout(&o)
    );
    let o = verify_with(
        &es,
        &["--key-file", pem.path(), "--kid", "signing-2026"],
        &token,
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    // Bound to another kid: the token's key is unknown.
    let o = verify_with(
        &es,
        &["--key-file", pem.path(), "--kid=signing-2025"],
        &token,
    );
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let line = last_line(&o);
    assert!(
        line.contains("\"signing-2026\"") && line.contains("\"signing-2025\""),
        "{line}"
    );
    // A token signed by another key (RS256): no key can verify it.
    let o = verify_with(&es, &["--key-file", pem.path()], &issuer().token().sign());
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
}
