//! Reading `WWW-Authenticate` (RFC 9110 §11.6.1): the challenges a
//! resource server answers with, in any order of parameters, several per
//! header or per response, quoted or not.

use http::HeaderMap;
use http::header::WWW_AUTHENTICATE;

use crate::limits::{MAX_CHALLENGE_PARAMS, MAX_CHALLENGES};

/// One challenge of a `WWW-Authenticate` response header (RFC 9110
/// §11.6.1): a scheme and its parameters, as a client reads them to know
/// what to do next (`error`, `scope`, `resource_metadata`, …).
///
/// ```
/// use bearer_guard::client::Challenge;
///
/// let header = r#"Bearer error="insufficient_scope", scope="files:read files:write",
///     resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", DPoP algs="ES256""#;
/// let challenges = Challenge::parse(header);
/// assert_eq!(challenges.len(), 2);
/// assert_eq!(challenges[0].scheme(), "Bearer");
/// assert_eq!(challenges[0].param("scope"), Some("files:read files:write"));
/// assert_eq!(challenges[1].param("ALGS"), Some("ES256"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
    token68: Option<String>,
}

impl Challenge {
    /// The challenges of every `WWW-Authenticate` header of a response, in
    /// order.
    pub fn from_headers(headers: &HeaderMap) -> Vec<Challenge> {
        let mut out = Vec::new();
        for value in headers.get_all(WWW_AUTHENTICATE) {
            if let Ok(text) = value.to_str() {
                out.extend(Challenge::parse(text));
            }
            if out.len() >= MAX_CHALLENGES {
                out.truncate(MAX_CHALLENGES);
                break;
            }
        }
        out
    }

    /// The challenges of one header value. What cannot be read as a
    /// challenge is skipped; at most [`MAX_CHALLENGES`] challenges of at
    /// most [`MAX_CHALLENGE_PARAMS`] parameters each are kept.
    pub fn parse(value: &str) -> Vec<Challenge> {
        let mut parser = Parser {
            s: value.as_bytes(),
            i: 0,
        };
        let mut out: Vec<Challenge> = Vec::new();
        while out.len() < MAX_CHALLENGES {
            parser.skip(|b| b == b',' || is_space(b));
            if parser.done() {
                break;
            }
            let Some(scheme) = parser.token() else {
                // Not a scheme: skip to the next comma.
                parser.skip(|b| b != b',');
                continue;
            };
            let mut challenge = Challenge {
                scheme: scheme.to_owned(),
                params: Vec::new(),
                token68: None,
            };
            parser.params(&mut challenge);
            out.push(challenge);
        }
        out
    }

    /// The scheme (`Bearer`, `DPoP`, …), as sent.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Whether the scheme is `name`, ignoring case (RFC 9110 §11.1).
    pub fn is(&self, name: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(name)
    }

    /// The value of the parameter `name` (ignoring case), unquoted. `None`
    /// when absent, and when sent more than once (RFC 9110 §11.2: each
    /// name at most once; two values are ambiguous, so neither is used).
    pub fn param(&self, name: &str) -> Option<&str> {
        let mut found = self
            .params
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name));
        let first = found.next()?;
        found.next().is_none().then_some(first.1.as_str())
    }

    /// Every parameter, in order, names as sent.
    pub fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The `token68` form of the challenge's data, if it has that form.
    pub fn token68(&self) -> Option<&str> {
        self.token68.as_deref()
    }
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 §11.2 `token68` characters (besides the trailing `=`).
fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn advance(&mut self) {
        self.i = self.i.saturating_add(1);
    }

    fn skip(&mut self, keep_going: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&keep_going) {
            self.advance();
        }
    }

    fn token(&mut self) -> Option<&'a str> {
        let start = self.i;
        self.skip(is_tchar);
        let bytes = self.s.get(start..self.i)?;
        if bytes.is_empty() {
            return None;
        }
        std::str::from_utf8(bytes).ok()
    }

    /// A quoted-string's content, unescaped; the opening quote is at `i`.
    fn quoted(&mut self) -> Option<String> {
        self.advance();
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.advance();
                    return String::from_utf8(out).ok();
                }
                b'\\' => {
                    self.advance();
                    out.push(self.peek()?);
                    self.advance();
                }
                b => {
                    out.push(b);
                    self.advance();
                }
            }
        }
    }

    /// The parameters (or token68) after a scheme, up to the next
    /// challenge's scheme: a token not followed by `=`.
    fn params(&mut self, challenge: &mut Challenge) {
        self.skip(is_space);
        // token68: characters then `=`s, then the end or a comma.
        let start = self.i;
        self.skip(is_token68);
        let after_chars = self.i;
        self.skip(|b| b == b'=');
        let ends = self.done() || {
            let at = self.i;
            self.skip(is_space);
            let ends = self.done() || self.peek() == Some(b',');
            if !ends {
                self.i = at;
            }
            ends
        };
        if after_chars > start && ends {
            let is_param = self.s.get(after_chars) == Some(&b'=')
                && self
                    .s
                    .get(after_chars.saturating_add(1))
                    .is_some_and(|b| *b != b'=');
            if !is_param {
                challenge.token68 = self
                    .s
                    .get(start..self.i)
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .map(|t| t.trim_end().to_owned());
                return;
            }
        }
        self.i = start;
        loop {
            self.skip(|b| b == b',' || is_space(b));
            let start = self.i;
            let Some(name) = self.token() else {
                // Garbage: skip it, up to the next comma.
                if self.done() {
                    return;
                }
                self.skip(|b| b != b',');
                continue;
            };
            self.skip(is_space);
            if self.peek() != Some(b'=') {
                // The next challenge's scheme.
                self.i = start;
                return;
            }
            self.advance();
            self.skip(is_space);
            let value = if self.peek() == Some(b'"') {
                self.quoted()
            } else {
                // A token ends at a delimiter: `a=https://x` (a URL left
                // unquoted) is not `a=https`, it is not a parameter.
                self.token()
                    .map(str::to_owned)
                    .filter(|_| self.peek().is_none_or(|b| b == b',' || is_space(b)))
            };
            let Some(value) = value else {
                self.skip(|b| b != b',');
                continue;
            };
            if challenge.params.len() < MAX_CHALLENGE_PARAMS {
                challenge.params.push((name.to_owned(), value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Challenge {
        let mut all = Challenge::parse(s);
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    #[test]
    fn parameters_in_any_order_quoted_or_not() {
        let c = one(
            r#"Bearer scope="a b", resource_metadata="https://h/.well-known/x", error=insufficient_scope"#,
        );
        assert!(c.is("bearer"));
        assert_eq!(c.param("error"), Some("insufficient_scope"));
        assert_eq!(c.param("scope"), Some("a b"));
        assert_eq!(
            c.param("Resource_Metadata"),
            Some("https://h/.well-known/x")
        );
        assert_eq!(c.param("realm"), None);
    }

    #[test]
    fn several_challenges_in_one_value_and_escapes() {
        let all = Challenge::parse(
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple", Bearer"#,
        );
        let schemes: Vec<_> = all.iter().map(Challenge::scheme).collect();
        assert_eq!(schemes, ["Newauth", "Basic", "Bearer"]);
        assert_eq!(all[0].param("title"), Some(r#"Login to "apps""#));
        assert_eq!(all[0].param("type"), Some("1"));
        assert_eq!(all[1].param("realm"), Some("simple"));
        assert_eq!(all[2].params().count(), 0);
    }

    #[test]
    fn token68_and_bare_schemes() {
        let all = Challenge::parse("Negotiate abc+/9==, Bearer realm=x");
        assert_eq!(all[0].token68(), Some("abc+/9=="));
        assert_eq!(all[1].param("realm"), Some("x"));
        let c = one("Bearer");
        assert_eq!((c.token68(), c.params().count()), (None, 0));
    }

    #[test]
    fn an_unquoted_url_is_not_read_as_its_scheme() {
        let c = one("Bearer resource_metadata=https://h/x, error=invalid_token");
        assert_eq!(c.param("resource_metadata"), None);
        assert_eq!(c.param("error"), Some("invalid_token"));
    }

    #[test]
    fn a_repeated_parameter_is_not_used() {
        let c = one(r#"Bearer resource_metadata="https://a", resource_metadata="https://b""#);
        assert_eq!(c.param("resource_metadata"), None);
    }

    #[test]
    fn garbage_never_panics_and_stays_bounded() {
        for s in [
            "",
            ",",
            "=",
            "\"",
            "Bearer \"",
            "Bearer a=\"unterminated",
            "Bearer a=\"\\",
            "Bearer a=",
            "Bearer =b",
            "Bearer a==b",
            ", , Bearer , ,",
            "Bearer a=b,,c=d",
            "\u{e9}t\u{e9}",
            "Bearer a=\"\u{e9}\"",
        ] {
            let _ = Challenge::parse(s);
        }
        let many = "B a=b, ".repeat(10 * MAX_CHALLENGES);
        assert_eq!(Challenge::parse(&many).len(), MAX_CHALLENGES);
        let params = format!("Bearer {}", "a=b, ".repeat(10 * MAX_CHALLENGE_PARAMS));
        assert_eq!(one(&params).params().count(), MAX_CHALLENGE_PARAMS);
        let c = one("Bearer a=b,,c=d");
        assert_eq!((c.param("a"), c.param("c")), (Some("b"), Some("d")));
    }
}
