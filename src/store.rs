//! State shared by a fleet of replicas on Redis (feature `redis`): the DPoP
//! replay cache and the introspection cache, each with the in-process
//! cache in front.
//!
//! Keys are `NAMESPACE:KIND:HEX`, where `HEX` is a digest (never a token or
//! a proof); every key has a TTL set by the same rules as the in-process
//! entry it mirrors. When Redis cannot be reached (within the command
//! timeout), the replay check fails closed (the proof is refused with a
//! 503: accepting it could accept a replay) and the introspection cache
//! falls back to the in-process one (the endpoint is asked, as without
//! Redis). After a failed connection or command, the store answers
//! "unavailable" at once for [`REDIS_RECONNECT_DELAY`], so a dead Redis
//! costs one timeout per second, not one per request.
//!
//! Redis is trusted as the caches in the process are: whoever can write to
//! it can mark proofs as seen or plant introspection answers. With
//! [`RedisStore::integrity_key`], every value is authenticated (HMAC-SHA256
//! over its key and content) and a value without a valid tag is ignored.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) use crate::limits::{
    DEFAULT_REDIS_NAMESPACE, DEFAULT_REDIS_TIMEOUT, REDIS_RECONNECT_DELAY,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Why the shared store could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The Redis URL was refused.
    #[error("invalid Redis URL: {0}")]
    InvalidUrl(String),
    /// Redis could not be reached, or did not answer in time.
    #[error("Redis unavailable: {0}")]
    Unavailable(String),
}

/// A Redis server shared by the replicas of a service (feature `redis`),
/// given to [`ValidatorBuilder::shared_store`](crate::ValidatorBuilder::shared_store).
///
/// Connects on first use and reconnects by itself.
///
/// ```
/// use bearer_guard::redis::RedisStore;
/// let store = RedisStore::new("redis://127.0.0.1:6379/")?.namespace("payments");
/// # let _ = store;
/// # Ok::<(), bearer_guard::redis::StoreError>(())
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    namespace: String,
    timeout: Duration,
    integrity: Option<Arc<aws_lc_rs::hmac::Key>>,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    /// Milliseconds since `epoch` before which no connection is tried.
    retry_after: AtomicU64,
    epoch: Instant,
    /// Values failing their integrity check are said at `warn` once a
    /// minute (after a key change, every uncached read finds one).
    tampered: crate::telemetry::WarnThrottle,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: only where it points.
        let info = self.inner.client.get_connection_info();
        f.debug_struct("RedisStore")
            .field("addr", &info.addr().to_string())
            .field("namespace", &self.inner.namespace)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store at `url` (`redis://[user:password@]host[:port][/db]`), with
    /// the [`DEFAULT_REDIS_NAMESPACE`] and [`DEFAULT_REDIS_TIMEOUT`]. Does
    /// not connect yet.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidUrl`] when `url` is not a Redis URL.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                client,
                namespace: DEFAULT_REDIS_NAMESPACE.to_owned(),
                timeout: DEFAULT_REDIS_TIMEOUT,
                integrity: None,
                connection: tokio::sync::OnceCell::new(),
                retry_after: AtomicU64::new(0),
                epoch: Instant::now(),
                tampered: crate::telemetry::WarnThrottle::default(),
            }),
        })
    }

    /// A store with the same server and settings, changed by `change`, and
    /// a connection of its own (clones made before keep theirs).
    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let old = &self.inner;
        let mut inner = Inner {
            client: old.client.clone(),
            namespace: old.namespace.clone(),
            timeout: old.timeout,
            integrity: old.integrity.clone(),
            connection: tokio::sync::OnceCell::new(),
            retry_after: AtomicU64::new(0),
            epoch: Instant::now(),
            tampered: crate::telemetry::WarnThrottle::default(),
        };
        change(&mut inner);
        RedisStore {
            inner: Arc::new(inner),
        }
    }

    /// The key prefix, so that several services (or validators) can share
    /// one Redis without sharing state.
    pub fn namespace(self, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        self.with(|inner| inner.namespace = namespace)
    }

    /// The bound on each command and on connecting
    /// ([`DEFAULT_REDIS_TIMEOUT`]).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|inner| inner.timeout = timeout)
    }

    /// Authenticates every value with HMAC-SHA256 under `key` (the same
    /// on every replica; at least 32 random bytes): a value someone else
    /// wrote to Redis is ignored: a planted introspection answer is not
    /// read. (Marking a proof as seen needs no value, so a writer without
    /// the key can still make proofs count as replays: a denial of
    /// service, never an acceptance.) Without it, Redis is trusted.
    pub fn integrity_key(self, key: &[u8]) -> Self {
        let key = Arc::new(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key));
        self.with(|inner| inner.integrity = Some(key))
    }

    /// The tag of `value` under `key`, when values are authenticated.
    fn tag(&self, key: &str, value: &[u8]) -> Option<aws_lc_rs::hmac::Tag> {
        let k = self.inner.integrity.as_ref()?;
        let mut ctx = aws_lc_rs::hmac::Context::with_key(k);
        ctx.update(key.as_bytes());
        ctx.update(&[0]);
        ctx.update(value);
        Some(ctx.sign())
    }

    /// `value`, with its tag in front when values are authenticated.
    fn seal(&self, key: &str, value: &[u8]) -> Vec<u8> {
        match self.tag(key, value) {
            Some(tag) => {
                let mut out = tag.as_ref().to_vec();
                out.extend_from_slice(value);
                out
            }
            None => value.to_vec(),
        }
    }

    /// The content of a stored value whose tag holds (or any value, when
    /// values are not authenticated).
    fn open(&self, key: &str, stored: Vec<u8>) -> Option<Vec<u8>> {
        let Some(k) = &self.inner.integrity else {
            return Some(stored);
        };
        let (tag, value) = stored.split_at_checked(32)?;
        let mut ctx = aws_lc_rs::hmac::Context::with_key(k);
        ctx.update(key.as_bytes());
        ctx.update(&[0]);
        ctx.update(value);
        let expected = ctx.sign();
        aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), tag)
            .ok()
            .map(|()| value.to_vec())
    }

    fn key(&self, kind: &str, id: &[u8]) -> String {
        let mut key = String::with_capacity(
            self.inner
                .namespace
                .len()
                .saturating_add(kind.len())
                .saturating_add(id.len().saturating_mul(2))
                .saturating_add(2),
        );
        key.push_str(&self.inner.namespace);
        key.push(':');
        key.push_str(kind);
        key.push(':');
        for b in id {
            key.push_str(&format!("{b:02x}"));
        }
        key
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Answers "unavailable" at once for [`REDIS_RECONNECT_DELAY`].
    fn back_off(&self) {
        let delay = u64::try_from(REDIS_RECONNECT_DELAY.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .retry_after
            .store(self.elapsed_ms().saturating_add(delay), Ordering::Relaxed);
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if self.elapsed_ms() < self.inner.retry_after.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "Redis failed within the last second; waiting before the next attempt".into(),
            ));
        }
        if let Some(c) = self.inner.connection.get() {
            return Ok(c.clone());
        }
        let timeout = self.inner.timeout;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let client = self.inner.client.clone();
        let connect = self.inner.connection.get_or_try_init(|| async move {
            tokio::time::timeout(
                timeout.saturating_mul(2),
                ConnectionManager::new_with_config(client, config),
            )
            .await
            .map_err(|_| StoreError::Unavailable("connection timed out".into()))?
            .map_err(|e| StoreError::Unavailable(e.to_string()))
        });
        match connect.await {
            Ok(c) => Ok(c.clone()),
            Err(e) => {
                self.back_off();
                Err(e)
            }
        }
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection().await?;
        let result =
            tokio::time::timeout(self.inner.timeout, cmd.query_async::<T>(&mut connection))
                .await
                .map_err(|_| StoreError::Unavailable("command timed out".into()))
                .and_then(|r| r.map_err(|e| StoreError::Unavailable(e.to_string())));
        if result.is_err() {
            self.back_off();
        }
        result
    }

    /// Sets `kind:id` for `ttl` seconds unless it exists: `true` when it
    /// was set now (first sight), `false` when it was there.
    pub(crate) async fn set_once(
        &self,
        kind: &str,
        id: &[u8],
        ttl: u64,
    ) -> Result<bool, StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(kind, id))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(ttl.max(1));
        let set: Option<String> = self.run(cmd).await?;
        Ok(set.is_some())
    }

    /// The value of `kind:id`, if any.
    pub(crate) async fn get(&self, kind: &str, id: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.key(kind, id);
        let mut cmd = redis::cmd("GET");
        cmd.arg(&key);
        let stored: Option<Vec<u8>> = self.run(cmd).await?;
        Ok(stored.and_then(|v| {
            let opened = self.open(&key, v);
            if opened.is_none() {
                let now_ms = u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                if self.inner.tampered.due(now_ms) {
                    tracing::warn!(%key, "a value in Redis without a valid integrity tag was ignored (said at most once a minute)");
                } else {
                    tracing::debug!(%key, "a value in Redis without a valid integrity tag was ignored");
                }
            }
            opened
        }))
    }

    /// Sets `kind:id` to `value` for `ttl` seconds.
    pub(crate) async fn put(
        &self,
        kind: &str,
        id: &[u8],
        value: &[u8],
        ttl: u64,
    ) -> Result<(), StoreError> {
        let key = self.key(kind, id);
        let sealed = self.seal(&key, value);
        let mut cmd = redis::cmd("SET");
        cmd.arg(&key).arg(sealed).arg("EX").arg(ttl.max(1));
        let _: Option<String> = self.run(cmd).await?;
        Ok(())
    }
}
