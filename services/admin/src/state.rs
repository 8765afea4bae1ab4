//! The state shared by every handler: a cheap `Clone` handle around `Arc<Shared>`.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use junction_changefeed::{Change, ChangeFeed};
use junction_store::{HashParams, Store, secrets};

use crate::auth::{ApiKeyCache, RateLimiter, SessionKeys};
use crate::config::AdminConfig;
use crate::error::ApiError;
use crate::sessions::SessionDirectory;

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: AdminConfig,
    pub store: Store,
    /// Where committed changes that routers must see are announced.
    pub feed: Arc<dyn ChangeFeed>,
    /// Where routers' live sessions are; `None`: the session endpoints answer 503.
    pub directory: Option<Arc<dyn SessionDirectory>>,
    pub(crate) sessions: SessionKeys,
    pub(crate) login_limiter: RateLimiter,
    pub(crate) key_cache: ApiKeyCache,
    /// Verified against when a log-in names an unknown e-mail, so that the answer takes as
    /// long as for a wrong password.
    pub(crate) dummy_hash: String,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(
        config: AdminConfig,
        store: Store,
        feed: Arc<dyn ChangeFeed>,
        directory: Option<Arc<dyn SessionDirectory>>,
    ) -> Self {
        let secret = match &config.jwt_secret {
            Some(s) => s.clone(),
            None => {
                tracing::warn!(
                    "no admin JWT secret configured (JUNCTION_ADMIN_JWT_SECRET): using a random one; \
                     sessions end when this process stops"
                );
                secrets::random_token(32)
            }
        };
        let dummy_hash = secrets::dummy_hash(config.hash_params());
        AppState(Arc::new(Shared {
            sessions: SessionKeys::new(&secret),
            login_limiter: RateLimiter::new(Duration::from_secs(60)),
            key_cache: ApiKeyCache::default(),
            dummy_hash,
            config,
            store,
            feed,
            directory,
        }))
    }

    /// The session directory, or 503.
    pub(crate) fn directory(&self) -> Result<&dyn SessionDirectory, ApiError> {
        self.directory
            .as_deref()
            .ok_or_else(|| ApiError::Unavailable("session directory unavailable".into()))
    }

    pub fn hash_params(&self) -> HashParams {
        self.config.hash_params()
    }

    /// Announces a committed change. A failure is logged, not returned: the change is
    /// committed, and routers re-read the store when their cache entries expire or when the
    /// feed reports `Lagged` after it recovers.
    pub(crate) async fn announce(&self, change: Change) {
        if let Err(e) = self.feed.publish(change.clone()).await {
            tracing::warn!(error = %e, ?change, "could not announce a control-plane change");
        }
    }
}
