//! How the resource server authenticates to the introspection endpoint:
//! `client_secret_basic`, `client_secret_post` or `private_key_jwt`.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue};
use serde_json::json;

use super::IntrospectionError;
use crate::keys::SigningKey;

/// How the resource server authenticates to the introspection endpoint.
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: String,
    },
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: String,
    },
    /// A JWT assertion signed with the client's private key (RFC 7523 §2.2).
    PrivateKeyJwt {
        /// The client id (`iss` and `sub` of the assertion).
        client_id: String,
        /// The signing key (its `kid`, if any, goes in the header).
        key: Arc<SigningKey>,
    },
}

impl ClientAuth {
    /// The client id.
    #[cfg(feature = "redis")]
    pub(crate) fn client_id(&self) -> &str {
        match self {
            ClientAuth::ClientSecretBasic { client_id, .. }
            | ClientAuth::ClientSecretPost { client_id, .. }
            | ClientAuth::PrivateKeyJwt { client_id, .. } => client_id,
        }
    }

    /// `client_secret_basic`.
    pub fn basic(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        ClientAuth::ClientSecretBasic {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// `client_secret_post`.
    pub fn post(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        ClientAuth::ClientSecretPost {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        }
    }

    /// `private_key_jwt`.
    pub fn private_key_jwt(client_id: impl Into<String>, key: SigningKey) -> Self {
        ClientAuth::PrivateKeyJwt {
            client_id: client_id.into(),
            key: Arc::new(key),
        }
    }
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (method, id) = match self {
            ClientAuth::ClientSecretBasic { client_id, .. } => ("client_secret_basic", client_id),
            ClientAuth::ClientSecretPost { client_id, .. } => ("client_secret_post", client_id),
            ClientAuth::PrivateKeyJwt { client_id, .. } => ("private_key_jwt", client_id),
        };
        f.debug_struct("ClientAuth")
            .field("method", &method)
            .field("client_id", id)
            .finish_non_exhaustive()
    }
}

/// The `client_assertion_type` of RFC 7523 §2.2.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl ClientAuth {
    /// Adds this authentication to a request for `audience` (the endpoint)
    /// at time `now`: form parameters, or an `Authorization` header.
    pub(crate) fn apply(
        &self,
        form: &mut Vec<(&'static str, String)>,
        headers: &mut HeaderMap,
        audience: &str,
        now: i64,
    ) -> Result<(), IntrospectionError> {
        match self {
            ClientAuth::ClientSecretBasic {
                client_id,
                client_secret,
            } => {
                let credentials =
                    format!("{}:{}", form_encode(client_id), form_encode(client_secret));
                let value = format!("Basic {}", STANDARD.encode(credentials));
                let mut value = HeaderValue::from_str(&value)
                    .map_err(|_| IntrospectionError::ClientAuthentication)?;
                // Kept out of HTTP/2 header compression tables and debug output.
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
            ClientAuth::ClientSecretPost {
                client_id,
                client_secret,
            } => {
                form.push(("client_id", client_id.clone()));
                form.push(("client_secret", client_secret.clone()));
            }
            ClientAuth::PrivateKeyJwt { client_id, key } => {
                form.push(("client_assertion_type", JWT_BEARER.to_owned()));
                form.push((
                    "client_assertion",
                    assertion(client_id, key, audience, now)?,
                ));
            }
        }
        Ok(())
    }
}

/// A `private_key_jwt` client assertion (RFC 7523 §3): `iss` = `sub` =
/// client id, `aud` the endpoint, 60 s `exp`, a random `jti`.
fn assertion(
    client_id: &str,
    key: &SigningKey,
    audience: &str,
    now: i64,
) -> Result<String, IntrospectionError> {
    let mut jti = [0u8; 16];
    aws_lc_rs::rand::fill(&mut jti).map_err(|_| IntrospectionError::ClientAuthentication)?;
    key.sign_jwt(
        None,
        &json!({
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "iat": now,
            "exp": now.saturating_add(60),
            "jti": URL_SAFE_NO_PAD.encode(jti),
        }),
    )
    .ok_or(IntrospectionError::ClientAuthentication)
}

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749
/// §2.3.1 applies it to the client id and secret before Base64).
fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(form_encode("client:1 é"), "client%3A1+%C3%A9");
        assert_eq!(form_encode("p@ss/w+rd"), "p%40ss%2Fw%2Brd");
    }

    #[test]
    fn client_auth_debug_hides_secrets() {
        let shown = format!("{:?}", ClientAuth::basic("rs", "hunter2"));
        assert!(
            shown.contains("rs") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
