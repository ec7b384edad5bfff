//! [`ConfigError`] and [`IssuerProblem`]: what is wrong, naming the field
//! (or variable) at fault.

use std::path::PathBuf;

use crate::keys::KeyError;
use crate::validator::BuildError;

use super::secret::SecretError;

/// What is wrong with one `[[issuers]]` entry (in [`ConfigError::Issuer`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerProblem {
    /// Neither `issuer` nor `tenant_template`.
    #[error("needs `issuer` (or `tenant_template`)")]
    NoName,
    /// Two fields that exclude each other.
    #[error("`{0}` and `{1}` cannot be used together")]
    Conflict(&'static str, &'static str),
    /// A field that only means something with another.
    #[error("`{field}` needs `{needs}`")]
    Requires {
        /// The field set.
        field: &'static str,
        /// What it needs.
        needs: &'static str,
    },
    /// More than one key source.
    #[error("{}", key_sources(.0))]
    KeySources(Vec<&'static str>),
    /// No key source.
    #[error("no key source: set one of jwks_url, discover, jwks_file, jwks, pem_file or hmac")]
    NoKeySource,
    /// Neither `audiences` nor `allowed_client_ids`.
    #[error("needs `audiences` (or `allowed_client_ids`, for tokens without `aud`)")]
    NoAudience,
    /// The `pem_file` could not be read: missing, not a regular file, or
    /// larger than [`MAX_SECRET_FILE_SIZE`](super::MAX_SECRET_FILE_SIZE).
    #[error("pem_file: cannot read {}: {source}", path.display())]
    PemFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A secret could not be read.
    #[error("{field}: {problem}")]
    Secret {
        /// The field (`hmac.secret`).
        field: &'static str,
        /// Why.
        problem: SecretError,
    },
    /// A field set to 0, which would disable what it bounds
    /// (`max_tenants`, a field of the issuer's own `jwks_cache`).
    #[error("`{field}` cannot be 0: {why}")]
    Zero {
        /// The field.
        field: &'static str,
        /// What 0 would do.
        why: &'static str,
    },
    /// A field above its bound (`max_tenants`, at most
    /// [`MAX_TENANTS_LIMIT`](super::MAX_TENANTS_LIMIT)).
    #[error("`{field}` is {value}, above its limit of {max}")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its value.
        value: usize,
        /// The largest accepted.
        max: usize,
    },
}

fn key_sources(sources: &[&str]) -> String {
    let count = match sources.len() {
        2 => "two".to_owned(),
        3 => "three".to_owned(),
        n => n.to_string(),
    };
    let list = match sources.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => sources.join(""),
    };
    format!("{count} key sources: {list} (give exactly one)")
}

/// Why a [`Config`](super::Config) could not be read or built. The message names the
/// field (or variable) at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No `[[issuers]]` entry.
    #[error("no issuer configured: add an [[issuers]] entry")]
    NoIssuer,
    /// An issuer entry is wrong; `index` counts from 1.
    #[error("issuer {index} ({name}): {problem}")]
    Issuer {
        /// Its position, from 1.
        index: usize,
        /// Its `issuer` or `tenant_template`.
        name: String,
        /// What is wrong.
        problem: IssuerProblem,
    },
    /// Two fields that exclude each other.
    #[error("`{0}` and `{1}` cannot be used together")]
    Conflict(&'static str, &'static str),
    /// A field (or table) that needs another.
    #[error("{field} needs {needs}")]
    Requires {
        /// The field set.
        field: &'static str,
        /// What it needs.
        needs: &'static str,
    },
    /// A secret could not be read.
    #[error("{field}: {problem}")]
    Secret {
        /// The field (`introspection.client_secret`, `dpop.nonce_secret`).
        field: &'static str,
        /// Why.
        problem: SecretError,
    },
    /// A field set to 0, which would disable what it bounds: every token,
    /// fetch or call refused, or no rate limit left
    /// (`jwks_cache.cooldown_seconds`, `introspection.timeout_seconds`...).
    /// The fields that accept 0 say so in their documentation
    /// (`token_cache_capacity = 0` turns the cache off).
    #[error("{field} cannot be 0: {why}")]
    Zero {
        /// The field (`jwks_cache.fetch_timeout_seconds`).
        field: &'static str,
        /// What 0 would do.
        why: &'static str,
    },
    /// `introspection.private_key` is not a usable private key.
    #[error("introspection.private_key: {0}")]
    PrivateKey(KeyError),
    /// An environment variable has an unusable value, or a required one is
    /// missing ([`Config::from_env`](super::Config::from_env)).
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable.
        var: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The validator builder refused the configuration.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// `layer.realm` cannot be sent in a header.
    #[error("layer.realm: {0}")]
    Realm(BuildError),
    /// `layer.public_url` is not an absolute http(s) URL.
    #[error("layer.public_url: {0}")]
    PublicUrl(BuildError),
    /// `layer.token_header` is not a header name.
    #[error("layer.token_header: {0:?} is not a valid header name")]
    TokenHeader(String),
    /// `[dpop]` without `layer.public_url`: DPoP proofs name the URL they
    /// were made for, which must come from configuration, not from the
    /// request (`layer.trust_host_header` is the development opt-in).
    #[error(
        "[dpop] needs layer.public_url, the externally visible URL proofs are checked against (or layer.trust_host_header for development)"
    )]
    DpopNeedsPublicUrl,
    /// `layer.trust_host_header` is neither `http` nor `https`.
    #[error("layer.trust_host_header: {0:?} is neither \"http\" nor \"https\"")]
    TrustHostHeader(String),
}
