//! Fetching small JSON documents from the authorization server (discovery
//! metadata, JWKS) with a timeout, a size cap enforced while reading, HTTPS
//! required by default, and redirects only within the same origin.

use std::time::Duration;

use http::{HeaderMap, StatusCode};
use reqwest::Url;

use super::error::{FetchError, RedirectError, TransportError};

/// Most redirects followed, all within the same origin.
const MAX_REDIRECTS: usize = 3;

/// An HTTP client for the authorization server's documents.
#[derive(Clone, Debug)]
pub(crate) struct Fetcher {
    client: reqwest::Client,
    timeout: Duration,
    allow_http: bool,
}

/// A response whose body was read within the size limit.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Vec<u8>,
}

/// Sets what bearer-guard requires of any client it sends with, whoever
/// configured the rest: redirects followed only within the same origin (at
/// most 3; a form posted to the token or introspection endpoint is never
/// re-sent elsewhere, and `https` never downgrades to `http`), and a
/// `bearer-guard/VERSION` user agent.
pub(crate) fn secure(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt.previous().first().is_some_and(|first| {
            first.host_str() == attempt.url().host_str()
                && first.port_or_known_default() == attempt.url().port_or_known_default()
                && (first.scheme() == attempt.url().scheme() || attempt.url().scheme() == "https")
        });
        if !same_origin {
            let to = attempt.url().to_string();
            attempt.error(RedirectError::OtherOrigin { to: to.into() })
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(RedirectError::TooMany {
                limit: MAX_REDIRECTS,
            })
        } else {
            attempt.follow()
        }
    });
    builder
        .redirect(policy)
        .user_agent(concat!("bearer-guard/", env!("CARGO_PKG_VERSION")))
}

/// Builds the client for `builder` (the user's, or a default one) with
/// [`secure`]'s settings.
pub(crate) fn build_client(
    builder: Option<reqwest::ClientBuilder>,
    connect_timeout: Duration,
) -> Result<reqwest::Client, FetchError> {
    let builder =
        builder.unwrap_or_else(|| reqwest::Client::builder().connect_timeout(connect_timeout));
    secure(builder)
        .build()
        .map_err(|e| FetchError::Client(TransportError::new(e)))
}

impl Fetcher {
    /// A fetcher on `client` (built by [`build_client`]), or on a default
    /// client of its own.
    pub(crate) fn new(
        timeout: Duration,
        allow_http: bool,
        client: Option<&reqwest::Client>,
    ) -> Result<Self, FetchError> {
        let client = match client {
            Some(client) => client.clone(),
            None => build_client(None, timeout)?,
        };
        Ok(Fetcher {
            client,
            timeout,
            allow_http,
        })
    }

    /// Parses `url` and checks its scheme: `https`, or `http` when allowed.
    pub(crate) fn url(&self, url: &str) -> Result<Url, FetchError> {
        let parsed = Url::parse(url).map_err(|_| FetchError::InsecureUrl(url.into()))?;
        match parsed.scheme() {
            "https" => Ok(parsed),
            "http" if self.allow_http => Ok(parsed),
            _ => Err(FetchError::InsecureUrl(url.into())),
        }
    }

    /// GETs `url`. A 200 answer's body is read up to `max_size` bytes; a 304
    /// comes back with an empty body; any other status is an error.
    pub(crate) async fn get(
        &self,
        url: &Url,
        headers: HeaderMap,
        max_size: usize,
    ) -> Result<Fetched, FetchError> {
        let response = self
            .client
            .get(url.clone())
            .timeout(self.timeout)
            .headers(headers)
            .header(http::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| classify(e, self.timeout))?;
        let status = response.status();
        if status != StatusCode::OK && status != StatusCode::NOT_MODIFIED {
            return Err(FetchError::Status(status.as_u16()));
        }
        let headers = response.headers().clone();
        let body = if status == StatusCode::OK {
            read_limited(response, max_size, self.timeout).await?
        } else {
            Vec::new()
        };
        Ok(Fetched {
            status,
            headers,
            body,
        })
    }

    /// POSTs an `application/x-www-form-urlencoded` body; only a 200 answer
    /// is a success, its body read up to `max_size` bytes.
    pub(crate) async fn post_form(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        headers: HeaderMap,
        max_size: usize,
        timeout: Duration,
    ) -> Result<Vec<u8>, FetchError> {
        let (status, body) = self
            .post_form_any(url, form, headers, max_size, timeout, false)
            .await?;
        if status != StatusCode::OK {
            return Err(FetchError::Status(status.as_u16()));
        }
        Ok(body)
    }

    /// As [`post_form`](Self::post_form), with the status and the body of
    /// any answer (a token endpoint explains a refusal in a 400's body,
    /// RFC 6749 §5.2). With `error_bodies` false, only a 200's body is read.
    pub(crate) async fn post_form_any(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        headers: HeaderMap,
        max_size: usize,
        timeout: Duration,
        error_bodies: bool,
    ) -> Result<(StatusCode, Vec<u8>), FetchError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let response = self
            .client
            .post(url.clone())
            .timeout(timeout)
            .headers(headers)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| classify(e, timeout))?;
        let status = response.status();
        if status != StatusCode::OK && !error_bodies {
            return Ok((status, Vec::new()));
        }
        Ok((status, read_limited(response, max_size, timeout).await?))
    }
}

async fn read_limited(
    mut response: reqwest::Response,
    max_size: usize,
    timeout: Duration,
) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|len| len > max_size as u64)
    {
        return Err(FetchError::TooLarge(max_size));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(e, timeout))? {
        if body.len().saturating_add(chunk.len()) > max_size {
            return Err(FetchError::TooLarge(max_size));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn classify(e: reqwest::Error, timeout: Duration) -> FetchError {
    if e.is_timeout() {
        return FetchError::Timeout(timeout);
    }
    if e.is_redirect() {
        // The policy above refused it with a `RedirectError`.
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            if let Some(refused) = s.downcast_ref::<RedirectError>() {
                return FetchError::Redirect(refused.clone());
            }
            source = s.source();
        }
    }
    if e.is_connect() {
        FetchError::Connect(TransportError::new(e))
    } else {
        FetchError::Transport(TransportError::new(e))
    }
}
