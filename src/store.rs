//! State shared by a fleet of replicas on Redis (feature `redis`): the DPoP
//! replay cache and the introspection cache, each with the in-process
//! cache in front.
//!
//! Keys are `NAMESPACE:KIND:HEX`, where `HEX` is a digest (never a token or
//! a proof); every key has a TTL set by the same rules as the in-process
//! entry it mirrors, but one: on one node, `NAMESPACE:promotion:` notes when
//! the fleet first saw a node promoted by a failover as its primary (a few
//! dozen bytes: a replica promoted by a failover may lack the replay
//! entries written last, and vouches only for proofs made since; not
//! detected in a cluster). When Redis cannot be reached (within the command
//! timeout), the replay check fails closed (the proof is refused with a
//! 503: accepting it could accept a replay) and the introspection cache
//! falls back to the in-process one (the endpoint is asked, as without
//! Redis). After a failed connection or command, the store answers
//! "unavailable" at once for [`REDIS_RECONNECT_DELAY`], so a dead Redis
//! costs one timeout per second, not one per request.
//!
//! Redis is one node ([`RedisStore::new`]) or a Redis Cluster
//! ([`RedisStore::cluster`], through the `redis` crate's own cluster
//! client: hash slots, `MOVED`/`ASK` redirections, a node lost and found
//! again), in either case over TLS with a `rediss://` URL (rustls; the
//! server's certificate checked against the system's roots or those given
//! to [`RedisStore::tls_root_certificates`]; a client certificate with
//! [`RedisStore::tls_client_certificate`]). Every operation reads or
//! writes one key (a proof's replay entry, an introspection answer; on one
//! node, the replay check also the promotion note), so in a cluster each
//! stays within one hash slot: no cross-slot command, no
//! hash tag that would pile a fleet's keys onto one node.
//!
//! Redis is trusted as the caches in the process are: whoever can write to
//! it can mark proofs as seen or plant introspection answers. With
//! [`RedisStore::try_integrity_key`], every value is authenticated (HMAC-SHA256
//! over its key and content) and a value without a valid tag is ignored.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub(crate) use crate::limits::{
    DEFAULT_REDIS_NAMESPACE, DEFAULT_REDIS_TIMEOUT, REDIS_RECONNECT_DELAY,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, TlsCertificates};

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
    /// The TLS settings were refused: a certificate or key that does not
    /// parse, or TLS settings for a `redis://` (plain) URL.
    #[error("Redis TLS settings refused: {0}")]
    InvalidTls(String),
    /// The integrity key is shorter than
    /// [`MIN_REDIS_INTEGRITY_KEY`](crate::limits::MIN_REDIS_INTEGRITY_KEY).
    #[error("Redis integrity key of {len} bytes refused: at least {min} random bytes")]
    ShortIntegrityKey {
        /// The key's length.
        len: usize,
        /// The shortest key taken.
        min: usize,
    },
}

/// A Redis server shared by the replicas of a service (feature `redis`),
/// given to [`ValidatorBuilder::shared_store`](crate::ValidatorBuilder::shared_store).
///
/// Connects on first use and reconnects by itself. One node or a
/// cluster, plain or over TLS:
///
/// ```
/// use bearer_guard::redis::RedisStore;
/// let store = RedisStore::new("redis://127.0.0.1:6379/")?.namespace("payments");
/// // A managed Redis over TLS, its certificate checked against the system's roots.
/// let managed = RedisStore::new("rediss://:secret@cache.internal.example:6380/")?;
/// // A Redis Cluster: any of its nodes (the others are found from them).
/// let cluster = RedisStore::cluster(["rediss://10.0.0.1:6379", "rediss://10.0.0.2:6379"])?;
/// # let _ = (store, managed, cluster);
/// # Ok::<(), bearer_guard::redis::StoreError>(())
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

/// The nodes named by the user, and how to reach them.
#[derive(Clone)]
struct Target {
    /// One node, or a cluster's initial nodes.
    nodes: Vec<ConnectionInfo>,
    cluster: bool,
    /// Roots and client certificate for `rediss://` (`None`: the system's
    /// roots, no client certificate).
    tls: Option<TlsCertificates>,
}

/// A client for the target, built (and so checked) when it is set.
#[derive(Clone)]
enum Backend {
    One(Box<redis::Client>),
    Cluster(Box<ClusterClient>),
}

/// A live connection: a connection manager to one node, or the cluster
/// client's connection (which routes each key to its slot's node).
#[derive(Clone)]
enum Connection {
    One(ConnectionManager),
    Cluster(ClusterConnection),
}

impl Target {
    fn uses_tls(&self) -> bool {
        self.nodes
            .iter()
            .any(|n| matches!(n.addr(), ConnectionAddr::TcpTls { .. }))
    }

    /// A client for the target (with `timeout` on connecting and on each
    /// answer, for a cluster; a single node's manager takes it when it
    /// connects).
    fn backend(&self, timeout: Duration) -> Result<Backend, StoreError> {
        let invalid = |e: redis::RedisError| StoreError::InvalidUrl(e.to_string());
        let tls_refused = |e: redis::RedisError| StoreError::InvalidTls(e.to_string());
        if self.cluster {
            let mut b = ClusterClientBuilder::new(self.nodes.clone())
                .connection_timeout(timeout)
                .response_timeout(timeout)
                .retries(crate::limits::REDIS_CLUSTER_RETRIES);
            if let Some(tls) = &self.tls {
                b = b.certs(tls.clone());
            }
            let client = b.build().map_err(|e| match self.tls {
                Some(_) => tls_refused(e),
                None => invalid(e),
            })?;
            return Ok(Backend::Cluster(Box::new(client)));
        }
        let node = self
            .nodes
            .first()
            .cloned()
            .ok_or_else(|| StoreError::InvalidUrl("no Redis node".into()))?;
        match &self.tls {
            Some(tls) => redis::Client::build_with_tls(node, tls.clone())
                .map(|c| Backend::One(Box::new(c)))
                .map_err(tls_refused),
            None => redis::Client::open(node)
                .map(|c| Backend::One(Box::new(c)))
                .map_err(invalid),
        }
    }
}

struct Inner {
    target: Target,
    backend: Backend,
    namespace: String,
    timeout: Duration,
    integrity: Option<Arc<aws_lc_rs::hmac::Key>>,
    connection: tokio::sync::OnceCell<Connection>,
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
        let t = &self.inner.target;
        let addrs: Vec<String> = t.nodes.iter().map(|n| n.addr().to_string()).collect();
        f.debug_struct("RedisStore")
            .field("nodes", &addrs)
            .field("cluster", &t.cluster)
            .field("tls", &t.uses_tls())
            .field("namespace", &self.inner.namespace)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store at `url`: `redis://[user:password@]host[:port][/db]`, or
    /// `rediss://…` for TLS (the server's certificate checked against the
    /// system's roots, or those of [`tls_root_certificates`](Self::tls_root_certificates)),
    /// with the [`DEFAULT_REDIS_NAMESPACE`] and [`DEFAULT_REDIS_TIMEOUT`].
    /// Does not connect yet.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidUrl`] when `url` is not a Redis URL, or asks
    /// for TLS without its checks (`rediss://…/#insecure`).
    pub fn new(url: &str) -> Result<Self, StoreError> {
        Self::at(Target {
            nodes: vec![node(url)?],
            cluster: false,
            tls: None,
        })
    }

    /// A store on a Redis Cluster, found from `nodes` (URLs as for
    /// [`new`](Self::new), all `redis://` or all `rediss://`, with the
    /// same credentials; one reachable node is enough, the others are
    /// learned from it). Keys are routed to their hash slot's master;
    /// `MOVED` and `ASK` redirections and a lost node are handled by the
    /// `redis` crate's cluster client.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidUrl`] when a node is not a Redis URL, the list
    /// is empty or longer than [`MAX_REDIS_CLUSTER_NODES`](crate::limits::MAX_REDIS_CLUSTER_NODES),
    /// or the nodes mix TLS and plain connections, credentials or databases.
    pub fn cluster<I>(nodes: I) -> Result<Self, StoreError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut list = Vec::new();
        for n in nodes {
            if list.len() >= crate::limits::MAX_REDIS_CLUSTER_NODES {
                return Err(StoreError::InvalidUrl(format!(
                    "more than {} cluster nodes",
                    crate::limits::MAX_REDIS_CLUSTER_NODES
                )));
            }
            list.push(node(n.as_ref())?);
        }
        if list.is_empty() {
            return Err(StoreError::InvalidUrl(
                "a cluster needs at least one node".into(),
            ));
        }
        Self::at(Target {
            nodes: list,
            cluster: true,
            tls: None,
        })
    }

    fn at(target: Target) -> Result<Self, StoreError> {
        let backend = target.backend(DEFAULT_REDIS_TIMEOUT)?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                target,
                backend,
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

    /// Trusts only the certificates in `pem` (one or more PEM
    /// `CERTIFICATE` blocks: a private CA, a managed service's CA bundle)
    /// for the server's certificate, instead of the system's roots.
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidTls`] when `pem` holds no certificate, or the
    /// store's URLs are `redis://` (plain: no certificate to check).
    pub fn tls_root_certificates(self, pem: impl Into<Vec<u8>>) -> Result<Self, StoreError> {
        let pem = pem.into();
        let count = certificates_in(&pem)?;
        if count == 0 {
            return Err(StoreError::InvalidTls(
                "no PEM CERTIFICATE block in the root certificates".into(),
            ));
        }
        self.with_tls(|tls| tls.root_cert = Some(pem))
    }

    /// Presents a client certificate (`cert_pem`: the certificate and its
    /// chain, PEM) with its private key (`key_pem`: PKCS#8, PKCS#1 or SEC1
    /// PEM), for a Redis that asks for one (`tls-auth-clients yes`).
    ///
    /// # Errors
    ///
    /// [`StoreError::InvalidTls`] when the certificate or the key does not
    /// parse, or the store's URLs are `redis://`.
    pub fn tls_client_certificate(
        self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Result<Self, StoreError> {
        let client_cert = cert_pem.into();
        if certificates_in(&client_cert)? == 0 {
            return Err(StoreError::InvalidTls(
                "no PEM CERTIFICATE block in the client certificate".into(),
            ));
        }
        let client_key = key_pem.into();
        self.with_tls(|tls| {
            tls.client_tls = Some(redis::ClientTlsConfig {
                client_cert,
                client_key,
            });
        })
    }

    fn with_tls(self, change: impl FnOnce(&mut TlsCertificates)) -> Result<Self, StoreError> {
        let mut target = self.inner.target.clone();
        if !target.uses_tls() {
            return Err(StoreError::InvalidTls(
                "TLS settings need rediss:// URLs (these are redis://, plain TCP)".into(),
            ));
        }
        let mut tls = target.tls.take().unwrap_or(TlsCertificates {
            client_tls: None,
            root_cert: None,
        });
        change(&mut tls);
        target.tls = Some(tls);
        let backend = target.backend(self.inner.timeout)?;
        Ok(self.with(|inner| {
            inner.target = target;
            inner.backend = backend;
        }))
    }

    /// A store with the same server and settings, changed by `change`, and
    /// a connection of its own (clones made before keep theirs).
    fn with(self, change: impl FnOnce(&mut Inner)) -> Self {
        let old = &self.inner;
        let mut inner = Inner {
            target: old.target.clone(),
            backend: old.backend.clone(),
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
    /// one Redis without sharing state. Its `{`, `}` and `%` are
    /// percent-encoded in keys, so that it never makes a hash tag.
    pub fn namespace(self, namespace: impl Into<String>) -> Self {
        let namespace = namespace.into();
        self.with(|inner| inner.namespace = namespace)
    }

    /// The bound on each command and on connecting
    /// ([`DEFAULT_REDIS_TIMEOUT`]).
    pub fn timeout(self, timeout: Duration) -> Self {
        self.with(|inner| {
            inner.timeout = timeout;
            // The target was checked when it was set: building it again
            // with another timeout does not fail (if it did, the old
            // client, with the old timeout, stays).
            if let Ok(backend) = inner.target.backend(timeout) {
                inner.backend = backend;
            }
        })
    }

    /// Authenticates every value with HMAC-SHA256 under `key` (the same
    /// on every replica; random, at least
    /// [`MIN_REDIS_INTEGRITY_KEY`](crate::limits::MIN_REDIS_INTEGRITY_KEY)
    /// bytes, or [`StoreError::ShortIntegrityKey`]: an empty key read from
    /// an unset variable would authenticate nothing): a value someone else
    /// wrote to Redis is ignored: a planted introspection answer is not
    /// read. (Marking a proof as seen needs no value, so a writer without
    /// the key can still make proofs count as replays: a denial of
    /// service, never an acceptance.) Without it, Redis is trusted.
    pub fn try_integrity_key(self, key: &[u8]) -> Result<Self, StoreError> {
        let min = crate::limits::MIN_REDIS_INTEGRITY_KEY;
        if key.len() < min {
            return Err(StoreError::ShortIntegrityKey {
                len: key.len(),
                min,
            });
        }
        let key = Arc::new(aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key));
        Ok(self.with(|inner| inner.integrity = Some(key)))
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
        push_escaped(&mut key, &self.inner.namespace);
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

    async fn connection(&self) -> Result<Connection, StoreError> {
        if self.elapsed_ms() < self.inner.retry_after.load(Ordering::Relaxed) {
            return Err(StoreError::Unavailable(
                "Redis failed within the last second; waiting before the next attempt".into(),
            ));
        }
        if let Some(c) = self.inner.connection.get() {
            return Ok(c.clone());
        }
        if self.inner.target.uses_tls() {
            install_crypto_provider();
        }
        let timeout = self.inner.timeout;
        let backend = self.inner.backend.clone();
        let connect = self.inner.connection.get_or_try_init(|| async move {
            let unavailable = |e: redis::RedisError| StoreError::Unavailable(e.to_string());
            let connecting = async move {
                match backend {
                    Backend::One(client) => {
                        let config = ConnectionManagerConfig::new()
                            .set_connection_timeout(Some(timeout))
                            .set_response_timeout(Some(timeout))
                            .set_number_of_retries(1);
                        ConnectionManager::new_with_config(*client, config)
                            .await
                            .map(Connection::One)
                            .map_err(unavailable)
                    }
                    Backend::Cluster(client) => client
                        .get_async_connection()
                        .await
                        .map(Connection::Cluster)
                        .map_err(unavailable),
                }
            };
            tokio::time::timeout(timeout.saturating_mul(2), connecting)
                .await
                .map_err(|_| StoreError::Unavailable("connection timed out".into()))?
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
        self.run_with(|connection| async move {
            match connection {
                Connection::One(mut c) => cmd.query_async::<T>(&mut c).await,
                Connection::Cluster(mut c) => cmd.query_async::<T>(&mut c).await,
            }
        })
        .await
    }

    /// Runs `query` on a connection within the command timeout; backs off
    /// when it fails.
    async fn run_with<T, F, Fut>(&self, query: F) -> Result<T, StoreError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        let result = tokio::time::timeout(self.inner.timeout, query(connection))
            .await
            .map_err(|_| StoreError::Unavailable("command timed out".into()))
            .and_then(|r| r.map_err(|e| StoreError::Unavailable(e.to_string())));
        if result.is_err() {
            self.back_off();
        }
        result
    }

    /// Records the replay entry `kind:id` for `ttl` seconds unless it is
    /// there already, and says for how long the node holding it has
    /// remembered (see [`Once`]). One script on one key: one slot.
    pub(crate) async fn set_once(
        &self,
        kind: &str,
        id: &[u8],
        ttl: u64,
    ) -> Result<Once, StoreError> {
        let mut invocation = REPLAY_SCRIPT.prepare_invoke();
        invocation.key(self.key(kind, id));
        // One node: where the fleet notes when it first saw a promoted node
        // as its primary. (A cluster's script reaches only its entry's hash
        // slot, and a note per slot would start over at each slot's first
        // proof: there a promotion is not detected, see `Once`.)
        let cluster = self.inner.target.cluster;
        if !cluster {
            invocation.key(self.key(PROMOTION_KIND, b""));
        }
        invocation.arg(ttl.max(1));
        let (first, uptime, promoted, _replid, since): (i64, i64, i64, String, i64) = self
            .run_with(|mut connection| async move {
                match &mut connection {
                    Connection::One(c) => invocation.invoke_async(c).await,
                    Connection::Cluster(c) => invocation.invoke_async(c).await,
                }
            })
            .await?;
        let mut memory = uptime.max(0);
        if promoted != 0 && !cluster {
            // No note could be read or written: nothing is vouched for.
            memory = memory.min(since.max(0));
        }
        Ok(if first == 1 {
            Once::First { memory }
        } else {
            Once::Seen
        })
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

/// What the store says of a replay entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Once {
    /// Recorded now: first sight, as far as the store remembers. `memory`:
    /// for how many seconds the node holding the entry has run (its
    /// `uptime_in_seconds`; 0 when it will not say), and, on one node
    /// promoted from replica, at most since the fleet first saw it as its
    /// primary (in a cluster, a promotion is not detected). Whatever it held before it started may be lost (no
    /// persistence, or back from an older snapshot), and a promoted node
    /// may never have received its old primary's last writes, so a proof
    /// made before then may have been accepted already and is not vouched
    /// for.
    First { memory: i64 },
    /// Already there: a replay.
    Seen,
}

/// The key (under the namespace) where a one-node store's fleet notes
/// when it first saw a promoted node as its primary: `REPLID SECONDS`, by
/// the node's clock. One key, without TTL.
const PROMOTION_KIND: &str = "promotion";

/// Sets a replay entry unless it exists, and says how long its node has
/// run. KEYS[1]: the entry; KEYS[2] (one node only): the promotion note;
/// ARGV[1]: the entry's TTL in seconds. Answers {1 if set now, else 0; the
/// node's uptime in seconds; 1 if the node was promoted from replica
/// (`second_repl_offset` not -1, or not readable), else 0; its
/// `master_replid`; with KEYS[2] and a promoted node, the seconds since the fleet first
/// saw this replication history as its primary (noted now if not yet, if
/// the note names another, or if it is dated after the node's clock: a
/// clock set back would otherwise refuse every proof until it caught up),
/// else -1}. The uptime is read on every
/// call (INFO in a script costs no measurable throughput): a node that
/// restarted, empty or from a snapshot older than its last writes, is
/// caught on the first proof after it. An uptime that is not a whole
/// number of seconds, or negative (Redis's clock stepped back past its
/// start), counts as 0: the store vouches for nothing made before now.
static REPLAY_SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.replicate_commands then redis.replicate_commands() end
local uptime = 0
local info = redis.pcall('INFO', 'server')
if type(info) == 'string' then
  uptime = tonumber(string.match(info, 'uptime_in_seconds:(%d+)')) or 0
end
local promoted = 1
local replid = ''
local repl = redis.pcall('INFO', 'replication')
if type(repl) == 'string' then
  replid = string.match(repl, 'master_replid:(%w+)') or ''
  if string.match(repl, 'second_repl_offset:%-1%s') then
    promoted = 0
  end
end
local since = -1
if promoted == 1 and KEYS[2] then
  local now = tonumber(redis.call('TIME')[1])
  local at = nil
  local note = redis.call('GET', KEYS[2])
  if type(note) == 'string' then
    local id, t = string.match(note, '^(%w+) (%d+)$')
    if id == replid and tonumber(t) <= now then at = tonumber(t) end
  end
  if not at then
    redis.call('SET', KEYS[2], replid .. ' ' .. now)
    at = now
  end
  since = math.max(now - at, 0)
end
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
  return {1, uptime, promoted, replid, since}
end
return {0, uptime, promoted, replid, since}
",
    )
});

/// Appends `namespace` with `{`, `}` (and `%`, their escape)
/// percent-encoded: a brace in the namespace would make a hash tag of its
/// own, piling every key of the namespace onto one cluster slot.
fn push_escaped(key: &mut String, namespace: &str) {
    for c in namespace.chars() {
        match c {
            '%' => key.push_str("%25"),
            '{' => key.push_str("%7B"),
            '}' => key.push_str("%7D"),
            c => key.push(c),
        }
    }
}

/// One node's URL, parsed, refusing TLS without its checks.
fn node(url: &str) -> Result<ConnectionInfo, StoreError> {
    let info = url
        .into_connection_info()
        .map_err(|e| StoreError::InvalidUrl(e.to_string()))?;
    if let ConnectionAddr::TcpTls { insecure: true, .. } = info.addr() {
        return Err(StoreError::InvalidUrl(
            "rediss:// with #insecure turns certificate checks off; give the server's CA with tls_root_certificates instead".into(),
        ));
    }
    Ok(info)
}

/// How many certificates `pem` holds; an error when a block is broken.
fn certificates_in(pem: &[u8]) -> Result<usize, StoreError> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut count = 0usize;
    for c in CertificateDer::pem_slice_iter(pem) {
        c.map_err(|e| StoreError::InvalidTls(format!("a PEM certificate does not parse: {e}")))?;
        count = count.saturating_add(1);
    }
    Ok(count)
}

/// The `redis` crate builds its rustls configuration with the process's
/// default crypto provider, which rustls cannot choose by itself when an
/// application compiles in two (it would panic): aws-lc-rs, the one this
/// crate uses for everything else, is installed unless the application
/// installed one already.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err: another thread installed one first, which is as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}
