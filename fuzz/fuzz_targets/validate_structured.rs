//! Structure-aware: the JOSE header and the claims are generated as JSON
//! objects (member names and values drawn from the real vocabulary, spliced
//! with arbitrary Unicode at arbitrary byte offsets, duplicates allowed),
//! signed with a key the validator trusts (HS256 or EdDSA), and validated
//! twice (the second time through the verified-token cache). The raw-bytes
//! target rarely reaches valid, signed JSON with multibyte text in the right
//! place; this one does on almost every input.
//!
//! Each token also goes through a validator trusting two issuers (one by
//! name, one an Entra-style tenant template), where the unverified `iss`
//! chooses the keys.
//!
//! Invariants: never a panic; an accepted token names a configured issuer
//! (a template's only with its tenant confirmed by `tid`) and audience and
//! is not expired; the cached answer equals the first.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use bearer_guard::testing::TestKey;
use bearer_guard::{
    Claims, Issuer, ValidationError, Validator, claims::RoleSource, keys::Algorithm,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const SECRET: &[u8] = b"fuzzing-secret-fuzzing-secret-fuzzing";
const ISS: &str = "https://issuer.test";
const TEMPLATE: &str = "https://t.test/{tenant}/v2.0";
const AUD: &str = "api";
/// The validator's clock is the system clock; times are generated around it.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Member names and string values of real tokens, and text that trips
/// byte-offset code.
const VOCABULARY: &[&str] = &[
    "alg",
    "kid",
    "typ",
    "cty",
    "crit",
    "b64",
    "jku",
    "jwk",
    "x5u",
    "x5c",
    "x5t",
    "x5t#S256",
    "zip",
    "enc",
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "sub",
    "jti",
    "client_id",
    "azp",
    "scope",
    "scp",
    "cnf",
    "jkt",
    "roles",
    "HS256",
    "EdDSA",
    "ES256",
    "RS256",
    "none",
    "hs",
    "ed",
    "at+jwt",
    "application/at+jwt",
    "JWT",
    "application/",
    "dpop+jwt",
    ISS,
    AUD,
    "charge:customer refund",
    "tid",
    "acme",
    "https://t.test/acme/v2.0",
    "https://t.test/",
    "/v2.0",
    "realm_access",
    "é",
    "€",
    "😀",
    "\u{301}",
    "\u{202E}",
    "\u{FEFF}",
    "\0",
];

fn validator() -> &'static (Validator, TestKey) {
    static V: OnceLock<(Validator, TestKey)> = OnceLock::new();
    V.get_or_init(|| {
        let ed = TestKey::generate(Algorithm::EdDSA).with_kid("ed");
        let jwks = format!(r#"{{"keys":[{}]}}"#, ed.public_jwk().expect("jwk"));
        let validator = Validator::builder()
            .issuer(ISS)
            .audience(AUD)
            .jwks_json(jwks)
            .hmac_secret(SECRET, Algorithm::HS256, Some("hs"))
            .token_cache_capacity(64)
            .build()
            .expect("validator");
        (validator, ed)
    })
}

/// Two issuers, each with its own keys (the same material: the fuzzer
/// signs for both), the second a tenant template.
fn multi() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        let ed = &validator().1;
        let jwks = format!(r#"{{"keys":[{}]}}"#, ed.public_jwk().expect("jwk"));
        let issuer = |i: Issuer| {
            i.audience(AUD)
                .jwks_json(jwks.clone())
                .hmac_secret(SECRET, Algorithm::HS256, Some("hs"))
                .roles_from(RoleSource::KeycloakRealm)
        };
        Validator::builder()
            .trust(issuer(Issuer::new(ISS)))
            .trust(issuer(Issuer::tenant_template(TEMPLATE)).max_tenants(4))
            .token_cache_capacity(64)
            .build()
            .expect("validator")
    })
}

/// A string: a vocabulary word with arbitrary text spliced in at a byte
/// offset (moved back to the nearest character boundary).
#[derive(Arbitrary, Debug)]
struct Text {
    word: u8,
    splice: Option<(String, u8)>,
}

impl Text {
    fn render(&self) -> String {
        let mut s = VOCABULARY[usize::from(self.word) % VOCABULARY.len()].to_owned();
        if let Some((text, at)) = &self.splice {
            let mut at = usize::from(*at).min(s.len());
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.insert_str(at, text);
        }
        s
    }
}

#[derive(Arbitrary, Debug)]
enum Val {
    Str(Text),
    /// `now + 10 * offset`: times near the validity edges.
    Time(i16),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Arr(Vec<Text>),
    Obj(Vec<(Text, Text)>),
}

impl Val {
    fn render(&self, out: &mut String) {
        let quoted = |t: &Text| serde_json::to_string(&t.render()).unwrap_or_default();
        match self {
            Val::Str(t) => out.push_str(&quoted(t)),
            Val::Time(offset) => out.push_str(&(now() + 10 * i64::from(*offset)).to_string()),
            Val::Int(i) => out.push_str(&i.to_string()),
            Val::Float(f) if f.is_finite() => out.push_str(&f.to_string()),
            Val::Float(_) => out.push('0'),
            Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Val::Null => out.push_str("null"),
            Val::Arr(items) => {
                let items: Vec<String> = items.iter().map(quoted).collect();
                out.push_str(&format!("[{}]", items.join(",")));
            }
            Val::Obj(members) => {
                let members: Vec<String> = members
                    .iter()
                    .map(|(k, v)| format!("{}:{}", quoted(k), quoted(v)))
                    .collect();
                out.push_str(&format!("{{{}}}", members.join(",")));
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    header: Vec<(Text, Val)>,
    claims: Vec<(Text, Val)>,
    /// Start from a valid token's members (so the claim checks are reached
    /// and accepted tokens are common) and add the generated ones.
    base: bool,
    /// Keep a base member beside a generated one of the same name.
    duplicate: bool,
    eddsa: bool,
}

/// The base members the generated ones do not override (unless `duplicate`,
/// which keeps both, to exercise the duplicate-member rule), then the
/// generated members.
fn object(base: &[(&str, String)], members: &[(Text, Val)], duplicate: bool) -> String {
    let generated: Vec<String> = members.iter().map(|(name, _)| name.render()).collect();
    let mut out = String::from("{");
    let mut first = true;
    for (name, value) in base {
        if !duplicate && generated.iter().any(|g| g == name) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&format!(
            "{}:{value}",
            serde_json::to_string(name).unwrap_or_default()
        ));
    }
    for ((_, value), name) in members.iter().zip(&generated) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&serde_json::to_string(name).unwrap_or_default());
        out.push(':');
        value.render(&mut out);
    }
    out.push('}');
    out
}

fn b64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len() * 4 / 3 + 4);
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn validate(token: &str) -> Result<Claims, ValidationError> {
    block_on(validator().0.validate(token))
}

/// Local keys: validation never waits.
fn block_on<F: Future<Output = Result<Claims, ValidationError>>>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(f).poll(&mut cx) {
        Poll::Ready(result) => result,
        Poll::Pending => panic!("validation with local keys waited"),
    }
}

fuzz_target!(|input: Input| {
    let (alg, kid) = if input.eddsa {
        ("EdDSA", "ed")
    } else {
        ("HS256", "hs")
    };
    let now = now();
    let header_base: Vec<(&str, String)> = if input.base {
        vec![
            ("alg", format!("\"{alg}\"")),
            ("kid", format!("\"{kid}\"")),
            ("typ", "\"at+jwt\"".into()),
        ]
    } else {
        Vec::new()
    };
    let claims_base: Vec<(&str, String)> = if input.base {
        vec![
            ("iss", format!("\"{ISS}\"")),
            ("aud", format!("\"{AUD}\"")),
            ("exp", (now + 300).to_string()),
        ]
    } else {
        Vec::new()
    };
    let header = object(&header_base, &input.header, input.duplicate);
    let claims = object(&claims_base, &input.claims, input.duplicate);
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let signature = if input.eddsa {
        validator()
            .1
            .sign(Algorithm::EdDSA, signing_input.as_bytes())
    } else {
        bearer_guard::keys::SigningKey::hmac(SECRET, Algorithm::HS256)
            .expect("key")
            .sign(Algorithm::HS256, signing_input.as_bytes())
            .expect("signature")
    };
    let token = format!("{signing_input}.{}", b64(&signature));
    check_multi(&token, now);
    let first = validate(&token);
    if let Ok(claims) = &first {
        assert_eq!(claims.issuer(), Some(ISS));
        assert!(claims.audiences().any(|a| a == AUD));
        assert!(claims.expires_at().is_some_and(|exp| exp + 60 > now));
        let _ = (claims.scopes().len(), claims.subject(), claims.client_id());
        let _ = serde_json::to_string(claims);
    }
    // The second answer comes from the cache when the first was a success;
    // only the clock may have moved in between.
    let second = validate(&token);
    match (first, second) {
        (Ok(a), Ok(b)) => assert_eq!(a.expires_at(), b.expires_at()),
        (Ok(_), Err(e)) => assert_eq!(e, ValidationError::Expired),
        (Err(a), Err(b)) => assert!(a == b || b == ValidationError::Expired, "{a:?} then {b:?}"),
        (Err(a), Ok(_)) => panic!("refused ({a:?}), then accepted"),
    }
});

/// The same token through the two-issuer validator, twice.
fn check_multi(token: &str, now: i64) {
    let run = || block_on(multi().validate(token));
    let first = run();
    if let Ok(claims) = &first {
        let iss = claims.issuer().expect("a JWT names its issuer");
        let tid = claims.get("tid").and_then(|t| t.as_str());
        assert!(
            iss == ISS || tid.is_some_and(|t| iss == TEMPLATE.replace("{tenant}", t)),
            "accepted iss {iss:?} with tid {tid:?}"
        );
        assert!(claims.audiences().any(|a| a == AUD));
        assert!(claims.expires_at().is_some_and(|exp| exp + 60 > now));
        let _ = claims.roles().len();
    }
    match (first, run()) {
        (Ok(a), Ok(b)) => assert_eq!(a.expires_at(), b.expires_at()),
        (Ok(_), Err(e)) => assert_eq!(e, ValidationError::Expired),
        (Err(a), Err(b)) => assert!(a == b || b == ValidationError::Expired, "{a:?} then {b:?}"),
        (Err(a), Ok(_)) => panic!("refused ({a:?}), then accepted"),
    }
}
