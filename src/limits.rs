//! Every named limit and default of the crate, in one place: sizes read
//! before anything is parsed, capacities of the caches, time windows. Each
//! is the default of a setting named in its documentation, or a bound no
//! setting moves.

use std::time::Duration;

// From validator.

/// Default largest token accepted, in bytes: 16 KiB.
///
/// Tokens are refused before any decoding when longer. Real access tokens are
/// well under 4 KiB; Keycloak tokens with many roles approach 8 KiB.
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 16 * 1024;

/// Largest JWKS file read by [`ValidatorBuilder::jwks_file`](crate::ValidatorBuilder::jwks_file) and
/// [`Issuer::jwks_file`](crate::Issuer::jwks_file): 1 MiB. Only regular files are read (not a FIFO
/// or a device); a longer file is refused with [`BuildError::JwksFile`](crate::BuildError::JwksFile).
pub const MAX_JWKS_FILE_SIZE: u64 = 1024 * 1024;

/// Default clock leeway for `exp`, `nbf` and `iat`: 60 seconds.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

/// Default capacity of the verified-token cache: 10 000 tokens of up to 1 KiB
/// (a larger token counts once per KiB).
pub const DEFAULT_TOKEN_CACHE_CAPACITY: u64 = 10_000;

// From validator/issuer.

/// Default cap on the verified tenants a [`tenant_template`](crate::Issuer::tenant_template)
/// issuer without an allow-list remembers: 100.
pub const DEFAULT_MAX_TENANTS: usize = 100;

/// Most tenants of a discovering [`tenant_template`](crate::Issuer::tenant_template)
/// issuer named by tokens that have not verified yet: 8. Each has its own
/// key source (its metadata must be fetched before its tokens can be
/// checked), attributed to the template (its metrics, its logs at `debug`,
/// one attempt, no retries) until one of its tokens verifies; a token
/// naming a further new tenant is answered 503 (not a verdict on the
/// token: retry) while eight are pending, so made-up tenants cause at most
/// eight discoveries per [`PENDING_TENANT_TTL`] and never take the place of
/// verified tenants.
///
/// What this bound costs: a stranger naming eight new made-up tenants a
/// minute keeps the places taken, and a genuine new tenant's first token
/// waits (503) until it gets one. Nothing tells that token from a made-up
/// one before its tenant's keys are fetched, and fetching for every
/// stranger's token is the amplification the bound prevents. Where that
/// wait matters, list the tenants ([`Issuer::tenants`](crate::Issuer::tenants)) or give the
/// template one key source ([`Issuer::jwks_url`](crate::Issuer::jwks_url)): neither has it.
pub const MAX_PENDING_TENANTS: usize = 8;

/// How long an unverified tenant keeps its place among the
/// [`MAX_PENDING_TENANTS`]: 60 seconds (by the validator's clock, monotonic: a
/// wall clock stepping back does not lengthen it).
pub const PENDING_TENANT_TTL: i64 = 60;

// From dpop.

/// Default oldest proof accepted: `iat` up to 60 seconds in the past (as
/// Spring Security and oidc-provider).
pub const DEFAULT_DPOP_MAX_AGE: Duration = Duration::from_secs(60);

/// Default clock skew allowed for a proof's `iat`: 5 seconds into the
/// future (and 5 more into the past beyond the maximum age).
pub const DEFAULT_DPOP_LEEWAY: Duration = Duration::from_secs(5);

/// Default capacity of the replay cache: about a million proofs (24 bytes
/// each and the map's overhead, some 32 MiB when full). Every proof is
/// kept until it could no longer be accepted (its `iat` plus the maximum
/// age and the leeway) and one window more (the maximum age plus twice the
/// leeway, a margin for requests that read the clock earlier), some 2.5
/// minutes by default, so this allows some 6,500 DPoP requests a second;
/// beyond it new proofs are refused with 503 (fail closed), never live
/// ones forgotten.
///
/// Only proofs whose token was accepted and bound to their key enter the
/// cache, so strangers cannot fill it; a client holding a valid bound
/// token can, by sending proofs faster than that, for as long as its token
/// lives. Size it above your peak DPoP rate times 160 s (with the default
/// window), and rate-limit clients in front of the service.
pub const DEFAULT_DPOP_REPLAY_CAPACITY: usize = 1 << 20;

/// Default largest DPoP proof accepted, in bytes: 8 KiB (a proof with an
/// RSA 4096 key is about 1.6 KiB).
pub const DEFAULT_MAX_DPOP_PROOF_SIZE: usize = 8 * 1024;

/// Default lifetime of a server nonce: 5 minutes (each nonce is accepted
/// for one to two lifetimes).
pub const DEFAULT_DPOP_NONCE_LIFETIME: Duration = Duration::from_secs(300);

/// Longest `jti` accepted, in bytes: identifiers are random strings (a
/// UUID is 36 bytes); a longer one is refused.
pub const MAX_DPOP_JTI_LENGTH: usize = 256;

// From introspection.

#[cfg(feature = "remote")]
/// Largest introspection response accepted, in bytes: 64 KiB.
pub const DEFAULT_MAX_INTROSPECTION_SIZE: usize = 64 * 1024;

// From remote/jwks/options.

#[cfg(feature = "remote")]
/// Largest JWKS response accepted, in bytes: 256 KiB.
pub const DEFAULT_MAX_JWKS_SIZE: usize = 256 * 1024;

#[cfg(feature = "remote")]
/// Most keys accepted in one JWKS: 100.
pub const DEFAULT_MAX_JWKS_KEYS: usize = 100;

// From remote/discovery.

#[cfg(feature = "remote")]
/// Largest discovery document accepted, in bytes: 64 KiB.
pub const DEFAULT_MAX_METADATA_SIZE: usize = 64 * 1024;

// From store.

#[cfg(feature = "redis")]
/// Default bound on each Redis command (and on connecting): 250 ms.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

#[cfg(feature = "redis")]
/// Default key prefix: `bearer-guard`.
pub const DEFAULT_REDIS_NAMESPACE: &str = "bearer-guard";

#[cfg(feature = "redis")]
/// After a failed connection, how long the store answers "unavailable"
/// without trying again: 1 second.
pub const REDIS_RECONNECT_DELAY: Duration = Duration::from_secs(1);

#[cfg(feature = "redis")]
/// Most nodes given to [`RedisStore::cluster`](crate::redis::RedisStore::cluster): 64
/// (a few are enough: the others are learned from the cluster).
pub const MAX_REDIS_CLUSTER_NODES: usize = 64;

#[cfg(feature = "redis")]
/// Shortest key [`RedisStore::try_integrity_key`](crate::redis::RedisStore::try_integrity_key)
/// takes: 32 bytes (HMAC-SHA256's own length; a shorter key, the empty
/// one from an unset variable above all, authenticates nothing).
pub const MIN_REDIS_INTEGRITY_KEY: usize = 32;

#[cfg(feature = "redis")]
/// How many times the cluster client retries a command (after a `MOVED`,
/// `ASK`, `TRYAGAIN` or a lost connection), within the command timeout: 2.
pub const REDIS_CLUSTER_RETRIES: u32 = 2;

// From client/token.

#[cfg(feature = "client")]
/// Default bound on one token request: 10 seconds.
pub const DEFAULT_TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[cfg(feature = "client")]
/// Default largest token response read: 64 KiB.
pub const DEFAULT_TOKEN_RESPONSE_SIZE: usize = 64 * 1024;

#[cfg(feature = "client")]
/// Default least validity a token handed out has left: 30 seconds (time
/// for the request it goes with to reach the resource server). A token
/// closer to its expiry is renewed before it is handed out.
pub const DEFAULT_TOKEN_MIN_VALIDITY: Duration = Duration::from_secs(30);

#[cfg(feature = "client")]
/// The longest lifetime believed (a larger `expires_in` is cut to it): 24 h.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

#[cfg(feature = "client")]
/// Forced renewals (after a resource server refused the token) happen at
/// most this often: 10 seconds. A refusal with a permanent cause (a wrong
/// audience) then costs one token request per 10 s, not one per request.
pub const FORCED_RENEWAL_INTERVAL: Duration = Duration::from_secs(10);

// From client/challenge and client/resource.

#[cfg(feature = "client")]
/// Most challenges read from one response's `WWW-Authenticate` headers: 16
/// (the rest are ignored).
pub const MAX_CHALLENGES: usize = 16;

#[cfg(feature = "client")]
/// Most parameters read from one challenge: 32 (the rest are ignored).
pub const MAX_CHALLENGE_PARAMS: usize = 32;

#[cfg(feature = "client")]
/// Most scopes a [`ResourceClient`](crate::client::ResourceClient) asks
/// for, its step-ups included: 64. A resource that keeps asking for new
/// scopes gets an error, not an endless series of token requests.
pub const MAX_REQUESTED_SCOPES: usize = 64;

#[cfg(feature = "client")]
/// How many times a request refused with a 401 or 403 is sent again after
/// [`ResourceClient::challenged`](crate::client::ResourceClient::challenged)
/// (the MCP specification: "no more than a few times"): 2.
pub const MAX_AUTHORIZATION_RETRIES: usize = 2;

#[cfg(feature = "client")]
/// Largest protected resource metadata document read (RFC 9728): 64 KiB.
pub const DEFAULT_MAX_RESOURCE_METADATA_SIZE: usize = 64 * 1024;

// From mcp.

/// Default largest MCP request body read by
/// [`RequireToolLayer`](crate::mcp::RequireToolLayer): 4 MiB (as the
/// official Rust SDK's server); a larger one is answered `413`.
#[cfg(feature = "mcp")]
pub const DEFAULT_MAX_MCP_BODY: usize = 4 * 1024 * 1024;

/// Default longest wait for a whole MCP request body: 10 seconds; a slower
/// one is answered `408`, so that a client trickling bytes cannot hold a
/// request open.
#[cfg(feature = "mcp")]
pub const DEFAULT_MCP_BODY_TIMEOUT: Duration = Duration::from_secs(10);
