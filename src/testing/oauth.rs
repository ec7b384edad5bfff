//! What the test authorization server answers, apart from HTTP: its
//! metadata (RFC 8414), client authentication (RFC 6749 §2.3.1), the
//! client-credentials grant (§4.4, errors as §5.2 says) and introspection
//! (RFC 7662). Used by the server and by
//! [`TestIssuer::token_endpoint_answer`].
//!
//! Everything here reads what a peer sent: no panics, no arithmetic that
//! can overflow, no unbounded growth a request can cause.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Map, Value, json};

use super::issuer::TestIssuer;
use crate::jwt::{HeaderRules, Jws, TypPolicy};
use crate::keys::{KeySet, VerificationKey};

/// The paths the server serves, below its issuer URL.
pub(crate) const JWKS_PATH: &str = "/jwks";
pub(crate) const TOKEN_PATH: &str = "/token";
pub(crate) const INTROSPECTION_PATH: &str = "/introspect";
pub(crate) const OIDC_METADATA_PATH: &str = "/.well-known/openid-configuration";
pub(crate) const RFC8414_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";

/// Most opaque tokens the token endpoint issues (beyond: `server_error`).
pub(crate) const MAX_ISSUED_OPAQUE_TOKENS: usize = 100_000;

/// A client registered at the test authorization server: its id and
/// secret, the scopes it may ask for, and the kind of access token it gets.
///
/// It authenticates with `client_secret_basic` or `client_secret_post`
/// (RFC 6749 §2.3.1), at the token endpoint and at the introspection
/// endpoint alike.
///
/// ```
/// use bearer_guard::testing::ClientRegistration;
///
/// let orders = ClientRegistration::new("order-service", "s3cret")
///     .scopes(["charge:customer", "refund"]);
/// assert_eq!(orders.id(), "order-service");
/// // The secret never shows.
/// assert!(!format!("{orders:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct ClientRegistration {
    id: String,
    secret: String,
    scopes: Option<Vec<String>>,
    opaque: bool,
}

impl fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("id", &self.id)
            .field("scopes", &self.scopes)
            .field("opaque_tokens", &self.opaque)
            .finish_non_exhaustive()
    }
}

impl ClientRegistration {
    /// A client with this id and secret, which may ask for any scope and
    /// gets JWT access tokens.
    pub fn new(id: impl Into<String>, secret: impl Into<String>) -> Self {
        ClientRegistration {
            id: id.into(),
            secret: secret.into(),
            scopes: None,
            opaque: false,
        }
    }

    /// The scopes this client may ask for: a request for another one is
    /// refused with `invalid_scope`, and a request without `scope` gets
    /// all of them (RFC 6749 §3.3). Without this, any scope may be asked
    /// for, and a request without `scope` gets none.
    pub fn scopes<I, T>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Issues opaque access tokens to this client instead of JWTs: random
    /// strings that only the introspection endpoint can read.
    pub fn opaque_tokens(mut self) -> Self {
        self.opaque = true;
        self
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether `scope` is one this client may ask for.
    fn allows(&self, scope: &str) -> bool {
        self.scopes
            .as_ref()
            .is_none_or(|allowed| allowed.iter().any(|s| s == scope))
    }
}

/// An answer: the status and the JSON body (an RFC 6749 §5.2 error, or
/// the endpoint's document).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Answer { status: 200, body }
    }

    /// An RFC 6749 §5.2 error.
    fn error(status: u16, error: &str, description: &str) -> Self {
        Answer {
            status,
            body: json!({ "error": error, "error_description": description }),
        }
    }

    fn invalid_request(description: &str) -> Self {
        Self::error(400, "invalid_request", description)
    }

    fn invalid_client(description: &str) -> Self {
        Self::error(401, "invalid_client", description)
    }

    fn server_error(description: &str) -> Self {
        Self::error(500, "server_error", description)
    }
}

/// A request's form parameters (`application/x-www-form-urlencoded`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(body: &[u8]) -> Self {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    pub(crate) fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// RFC 6749 §3.1, §3.2: a parameter sent twice (but `resource`, which
    /// RFC 8707 repeats) is an `invalid_request`.
    fn repeated(&self) -> Option<&str> {
        self.0.iter().enumerate().find_map(|(i, (name, _))| {
            let again = self
                .0
                .iter()
                .skip(i.saturating_add(1))
                .any(|(n, _)| n == name);
            (again && name != "resource").then_some(name.as_str())
        })
    }
}

/// The `client_id` a request presents (Basic or form), authenticated or
/// not.
pub(crate) fn presented_client_id(authorization: Option<&str>, form: &Form) -> Option<String> {
    match authorization.and_then(basic_credentials) {
        Some((id, _)) => Some(id),
        None => form.get("client_id").map(str::to_owned),
    }
}

/// The id and secret of an `Authorization: Basic` value, each
/// form-decoded (RFC 6749 §2.3.1).
fn basic_credentials(authorization: &str) -> Option<(String, String)> {
    let (scheme, encoded) = authorization.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let pair = String::from_utf8(decoded).ok()?;
    let (id, secret) = pair.split_once(':')?;
    let decode = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

/// Authenticates the client of a request: `client_secret_basic` or
/// `client_secret_post`, never both (RFC 6749 §2.3).
fn authenticate<'c>(
    clients: &'c [ClientRegistration],
    authorization: Option<&str>,
    form: &Form,
) -> Result<&'c ClientRegistration, Answer> {
    let (id, secret) = match authorization {
        Some(value) => {
            let Some((id, secret)) = basic_credentials(value) else {
                return Err(Answer::invalid_client(
                    "the Authorization header is not HTTP Basic client authentication",
                ));
            };
            if form.get("client_secret").is_some() {
                return Err(Answer::invalid_request(
                    "more than one client authentication method",
                ));
            }
            if form.get("client_id").is_some_and(|body_id| body_id != id) {
                return Err(Answer::invalid_request(
                    "client_id differs from the authenticated client",
                ));
            }
            (id, secret)
        }
        None => match (form.get("client_id"), form.get("client_secret")) {
            (Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
            _ => return Err(Answer::invalid_client("no client authentication")),
        },
    };
    clients
        .iter()
        .find(|c| c.id == id && c.secret == secret)
        .ok_or_else(|| Answer::invalid_client("unknown client or wrong secret"))
}

/// Whether `scope` is a scope token (RFC 6749 §3.3: `%x21 / %x23-5B /
/// %x5D-7E`).
fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// An access token the token endpoint issued.
pub(crate) enum Issued {
    /// A JWT (nothing to remember).
    Jwt,
    /// An opaque token and the claims its introspection answer carries.
    Opaque {
        token: String,
        claims: Map<String, Value>,
    },
}

/// The token endpoint's answer to a request with this `Authorization`
/// header and form, for `clients`, minting with `issuer`; access tokens
/// live `lifetime` seconds.
pub(crate) fn token_answer(
    issuer: &TestIssuer,
    clients: &[ClientRegistration],
    authorization: Option<&str>,
    form: &Form,
    lifetime: i64,
) -> (Answer, Option<Issued>) {
    match token_request(issuer, clients, authorization, form, lifetime) {
        Ok((answer, issued)) => (answer, Some(issued)),
        Err(answer) => (answer, None),
    }
}

fn token_request(
    issuer: &TestIssuer,
    clients: &[ClientRegistration],
    authorization: Option<&str>,
    form: &Form,
    lifetime: i64,
) -> Result<(Answer, Issued), Answer> {
    if let Some(name) = form.repeated() {
        return Err(Answer::invalid_request(&format!(
            "the parameter {name} is repeated"
        )));
    }
    let client = authenticate(clients, authorization, form)?;
    match form.get("grant_type") {
        None => return Err(Answer::invalid_request("grant_type is missing")),
        Some("client_credentials") => {}
        Some(_) => {
            return Err(Answer::error(
                400,
                "unsupported_grant_type",
                "only client_credentials is supported",
            ));
        }
    }
    let requested: Vec<&str> = form
        .get("scope")
        .map(|s| s.split(' ').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if let Some(bad) = requested
        .iter()
        .find(|s| !is_scope_token(s) || !client.allows(s))
    {
        return Err(Answer::error(
            400,
            "invalid_scope",
            &format!("the scope {bad} is not one this client may ask for"),
        ));
    }
    let mut granted: Vec<String> = Vec::new();
    let wanted: Vec<String> = if requested.is_empty() {
        client.scopes.clone().unwrap_or_default()
    } else {
        requested.iter().map(|s| (*s).to_owned()).collect()
    };
    for scope in wanted {
        if !granted.contains(&scope) {
            granted.push(scope);
        }
    }
    let resources: Vec<&str> = form.all("resource").collect();
    let audience = match (resources.as_slice(), form.get("audience")) {
        ([], Some(audience)) => json!(audience),
        ([], None) => json!(issuer.audience()),
        ([one], _) => json!(one),
        (many, _) => json!(many),
    };
    let Some(builder) = issuer.try_token() else {
        return Err(Answer::server_error(
            "the test issuer has no key to sign with",
        ));
    };
    let mut builder = builder
        .subject(&client.id)
        .claim("client_id", client.id.as_str())
        .claim("aud", audience)
        .expires_in(lifetime);
    let scope = granted.join(" ");
    if !scope.is_empty() {
        builder = builder.scope(&scope);
    }
    let (access_token, issued) = if client.opaque {
        let Some(token) = random_token() else {
            return Err(Answer::server_error("the random source failed"));
        };
        let claims = builder.into_claims();
        (token.clone(), Issued::Opaque { token, claims })
    } else {
        let Some(jwt) = builder.try_sign() else {
            return Err(Answer::server_error("the signing key failed to sign"));
        };
        (jwt, Issued::Jwt)
    };
    let mut body = Map::new();
    body.insert("access_token".into(), json!(access_token));
    body.insert("token_type".into(), json!("Bearer"));
    body.insert("expires_in".into(), json!(lifetime));
    if !scope.is_empty() {
        body.insert("scope".into(), json!(scope));
    }
    Ok((Answer::ok(Value::Object(body)), issued))
}

/// A fresh opaque token: 32 random bytes, base64url.
pub(crate) fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(URL_SAFE_NO_PAD.encode(bytes))
}

/// What the introspection endpoint knows of a token besides JWTs.
#[derive(Debug, Clone)]
pub(crate) enum Known {
    /// Issued (by the token endpoint or the test): active with these
    /// claims until their `exp`.
    Issued(Map<String, Value>),
    /// Answered as the test said.
    Answer(Value),
}

/// The tokens the introspection endpoint knows besides JWTs, and the
/// revoked ones.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    pub(crate) known: HashMap<String, Known>,
    /// SHA-256 of each revoked token.
    pub(crate) revoked: Vec<[u8; 32]>,
    /// How many of `known` the token endpoint issued.
    pub(crate) issued: usize,
}

impl Tokens {
    /// Remembers an opaque token the token endpoint issued; `false` past
    /// [`MAX_ISSUED_OPAQUE_TOKENS`].
    pub(crate) fn remember_issued(&mut self, token: String, claims: Map<String, Value>) -> bool {
        if self.issued >= MAX_ISSUED_OPAQUE_TOKENS {
            return false;
        }
        self.issued = self.issued.saturating_add(1);
        self.known.insert(token, Known::Issued(claims));
        true
    }
}

/// The introspection endpoint's answer (RFC 7662 §2.2).
pub(crate) fn introspection_answer(
    issuer: &TestIssuer,
    clients: &[ClientRegistration],
    tokens: &Tokens,
    authorization: Option<&str>,
    form: &Form,
) -> Answer {
    if let Some(name) = form.repeated() {
        return Answer::invalid_request(&format!("the parameter {name} is repeated"));
    }
    if let Err(refusal) = authenticate(clients, authorization, form) {
        return refusal;
    }
    let Some(token) = form.get("token") else {
        return Answer::invalid_request("token is missing");
    };
    let inactive = || Answer::ok(json!({ "active": false }));
    if tokens
        .revoked
        .contains(&crate::digest::sha256(token.as_bytes()))
    {
        return inactive();
    }
    let now = issuer.now();
    let claims = match tokens.known.get(token) {
        Some(Known::Answer(answer)) => return Answer::ok(answer.clone()),
        Some(Known::Issued(claims)) => claims.clone(),
        None => match verified_claims(issuer, token) {
            Some(claims) => claims,
            None => return inactive(),
        },
    };
    let number = |name: &str| claims.get(name).and_then(Value::as_i64);
    let expired = number("exp").is_some_and(|exp| exp <= now);
    let early = number("nbf").is_some_and(|nbf| nbf > now);
    if expired || early {
        return inactive();
    }
    let bound = claims
        .get("cnf")
        .and_then(|c| c.get("jkt"))
        .is_some_and(Value::is_string);
    let mut answer = Map::new();
    answer.insert("active".into(), json!(true));
    answer.insert(
        "token_type".into(),
        json!(if bound { "DPoP" } else { "Bearer" }),
    );
    for (name, value) in claims {
        answer.entry(name).or_insert(value);
    }
    Answer::ok(Value::Object(answer))
}

/// The claims of `token` if it is a JWT of this issuer: signed by one of
/// its current keys, with its `iss`.
fn verified_claims(issuer: &TestIssuer, token: &str) -> Option<Map<String, Value>> {
    if token.len() > crate::validator::DEFAULT_MAX_TOKEN_SIZE {
        return None;
    }
    let jws = Jws::parse(token).ok()?;
    let mut keys = KeySet::new();
    for key in issuer.keys() {
        let verification = match (key.public_jwk(), key.secret()) {
            (Some(jwk), _) => VerificationKey::from_jwk(&jwk).ok(),
            (None, Some(secret)) => VerificationKey::hmac(secret, key.alg())
                .ok()
                .map(|k| k.with_kid(key.kid())),
            (None, None) => None,
        };
        if let Some(verification) = verification {
            keys.push(verification);
        }
    }
    let rules = HeaderRules {
        algorithms: keys.algorithms(),
        typ: TypPolicy::AccessTokenOrJwt,
    };
    let alg = jws.check(&rules).ok()?;
    jws.verify(alg, token, &keys).ok()?;
    let claims = jws.claims(token).ok()?;
    (claims.get("iss").and_then(Value::as_str) == Some(issuer.issuer())).then_some(claims)
}

/// The metadata document (RFC 8414 §2; also served as OpenID Connect
/// Discovery's) of the server at `url`, with the test's `extra` members
/// over it.
pub(crate) fn metadata(url: &str, extra: &Map<String, Value>) -> Value {
    let auth_methods = json!(["client_secret_basic", "client_secret_post"]);
    let mut document = json!({
        "issuer": url,
        "jwks_uri": format!("{url}{JWKS_PATH}"),
        "token_endpoint": format!("{url}{TOKEN_PATH}"),
        "introspection_endpoint": format!("{url}{INTROSPECTION_PATH}"),
        "grant_types_supported": ["client_credentials"],
        // No authorization endpoint: no response type.
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
    });
    if let Some(members) = document.as_object_mut() {
        for (name, value) in extra {
            members.insert(name.clone(), value.clone());
        }
    }
    document
}

impl TestIssuer {
    /// A token endpoint's answer to a client-credentials request (RFC 6749
    /// §4.4), for a test server of your own to send: `authorization` is
    /// the request's `Authorization` header, `form` its body. The client
    /// authenticates with `client_secret_basic` (id and secret
    /// form-encoded, §2.3.1) or `client_secret_post` as one of `clients`
    /// (id, secret); the token is for the `resource` (or `audience`)
    /// asked, else the default audience, with the `scope` asked and
    /// `client_id` = `sub` = the client, for 300 s. Refusals are RFC 6749
    /// §5.2 errors (`invalid_client` 401, `invalid_request` and
    /// `unsupported_grant_type` 400).
    ///
    /// [`serve`](Self::serve) runs a whole authorization server instead,
    /// with this token endpoint in it.
    ///
    /// ```
    /// # use bearer_guard::testing::TestIssuer;
    /// let issuer = TestIssuer::new();
    /// let (status, body) = issuer.token_endpoint_answer(
    ///     None,
    ///     "grant_type=client_credentials&client_id=svc&client_secret=s&scope=read",
    ///     &[("svc", "s")],
    /// );
    /// assert_eq!(status, 200);
    /// assert_eq!(body["token_type"], "Bearer");
    /// assert_eq!(body["scope"], "read");
    /// ```
    pub fn token_endpoint_answer(
        &self,
        authorization: Option<&str>,
        form: &str,
        clients: &[(&str, &str)],
    ) -> (u16, Value) {
        let clients: Vec<ClientRegistration> = clients
            .iter()
            .map(|(id, secret)| ClientRegistration::new(*id, *secret))
            .collect();
        let form = Form::parse(form.as_bytes());
        let (answer, _) = token_answer(self, &clients, authorization, &form, 300);
        (answer.status, answer.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> String {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "Basic {}",
            STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))
        )
    }

    fn request(clients: &[ClientRegistration], authorization: Option<&str>, form: &str) -> Answer {
        let issuer = TestIssuer::with_keys(vec![super::super::TestKey::generate(
            crate::keys::Algorithm::ES256,
        )]);
        token_answer(
            &issuer,
            clients,
            authorization,
            &Form::parse(form.as_bytes()),
            300,
        )
        .0
    }

    fn error(answer: &Answer) -> (u16, &str) {
        (
            answer.status,
            answer.body["error"].as_str().unwrap_or_default(),
        )
    }

    #[test]
    fn client_authentication_is_basic_or_post_and_never_both() {
        let clients = [ClientRegistration::new("svc:1", "p@ss word")];
        let auth = basic("svc:1", "p@ss word");
        let grant = "grant_type=client_credentials";
        assert_eq!(request(&clients, Some(&auth), grant).status, 200);
        let post = format!("{grant}&client_id=svc%3A1&client_secret=p%40ss+word");
        assert_eq!(request(&clients, None, &post).status, 200);
        assert_eq!(
            error(&request(&clients, Some(&auth), &post)),
            (400, "invalid_request")
        );
        for refused in [
            request(&clients, None, grant),
            request(&clients, Some(&basic("svc:1", "wrong")), grant),
            request(&clients, Some("Bearer abc"), grant),
            request(&clients, Some("Basic !!!"), grant),
            request(&clients, Some("Basic"), grant),
        ] {
            assert_eq!(error(&refused), (401, "invalid_client"));
        }
    }

    #[test]
    fn scopes_are_limited_to_the_clients_and_default_to_them() {
        let clients = [ClientRegistration::new("a", "s").scopes(["read", "write"])];
        let auth = basic("a", "s");
        let ask = |scope: &str| {
            request(
                &clients,
                Some(&auth),
                &format!("grant_type=client_credentials{scope}"),
            )
        };
        assert_eq!(ask("&scope=read").body["scope"], "read");
        assert_eq!(ask("").body["scope"], "read write");
        assert_eq!(ask("&scope=read+read").body["scope"], "read");
        assert_eq!(error(&ask("&scope=admin")), (400, "invalid_scope"));
        assert_eq!(error(&ask("&scope=re%22ad")), (400, "invalid_scope"));
    }

    #[test]
    fn grant_type_and_repeated_parameters_are_checked() {
        let clients = [ClientRegistration::new("a", "s")];
        let auth = basic("a", "s");
        let ask = |form: &str| request(&clients, Some(&auth), form);
        assert_eq!(error(&ask("")), (400, "invalid_request"));
        assert_eq!(
            error(&ask("grant_type=password")),
            (400, "unsupported_grant_type")
        );
        assert_eq!(
            error(&ask("grant_type=client_credentials&scope=a&scope=b")),
            (400, "invalid_request")
        );
        let many = ask("grant_type=client_credentials&resource=https://a&resource=https://b");
        assert_eq!(many.status, 200);
    }

    #[test]
    fn odd_input_answers_without_panicking() {
        let clients = [ClientRegistration::new("a", "s")];
        for form in ["%", "=&=&", "grant_type", "scope=%FF%FE", "\u{0}"] {
            let _ = request(&clients, Some(&basic("a", "s")), form);
            let _ = request(&clients, Some("Basic Og=="), form);
        }
        let issuer = TestIssuer::new();
        let tokens = Tokens::default();
        for token in ["", ".", "..", "a.b.c", "eyJhbGciOiJub25lIn0..", "x.y"] {
            let form = Form::parse(format!("token={token}&client_id=a&client_secret=s").as_bytes());
            let answer = introspection_answer(&issuer, &clients, &tokens, None, &form);
            assert_eq!(answer.body, json!({"active": false}), "{token}");
        }
    }
}
