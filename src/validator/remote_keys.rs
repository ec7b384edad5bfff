//! [`RemoteKeys`]: one issuer's remote key set, named by the issuer it
//! belongs to, so that a validator trusting several issuers never answers
//! for "the first" one.

use std::fmt;
use std::sync::{Arc, Weak};

use super::key_source::RemoteSource;
use crate::remote::jwks::JwksCache;
use crate::remote::{IssuerMetadata, KeySourceStats, KeySourceUpdates, RemoteError};

/// One issuer's remote key set (a `jwks_url` or a discovered JWKS), from
/// [`Validator::remote_keys`](crate::Validator::remote_keys): its
/// statistics, its issuer's metadata, a subscription to its fetches, and a
/// refresh on demand.
///
/// A handle does not keep the key source running: once the last clone of
/// its validator drops, the background refresh stops, the statistics and
/// metadata keep their last values, and [`refresh`](Self::refresh)
/// answers an error that [`is_stopped`](RemoteError::is_stopped).
#[derive(Clone)]
pub struct RemoteKeys {
    issuer: String,
    cache: Arc<JwksCache>,
    source: Weak<RemoteSource>,
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("issuer", &self.issuer)
            .field("jwks_uri", &self.cache.stats().jwks_uri)
            .finish_non_exhaustive()
    }
}

impl RemoteKeys {
    pub(crate) fn new(issuer: String, source: &Arc<RemoteSource>) -> Self {
        RemoteKeys {
            issuer,
            cache: source.cache.clone(),
            source: Arc::downgrade(source),
        }
    }

    /// The issuer these keys belong to (a tenant's own issuer, or a
    /// template for a key set its tenants share).
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key set's state now, for health endpoints and tests.
    pub fn stats(&self) -> KeySourceStats {
        self.cache.stats()
    }

    /// The issuer's metadata, once discovered; `None` for a `jwks_url`.
    pub fn metadata(&self) -> Option<Arc<IssuerMetadata>> {
        self.cache.metadata()
    }

    /// A subscription that wakes after each fetch of this key set, with
    /// its statistics. Starts the key source if it had not started (a
    /// source starts on the first token naming its issuer, or on
    /// [`Validator::ready`](crate::Validator::ready)).
    pub fn updates(&self) -> KeySourceUpdates {
        if let Some(source) = self.source.upgrade() {
            source.start();
        }
        self.cache.updates()
    }

    /// Fetches this key set now, ignoring the cool-down (an operator's
    /// "keys rotated" signal, say).
    ///
    /// # Errors
    ///
    /// Why the fetch failed; once the validator is gone, an error that
    /// [`is_stopped`](RemoteError::is_stopped).
    pub async fn refresh(&self) -> Result<(), RemoteError> {
        match self.source.upgrade() {
            Some(source) => source.start().refresh_now().await,
            None => Err(RemoteError::stopped()),
        }
    }
}
