//! [`EndpointUrl`]: a URL of the authorization server (a JWKS, a metadata
//! document, an introspection or token endpoint) as the crate stores and
//! shows it. The whole URL is what is fetched; what is shown, logged,
//! measured or served never holds its user information or query values,
//! which is where credentials in a URL live (`https://svc:pw@host/jwks`,
//! `?api_key=..`).

use std::fmt;
use std::sync::Arc;

/// An endpoint URL whose `Display`, `Debug` and serialization hide the
/// credentials it may hold.
///
/// User information becomes `***@`, each query value `***`, the fragment
/// is dropped; scheme, host, port, path and query names stay, so an
/// operator can still tell which endpoint is meant. The metric label
/// ([`metric_label`](Self::metric_label)) drops the query altogether.
///
/// ```
/// use bearer_guard::jwks::EndpointUrl;
/// let url = EndpointUrl::new("https://svc:pw@as.example.com/jwks?api_key=k1&v=2");
/// assert_eq!(url.to_string(), "https://***@as.example.com/jwks?api_key=***&v=***");
/// assert_eq!(format!("{url:?}"), "EndpointUrl(\"https://***@as.example.com/jwks?api_key=***&v=***\")");
/// assert_eq!(url.metric_label(), "https://as.example.com/jwks");
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EndpointUrl(Arc<str>);

impl EndpointUrl {
    /// The URL `url`, as configured or discovered (not checked here: the
    /// fetcher refuses what it cannot fetch).
    pub fn new(url: impl Into<String>) -> Self {
        EndpointUrl(Arc::from(url.into()))
    }

    /// The whole URL, credentials included: for the fetcher only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with user information and query values hidden, and no
    /// fragment: what `Display` writes. A text that is not a URL shows as
    /// `<invalid URL>`.
    pub fn redacted(&self) -> String {
        let Ok(url) = reqwest::Url::parse(&self.0) else {
            return "<invalid URL>".to_owned();
        };
        let mut out = String::with_capacity(self.0.len());
        out.push_str(url.scheme());
        out.push_str("://");
        if !url.username().is_empty() || url.password().is_some() {
            out.push_str("***@");
        }
        if let Some(host) = url.host_str() {
            out.push_str(host);
        }
        if let Some(port) = url.port() {
            out.push(':');
            out.push_str(&port.to_string());
        }
        out.push_str(url.path());
        if let Some(query) = url.query() {
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                let name = pair.split('=').next().unwrap_or_default();
                out.push_str(name);
                out.push_str("=***");
            }
        }
        out
    }

    /// The URL as a metric label: scheme, host, port and path only (no
    /// user information, query or fragment: a label must not vary with
    /// them, nor show them). Empty for a text that is not a URL.
    pub fn metric_label(&self) -> String {
        match reqwest::Url::parse(&self.0) {
            Ok(mut url) => {
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.set_query(None);
                url.set_fragment(None);
                url.to_string()
            }
            Err(_) => String::new(),
        }
    }
}

impl fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EndpointUrl")
            .field(&self.redacted())
            .finish()
    }
}

impl serde::Serialize for EndpointUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

/// From a string, as configuration files give it (`Debug` of the
/// configuration then hides its credentials too).
impl<'de> serde::Deserialize<'de> for EndpointUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(EndpointUrl::new)
    }
}

impl From<String> for EndpointUrl {
    fn from(url: String) -> Self {
        EndpointUrl::new(url)
    }
}

impl From<&str> for EndpointUrl {
    fn from(url: &str) -> Self {
        EndpointUrl::new(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_any_form() {
        for (raw, shown) in [
            ("https://as.example/jwks", "https://as.example/jwks"),
            ("https://u:p@as.example/jwks", "https://***@as.example/jwks"),
            (
                "https://u@as.example:8443/jwks",
                "https://***@as.example:8443/jwks",
            ),
            ("https://:p@as.example/jwks", "https://***@as.example/jwks"),
            (
                "https://as.example/jwks?api_key=s3cret&x&=y#frag",
                "https://as.example/jwks?api_key=***&x=***&=***",
            ),
            ("not a url s3cret", "<invalid URL>"),
        ] {
            let url = EndpointUrl::new(raw);
            assert_eq!(url.to_string(), shown, "{raw}");
            for text in [
                url.to_string(),
                format!("{url:?}"),
                serde_json::to_string(&url).unwrap(),
                url.metric_label(),
            ] {
                assert!(
                    !text.contains("s3cret") && !text.contains(":p@") && !text.contains("u:"),
                    "{text}"
                );
            }
            assert_eq!(url.expose(), raw);
        }
        assert_eq!(
            EndpointUrl::new("https://u:p@as.example/jwks?k=v#f").metric_label(),
            "https://as.example/jwks"
        );
    }
}
