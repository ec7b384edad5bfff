//! Where a validator's keys come from: configured keys, or a remote JWKS
//! kept fresh in the background (with the configured keys merged in).

#[cfg(feature = "remote")]
use std::sync::Arc;

use super::error::ValidationError;
use crate::jwt::{Jws, JwsError};
use crate::keys::{KeyBinding, KeySet, SignatureError};
#[cfg(feature = "remote")]
use crate::remote::jwks::JwksCache;

/// The keys of one validator.
pub(crate) enum KeySource {
    /// Configured keys only.
    Static(KeySet),
    /// A remote JWKS (the configured keys are part of each of its sets).
    #[cfg(feature = "remote")]
    Remote {
        cache: Arc<JwksCache>,
        /// Stops the refresh task when the last clone of the validator drops.
        _task: AbortOnDrop,
    },
}

#[cfg(feature = "remote")]
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

#[cfg(feature = "remote")]
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Why a signature check did not finish.
pub(crate) enum Step {
    /// Refused, or no usable keys.
    Fail(ValidationError),
    /// A key fetch may change the outcome: wait for it, then try again.
    #[cfg_attr(not(feature = "remote"), allow(dead_code))]
    Wait,
}

impl From<JwsError> for Step {
    fn from(e: JwsError) -> Self {
        Step::Fail(e.into())
    }
}

impl KeySource {
    /// Calls `f` with the key set to verify with now; `None` when there is
    /// no usable set (not fetched yet, or stale beyond `max_stale`).
    fn with_current<R>(&self, f: impl FnOnce(Option<&KeySet>) -> R) -> R {
        match self {
            KeySource::Static(keys) => f(Some(keys)),
            #[cfg(feature = "remote")]
            KeySource::Remote { cache, .. } => {
                let snapshot = cache.current();
                f(snapshot.as_ref().map(|s| &s.keys))
            }
        }
    }

    /// Whether the current key set still holds the key of `binding`.
    pub(crate) fn still_trusts(&self, binding: &KeyBinding) -> bool {
        self.with_current(|keys| keys.is_some_and(|keys| keys.still_trusts(binding)))
    }

    /// Verifies the signature of `token` (parsed as `jws`) with the current
    /// keys. With `may_wait`, answers [`Step::Wait`] where a fetch that the
    /// cool-down allows could bring the key.
    pub(crate) fn verify(
        &self,
        jws: &Jws,
        token: &str,
        may_wait: bool,
    ) -> Result<KeyBinding, Step> {
        let outcome = self.with_current(|keys| keys.map(|keys| jws.verify(token, keys)));
        match outcome {
            Some(Ok(binding)) => Ok(binding),
            Some(Err(JwsError::Signature(SignatureError::UnknownKeyId)))
                if may_wait && self.may_fetch() =>
            {
                Err(Step::Wait)
            }
            Some(Err(e)) => Err(e.into()),
            None if may_wait && self.may_fetch() => Err(Step::Wait),
            None => Err(Step::Fail(ValidationError::KeysUnavailable)),
        }
    }

    /// Whether a fetch is running or allowed now.
    fn may_fetch(&self) -> bool {
        match self {
            KeySource::Static(_) => false,
            #[cfg(feature = "remote")]
            KeySource::Remote { cache, .. } => cache.may_fetch(),
        }
    }

    /// Starts (or joins) a fetch and waits for it, within a bound.
    #[cfg(feature = "remote")]
    pub(crate) async fn refresh_and_wait(&self) {
        if let KeySource::Remote { cache, .. } = self {
            cache.refresh_and_wait().await;
        }
    }

    /// The keys in use now (an empty set when none is usable).
    pub(crate) fn current(&self) -> KeySet {
        self.with_current(|keys| keys.cloned().unwrap_or_default())
    }

    /// The remote key cache, if any.
    #[cfg(feature = "remote")]
    pub(crate) fn remote(&self) -> Option<&Arc<JwksCache>> {
        match self {
            KeySource::Remote { cache, .. } => Some(cache),
            KeySource::Static(_) => None,
        }
    }
}
