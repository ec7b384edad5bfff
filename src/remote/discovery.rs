//! Authorization server metadata: OpenID Connect Discovery 1.0 and RFC 8414.
//!
//! Given an issuer URL, the metadata is fetched from
//! `{issuer}/.well-known/openid-configuration`; if the server answers that
//! with an error status, from the RFC 8414 location
//! `{origin}/.well-known/oauth-authorization-server{path}`. The document's
//! `issuer` must equal the configured issuer exactly (OIDC Discovery §4.3,
//! RFC 8414 §3.3): otherwise an attacker-controlled document could name
//! another issuer's keys.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::{DiscoveryError, FetchError, InvalidMetadata};
use super::fetch::Fetcher;
use crate::json::{self, ObjectError};
pub(crate) use crate::limits::DEFAULT_MAX_METADATA_SIZE;

/// The metadata this crate uses from an authorization server's discovery
/// document; every other member is kept in [`other`](Self::other).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct IssuerMetadata {
    /// `issuer`: equal to the configured issuer.
    pub issuer: String,
    /// `jwks_uri`: where the signing keys are published.
    pub jwks_uri: Option<String>,
    /// `introspection_endpoint` (RFC 7662), for opaque tokens.
    pub introspection_endpoint: Option<String>,
    /// `token_endpoint`.
    pub token_endpoint: Option<String>,
    /// Every other member of the document.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The two well-known metadata URLs for `issuer`, OIDC first.
pub(crate) fn metadata_urls(issuer: &reqwest::Url) -> [reqwest::Url; 2] {
    let mut oidc = issuer.clone();
    let path = issuer.path().trim_end_matches('/').to_owned();
    oidc.set_path(&format!("{path}/.well-known/openid-configuration"));
    oidc.set_query(None);
    let mut rfc8414 = issuer.clone();
    rfc8414.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
    rfc8414.set_query(None);
    [oidc, rfc8414]
}

/// Fetches and checks the metadata of `issuer`.
pub(crate) async fn discover(
    fetcher: &Fetcher,
    issuer: &str,
    max_size: usize,
) -> Result<IssuerMetadata, DiscoveryError> {
    let issuer_url = fetcher
        .url(issuer)
        .map_err(|_| DiscoveryError::InvalidIssuer(issuer.to_owned()))?;
    let [oidc, rfc8414] = metadata_urls(&issuer_url);
    let mut last = (oidc.clone(), FetchError::Status(0));
    for url in [oidc, rfc8414] {
        match fetcher.get(&url, http::HeaderMap::new(), max_size).await {
            Ok(fetched) if fetched.status == http::StatusCode::OK => {
                return check(issuer, url.as_str(), &fetched.body);
            }
            Ok(fetched) => {
                last = (url, FetchError::Status(fetched.status.as_u16()));
            }
            // The server answered, but not with this document: try the other
            // location. A transport failure would fail there too.
            Err(FetchError::Status(code)) => last = (url, FetchError::Status(code)),
            Err(source) => {
                return Err(DiscoveryError::Fetch {
                    url: url.to_string().into(),
                    source,
                });
            }
        }
    }
    let (url, source) = last;
    Err(DiscoveryError::Fetch {
        url: url.to_string().into(),
        source,
    })
}

pub(crate) fn check(
    issuer: &str,
    url: &str,
    body: &[u8],
) -> Result<IssuerMetadata, DiscoveryError> {
    let invalid = |reason| DiscoveryError::Invalid {
        url: url.into(),
        reason,
    };
    let object = json::parse_object(body).map_err(|e| {
        invalid(match e {
            ObjectError::NotAnObject => InvalidMetadata::NotJsonObject,
            ObjectError::DuplicateMember => InvalidMetadata::DuplicateMember,
        })
    })?;
    if !object.get("issuer").is_some_and(Value::is_string) {
        return Err(invalid(InvalidMetadata::Member("issuer")));
    }
    for member in ["jwks_uri", "introspection_endpoint", "token_endpoint"] {
        if object
            .get(member)
            .is_some_and(|v| !v.is_string() && !v.is_null())
        {
            return Err(invalid(InvalidMetadata::Member(member)));
        }
    }
    let metadata: IssuerMetadata = serde_json::from_value(Value::Object(object))
        .map_err(|_| invalid(InvalidMetadata::Member("issuer")))?;
    if metadata.issuer != issuer {
        return Err(DiscoveryError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: metadata.issuer,
        });
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_for_issuers_with_and_without_path() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        let [oidc, rfc] = metadata_urls(&u("https://as.example"));
        assert_eq!(
            oidc.as_str(),
            "https://as.example/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc.as_str(),
            "https://as.example/.well-known/oauth-authorization-server"
        );
        let [oidc, rfc] = metadata_urls(&u("https://as.example/realms/acme/"));
        assert_eq!(
            oidc.as_str(),
            "https://as.example/realms/acme/.well-known/openid-configuration"
        );
        assert_eq!(
            rfc.as_str(),
            "https://as.example/.well-known/oauth-authorization-server/realms/acme"
        );
    }

    #[test]
    fn the_document_issuer_must_be_equal() {
        let doc = br#"{"issuer": "https://as.example/", "jwks_uri": "https://as.example/jwks"}"#;
        assert!(check("https://as.example/", "u", doc).is_ok());
        assert!(matches!(
            check("https://as.example", "u", doc),
            Err(DiscoveryError::IssuerMismatch { .. })
        ));
        assert!(matches!(
            check("https://as.example/", "u", b"[]"),
            Err(DiscoveryError::Invalid { .. })
        ));
    }
}
