//! `[jwks_cache]`: the settings of a remote key cache ([`JwksOptions`]),
//! for every issuer at the top level and for one in `[issuers.jwks_cache]`,
//! laid over the top-level table field by field.

use serde::Deserialize;
use std::convert::Infallible;

use crate::remote::JwksOptions;

use super::error::ConfigError;
use super::field::{Section, Walker, secs};
use super::vars::Vars;

/// Settings of a remote key cache ([`JwksOptions`]); unset fields keep
/// the defaults (or the top-level table's values, for an issuer's own).
/// No field may be 0 ([`ConfigError::Zero`]): a zero timeout fails every
/// fetch, a zero cool-down refetches on every unknown `kid`, a zero size
/// refuses every key set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct JwksCacheConfig {
    /// [`JwksOptions::fetch_timeout`].
    pub fetch_timeout_seconds: Option<u64>,
    /// [`JwksOptions::cooldown`].
    pub cooldown_seconds: Option<u64>,
    /// [`JwksOptions::default_refresh`].
    pub default_refresh_seconds: Option<u64>,
    /// The lower bound of [`JwksOptions::refresh_bounds`].
    pub min_refresh_seconds: Option<u64>,
    /// The upper bound of [`JwksOptions::refresh_bounds`].
    pub max_refresh_seconds: Option<u64>,
    /// [`JwksOptions::max_stale`].
    pub max_stale_seconds: Option<u64>,
    /// The first delay of [`JwksOptions::retry_backoff`].
    pub retry_min_seconds: Option<u64>,
    /// The longest delay of [`JwksOptions::retry_backoff`].
    pub retry_max_seconds: Option<u64>,
    /// [`JwksOptions::max_size`].
    pub max_size: Option<usize>,
    /// [`JwksOptions::max_keys`].
    pub max_keys: Option<usize>,
    /// [`JwksOptions::max_metadata_size`].
    pub max_metadata_size: Option<usize>,
}

impl Section for JwksCacheConfig {
    type Target = JwksOptions;
    type Error = Infallible;

    fn fields<W: Walker<Self>>(w: W) -> W {
        Self::size_fields(Self::time_fields(w))
    }
}

impl JwksCacheConfig {
    /// The durations, in seconds. A bound of a pair (refresh, retry) is set
    /// with the other as it stands (set, or the default): `refresh_bounds`
    /// and `retry_backoff` keep the upper one at least the lower one.
    fn time_fields<W: Walker<Self>>(w: W) -> W {
        w.field(
            Self::option("jwks_cache.fetch_timeout_seconds", |c| {
                &mut c.fetch_timeout_seconds
            })
            .var("JWKS_FETCH_TIMEOUT_SECONDS")
            .not_zero("every fetch would time out")
            .set(|o, s| o.fetch_timeout(secs(*s))),
        )
        .field(
            Self::option("jwks_cache.cooldown_seconds", |c| &mut c.cooldown_seconds)
                .var("JWKS_COOLDOWN_SECONDS")
                .not_zero("every token with an unknown kid would cause a fetch")
                .set(|o, s| o.cooldown(secs(*s))),
        )
        .field(
            Self::option("jwks_cache.default_refresh_seconds", |c| {
                &mut c.default_refresh_seconds
            })
            .var("JWKS_DEFAULT_REFRESH_SECONDS")
            .not_zero("the keys would be refetched continuously")
            .set(|o, s| o.default_refresh(secs(*s))),
        )
        .field(
            Self::option("jwks_cache.min_refresh_seconds", |c| {
                &mut c.min_refresh_seconds
            })
            .var("JWKS_MIN_REFRESH_SECONDS")
            .not_zero("a server answering max-age=0 would have the keys refetched continuously")
            .set(|o, s| {
                let max = o.max_refresh;
                o.refresh_bounds(secs(*s), max)
            }),
        )
        .field(
            Self::option("jwks_cache.max_refresh_seconds", |c| {
                &mut c.max_refresh_seconds
            })
            .var("JWKS_MAX_REFRESH_SECONDS")
            .not_zero("the keys would be refetched continuously")
            .set(|o, s| {
                let min = o.min_refresh;
                o.refresh_bounds(min, secs(*s))
            }),
        )
        .field(
            Self::option("jwks_cache.max_stale_seconds", |c| &mut c.max_stale_seconds)
                .var("JWKS_MAX_STALE_SECONDS")
                .not_zero("the keys would expire as soon as they were fetched")
                .set(|o, s| o.max_stale(secs(*s))),
        )
        .field(
            Self::option("jwks_cache.retry_min_seconds", |c| &mut c.retry_min_seconds)
                .var("JWKS_RETRY_MIN_SECONDS")
                .not_zero("a failing server would be retried continuously")
                .set(|o, s| {
                    let max = o.retry_max;
                    o.retry_backoff(secs(*s), max)
                }),
        )
        .field(
            Self::option("jwks_cache.retry_max_seconds", |c| &mut c.retry_max_seconds)
                .var("JWKS_RETRY_MAX_SECONDS")
                .not_zero("a failing server would be retried continuously")
                .set(|o, s| {
                    let min = o.retry_min;
                    o.retry_backoff(min, secs(*s))
                }),
        )
    }

    /// The limits on what the server sends.
    fn size_fields<W: Walker<Self>>(w: W) -> W {
        w.field(
            Self::option("jwks_cache.max_size", |c| &mut c.max_size)
                .var("JWKS_MAX_SIZE")
                .not_zero("every key set would be refused")
                .set(|o, n| o.max_size(*n)),
        )
        .field(
            Self::option("jwks_cache.max_keys", |c| &mut c.max_keys)
                .var("JWKS_MAX_KEYS")
                .not_zero("every key set would be refused")
                .set(|o, n| o.max_keys(*n)),
        )
        .field(
            Self::option("jwks_cache.max_metadata_size", |c| &mut c.max_metadata_size)
                .var("JWKS_MAX_METADATA_SIZE")
                .not_zero("every discovery document would be refused")
                .set(|o, n| o.max_metadata_size(*n)),
        )
    }

    /// The options this table sets, over the defaults.
    pub(super) fn options(&self) -> JwksOptions {
        let Ok(options) = self.apply(JwksOptions::default());
        options
    }

    /// The table the `JWKS_*` variables describe: `None` when none is set,
    /// an error when one is set without a remote key source.
    pub(super) fn from_env(vars: &Vars<'_>) -> Result<Option<Self>, ConfigError> {
        let cache = Self::from_vars(vars)?;
        let Some(set) = Self::vars()
            .into_iter()
            .find(|key| vars.text(key).is_some())
        else {
            return Ok(None);
        };
        if vars.text("JWKS_URL").is_none() && !vars.flag("DISCOVER")? {
            return Err(vars.error(
                &set,
                format!(
                    "needs a remote key source: {} or {}",
                    vars.var("JWKS_URL"),
                    vars.var("DISCOVER")
                ),
            ));
        }
        Ok(Some(cache))
    }
}
