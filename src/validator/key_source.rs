//! Where an issuer's keys come from: configured keys, or a remote JWKS kept
//! fresh in the background (with the configured keys merged in), started on
//! first use.

use std::sync::Arc;
#[cfg(feature = "remote")]
use std::sync::OnceLock;

#[cfg(feature = "remote")]
use crate::clock::Clock;
#[cfg(feature = "remote")]
use crate::remote::fetch::Fetcher;
#[cfg(feature = "remote")]
use crate::remote::jwks::Source;
#[cfg(feature = "remote")]
use crate::remote::{FetchError, JwksOptions};

use super::error::ValidationError;
use crate::jwt::{Jws, JwsError};
use crate::keys::{Algorithm, KeyBinding, KeyIdentity, KeySet, SignatureError};
#[cfg(feature = "remote")]
use crate::remote::jwks::JwksCache;

/// The keys of one issuer. Cloning shares a remote source.
#[derive(Clone)]
pub(crate) enum KeySource {
    /// Configured keys only.
    Static(KeySet),
    /// A remote JWKS (the configured keys are part of each of its sets).
    #[cfg(feature = "remote")]
    Remote(Arc<RemoteSource>),
}

/// A remote key cache and its background task, started on first use.
#[cfg(feature = "remote")]
pub(crate) struct RemoteSource {
    pub(crate) cache: Arc<JwksCache>,
    task: OnceLock<AbortOnDrop>,
    runtime: tokio::runtime::Handle,
}

#[cfg(feature = "remote")]
impl RemoteSource {
    pub(crate) fn new(cache: Arc<JwksCache>, runtime: tokio::runtime::Handle) -> Self {
        RemoteSource {
            cache,
            task: OnceLock::new(),
            runtime,
        }
    }

    /// Starts the refresh task, once, and shares the cache.
    pub(crate) fn start_shared(&self) -> Arc<JwksCache> {
        self.start();
        self.cache.clone()
    }

    /// Starts the refresh task, once.
    pub(crate) fn start(&self) -> &JwksCache {
        self.task
            .get_or_init(|| AbortOnDrop(self.runtime.spawn(self.cache.clone().run())));
        &self.cache
    }
}

/// The validator's last clone dropped: whoever still holds the cache (a
/// `RemoteKeys` handle) learns that no attempt will come.
#[cfg(feature = "remote")]
impl Drop for RemoteSource {
    fn drop(&mut self) {
        self.cache.stop();
    }
}

/// Stops the refresh task when the last clone of the validator drops.
#[cfg(feature = "remote")]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

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
    /// Calls `f` with the key set to verify with now: the fetched set (with
    /// the configured keys), or, while none is usable (not fetched yet, or
    /// stale beyond `max_stale`), the configured keys alone; `None` without
    /// any.
    fn with_current<R>(&self, f: impl FnOnce(Option<&KeySet>) -> R) -> R {
        match self {
            KeySource::Static(keys) => f(Some(keys)),
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => {
                let snapshot = remote.cache.current();
                f(snapshot.as_ref().map(|s| &s.keys))
            }
        }
    }

    /// The number of usable keys now.
    pub(crate) fn local_len(&self) -> usize {
        self.with_current(|keys| keys.map_or(0, KeySet::len))
    }

    /// Whether the current key set still holds `key`, for `alg`.
    pub(crate) fn still_trusts(&self, key: &Arc<KeyIdentity>, alg: Algorithm) -> bool {
        self.with_current(|keys| keys.is_some_and(|keys| keys.still_trusts(key, alg)))
    }

    /// Whether a key this source's [`verify`](Self::verify) returned with
    /// `seen` is certainly still in its current set, without looking: a
    /// remote source answers from two atomics and the clock while no set
    /// stored since has withdrawn a key (`JwksCache::unchanged_since`).
    /// `false` says "look" ([`still_trusts`](Self::still_trusts)); always
    /// for configured keys, whose look is as cheap.
    #[inline]
    pub(crate) fn trusts_at_once(&self, seen: u64) -> bool {
        match self {
            KeySource::Static(_) => {
                let _ = seen;
                false
            }
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => remote.cache.unchanged_since(seen),
        }
    }

    /// Whether `other` is this very source (a clone of it), not another
    /// with the same keys.
    pub(crate) fn is_same(&self, other: &KeySource) -> bool {
        match (self, other) {
            // Configured keys never change: `seen` plays no part.
            (KeySource::Static(_), KeySource::Static(_)) => true,
            #[cfg(feature = "remote")]
            (KeySource::Remote(a), KeySource::Remote(b)) => Arc::ptr_eq(a, b),
            #[cfg(feature = "remote")]
            _ => false,
        }
    }

    /// The source's withdrawals so far (0 for configured keys, which never
    /// change): read before the keys that verify a token are.
    fn withdrawals(&self) -> u64 {
        match self {
            KeySource::Static(_) => 0,
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => remote.cache.withdrawals(),
        }
    }

    /// Verifies the signature of `token` (parsed as `jws`, its header
    /// checked for `alg`) with the current keys, starting a remote source
    /// on first use. With `may_wait`, answers [`Step::Wait`] where a fetch
    /// that the cool-down allows could bring the key. With the key, the
    /// source's withdrawals read before the keys were (for
    /// [`trusts_at_once`](Self::trusts_at_once)).
    pub(crate) fn verify(
        &self,
        jws: &Jws,
        alg: Algorithm,
        token: &str,
        may_wait: bool,
    ) -> Result<(KeyBinding, u64), Step> {
        #[cfg(feature = "remote")]
        if let KeySource::Remote(remote) = self {
            remote.start();
        }
        let seen = self.withdrawals();
        let outcome = self.with_current(|keys| keys.map(|keys| jws.verify(alg, token, keys)));
        match outcome {
            Some(Ok(binding)) => Ok((binding, seen)),
            // Only the configured keys stand in (no fetched set is usable):
            // a token they do not verify is treated as when there are no
            // keys at all, so an outage answers 503, not 401.
            Some(Err(_)) if self.configured_only() => {
                if may_wait && self.may_fetch() {
                    Err(Step::Wait)
                } else {
                    Err(Step::Fail(ValidationError::KeysUnavailable))
                }
            }
            Some(Err(JwsError::Signature(SignatureError::UnknownKeyId)))
                if may_wait && self.may_fetch() =>
            {
                Err(Step::Wait)
            }
            // A `kid` no key has, which a key without `kid` failed to
            // verify: still a `kid` the cache may not have seen yet (a
            // rotation), fetched once per cool-down like an unknown one.
            Some(Err(JwsError::Signature(SignatureError::InvalidSignature)))
                if may_wait && self.may_fetch() && self.names_unknown_kid(jws) =>
            {
                Err(Step::Wait)
            }
            Some(Err(e)) => Err(e.into()),
            None if may_wait && self.may_fetch() => Err(Step::Wait),
            None => Err(Step::Fail(ValidationError::KeysUnavailable)),
        }
    }

    /// Whether the keys in use are the configured ones standing in for a
    /// remote set that is not usable.
    fn configured_only(&self) -> bool {
        match self {
            KeySource::Static(_) => false,
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => remote
                .cache
                .current()
                .as_ref()
                .is_some_and(|s| s.configured_only),
        }
    }

    /// Whether `jws` names a `kid` no current key has.
    fn names_unknown_kid(&self, jws: &Jws) -> bool {
        jws.kid()
            .is_some_and(|kid| self.with_current(|keys| keys.is_none_or(|k| !k.has_kid(kid))))
    }

    /// Whether a fetch is running or allowed now.
    fn may_fetch(&self) -> bool {
        match self {
            KeySource::Static(_) => false,
            #[cfg(feature = "remote")]
            KeySource::Remote(remote) => remote.cache.may_fetch(),
        }
    }

    /// Starts (or joins) a fetch and waits for it, within a bound.
    #[cfg(feature = "remote")]
    pub(crate) async fn refresh_and_wait(&self) {
        if let KeySource::Remote(remote) = self {
            remote.start().refresh_and_wait().await;
        }
    }

    /// The keys in use now (an empty set when none is usable).
    pub(crate) fn current(&self) -> KeySet {
        self.with_current(|keys| keys.cloned().unwrap_or_default())
    }

    /// The remote source, if any (not started by this call).
    #[cfg(feature = "remote")]
    pub(crate) fn remote(&self) -> Option<&RemoteSource> {
        match self {
            KeySource::Remote(remote) => Some(remote),
            KeySource::Static(_) => None,
        }
    }
}

#[cfg(feature = "remote")]
/// What a remote key source of one issuer is made of; templated issuers
/// that discover each tenant keep it to start one source per tenant.
#[cfg(feature = "remote")]
pub(crate) struct RemoteSpec {
    fetcher: Fetcher,
    options: JwksOptions,
    /// Configured keys, part of every fetched set.
    base: KeySet,
    clock: Clock,
    runtime: tokio::runtime::Handle,
}

#[cfg(feature = "remote")]
impl RemoteSpec {
    pub(crate) fn new(
        fetcher: Fetcher,
        options: JwksOptions,
        base: KeySet,
        clock: Clock,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        RemoteSpec {
            fetcher,
            options,
            base,
            clock,
            runtime,
        }
    }

    /// Checks that `url` may be fetched (`https`, unless plain HTTP is
    /// allowed).
    pub(crate) fn check_url(&self, url: &str) -> Result<(), FetchError> {
        self.fetcher.url(url).map(drop)
    }

    /// A key source for `source`, started on first use.
    pub(crate) fn start(&self, source: Source) -> Result<KeySource, FetchError> {
        let url = match &source {
            Source::Url(url) | Source::Discover(url) => url,
        };
        self.check_url(url)?;
        Ok(self.source(source))
    }

    fn source(&self, source: Source) -> KeySource {
        self.wrap(self.cache(source))
    }

    fn cache(&self, source: Source) -> JwksCache {
        JwksCache::new(
            source,
            self.fetcher.clone(),
            self.options.clone(),
            self.base.clone(),
            self.clock.clone(),
        )
    }

    fn wrap(&self, cache: JwksCache) -> KeySource {
        KeySource::Remote(Arc::new(RemoteSource::new(
            Arc::new(cache),
            self.runtime.clone(),
        )))
    }

    /// The key source of one tenant of `template`, by discovery of its
    /// issuer URL (whose tenant part was checked to be plain), attributed
    /// to the template until one of its tokens verifies.
    pub(crate) fn discover_tenant(&self, iss: &str, template: String) -> KeySource {
        self.wrap(
            self.cache(Source::Discover(iss.to_owned()))
                .for_unverified_tenant(template),
        )
    }
}
