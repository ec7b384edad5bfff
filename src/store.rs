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
//! Redis). After a failed connection, the next attempt waits
//! [`REDIS_RECONNECT_DELAY`], so a dead Redis costs no time per request.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

/// Default bound on each Redis command (and on connecting): 250 ms.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Default key prefix: `bearer-guard`.
pub const DEFAULT_REDIS_NAMESPACE: &str = "bearer-guard";

/// After a failed connection, how long the store answers "unavailable"
/// without trying again: 1 second.
pub const REDIS_RECONNECT_DELAY: Duration = Duration::from_secs(1);

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
/// use bearer_guard::RedisStore;
/// let store = RedisStore::new("redis://127.0.0.1:6379/")?.namespace("payments");
/// # let _ = store;
/// # Ok::<(), bearer_guard::StoreError>(())
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    namespace: String,
    timeout: Duration,
    connection: tokio::sync::OnceCell<ConnectionManager>,
    /// Milliseconds since `epoch` before which no connection is tried.
    retry_after: AtomicU64,
    epoch: Instant,
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
                connection: tokio::sync::OnceCell::new(),
                retry_after: AtomicU64::new(0),
                epoch: Instant::now(),
            }),
        })
    }

    fn inner_mut(&mut self) -> Option<&mut Inner> {
        Arc::get_mut(&mut self.inner)
    }

    /// The key prefix, so that several services (or validators) can share
    /// one Redis without sharing state.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        if let Some(inner) = self.inner_mut() {
            inner.namespace = namespace.into();
        }
        self
    }

    /// The bound on each command and on connecting
    /// ([`DEFAULT_REDIS_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        if let Some(inner) = self.inner_mut() {
            inner.timeout = timeout;
        }
        self
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

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(c) = self.inner.connection.get() {
            return Ok(c.clone());
        }
        if self.elapsed_ms() < self.inner.retry_after.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "not connected (waiting before the next attempt)".into(),
            ));
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
                let delay = u64::try_from(REDIS_RECONNECT_DELAY.as_millis()).unwrap_or(u64::MAX);
                self.inner
                    .retry_after
                    .store(self.elapsed_ms().saturating_add(delay), Ordering::Relaxed);
                Err(e)
            }
        }
    }

    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection().await?;
        tokio::time::timeout(self.inner.timeout, cmd.query_async::<T>(&mut connection))
            .await
            .map_err(|_| StoreError::Unavailable("command timed out".into()))?
            .map_err(|e| StoreError::Unavailable(e.to_string()))
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
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.key(kind, id));
        self.run(cmd).await
    }

    /// Sets `kind:id` to `value` for `ttl` seconds.
    pub(crate) async fn put(
        &self,
        kind: &str,
        id: &[u8],
        value: &[u8],
        ttl: u64,
    ) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(kind, id))
            .arg(value)
            .arg("EX")
            .arg(ttl.max(1));
        let _: Option<String> = self.run(cmd).await?;
        Ok(())
    }
}
