//! `[layer]`: the options of the [`BearerLayer`] ([`Config::layer`](super::Config::layer)).

use http::HeaderName;
use http::uri::Scheme;
use serde::Deserialize;

use crate::http::BearerLayer;
use crate::validator::Validator;

use super::error::ConfigError;
use super::field::{Section, Walker};

/// The layer's options (`[layer]`): see [`BearerLayer`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct LayerConfig {
    /// [`BearerLayer::realm`].
    pub realm: Option<String>,
    /// [`BearerLayer::public_url`]; required with `[dpop]`, unless
    /// `trust_host_header` is set.
    pub public_url: Option<String>,
    /// [`BearerLayer::trust_host_header`]: `"http"` or `"https"`, the
    /// scheme of DPoP's `htu` rebuilt from the `Host` header (without a
    /// `public_url`: development set-ups only).
    pub trust_host_header: Option<String>,
    /// [`BearerLayer::allow_anonymous`].
    pub allow_anonymous: bool,
    /// [`BearerLayer::allow_query_parameter`].
    pub allow_query_parameter: bool,
    /// [`BearerLayer::token_header`].
    pub token_header: Option<String>,
    /// [`BearerLayer::token_cookie`].
    pub token_cookie: Option<String>,
}

impl Section for LayerConfig {
    type Target = BearerLayer;
    type Error = ConfigError;

    fn fields<W: Walker<Self>>(w: W) -> W {
        w.field(
            Self::option("layer.trust_host_header", |c| &mut c.trust_host_header)
                .var("TRUST_HOST_HEADER")
                .try_set(|layer, scheme| {
                    Ok(
                        layer.trust_host_header(match scheme.to_ascii_lowercase().as_str() {
                            "http" => Scheme::HTTP,
                            "https" => Scheme::HTTPS,
                            _ => return Err(ConfigError::TrustHostHeader(scheme.clone())),
                        }),
                    )
                }),
        )
        .field(
            Self::option("layer.realm", |c| &mut c.realm)
                .var("REALM")
                .try_set(|layer, realm| layer.try_realm(realm.clone()).map_err(ConfigError::Realm)),
        )
        .field(
            Self::option("layer.public_url", |c| &mut c.public_url)
                .var("PUBLIC_URL")
                .try_set(|layer, url| {
                    layer
                        .try_public_url(url.clone())
                        .map_err(ConfigError::PublicUrl)
                }),
        )
        .field(
            Self::option("layer.allow_anonymous", |c| &mut c.allow_anonymous)
                .var("ALLOW_ANONYMOUS")
                .set(|layer, _| layer.allow_anonymous()),
        )
        .field(
            Self::option("layer.allow_query_parameter", |c| {
                &mut c.allow_query_parameter
            })
            .var("ALLOW_QUERY_PARAMETER")
            .set(|layer, _| layer.allow_query_parameter()),
        )
        .field(
            Self::option("layer.token_header", |c| &mut c.token_header)
                .var("TOKEN_HEADER")
                .try_set(|layer, name| {
                    let header = HeaderName::try_from(name.as_str())
                        .map_err(|_| ConfigError::TokenHeader(name.clone()))?;
                    Ok(layer.token_header(header))
                }),
        )
        .field(
            Self::option("layer.token_cookie", |c| &mut c.token_cookie)
                .var("TOKEN_COOKIE")
                .set(|layer, name| layer.token_cookie(name.clone())),
        )
    }
}

impl LayerConfig {
    /// A [`BearerLayer`] validating with `validator`, with these options.
    pub(super) fn build(&self, validator: Validator) -> Result<BearerLayer, ConfigError> {
        let dpop = validator.dpop_options().is_some();
        if dpop && self.public_url.is_none() && self.trust_host_header.is_none() {
            return Err(ConfigError::DpopNeedsPublicUrl);
        }
        self.apply(BearerLayer::new(validator))
    }
}
