//! The REST admin API of Junction, under `/v1`: what tenants (through the dashboard, scripts
//! and their backends) use to run their part of Junction.
//!
//! Modules:
//! - [`config`]: [`AdminConfig`], a `clap` argument group;
//! - [`state`]: [`AppState`], the handle every handler gets (store, change feed, keys);
//! - [`auth`]: who is calling (access tokens, cookies, API keys with scopes) and what they may do;
//! - [`error`]: [`ApiError`], rendered as RFC 9457 problem+json;
//! - [`extract`]: JSON / query extractors with problem+json rejections, pagination;
//! - [`sessions`]: the [`SessionDirectory`] seam to routers' live sessions;
//! - `http`: one module per resource, each with `fn router()`, and the OpenAPI document.
//!
//! The binary mounts [`App::router`] on the admin port and adds its own fallback (the
//! dashboard's static files) for paths outside `/v1`.
#![forbid(unsafe_code)]

use std::sync::Arc;

use axum::Router;
use junction_changefeed::ChangeFeed;
use junction_store::Store;

pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
mod http;
pub mod sessions;
pub mod state;

pub use config::AdminConfig;
pub use error::{ApiError, FieldError, Problem};
pub use sessions::{DirectoryError, KillOutcome, RealmStats, SessionDirectory, SessionInfo};
pub use state::AppState;

/// The admin API, built.
pub struct App {
    state: AppState,
}

impl App {
    /// Builds the API on a migrated store. Announces committed changes on `feed`. `sessions`
    /// is where routers' live sessions are (the router provides it); without one, the session
    /// endpoints answer 503 `unavailable`.
    pub fn build(
        config: AdminConfig,
        store: Store,
        feed: Arc<dyn ChangeFeed>,
        sessions: Option<Arc<dyn SessionDirectory>>,
    ) -> App {
        App {
            state: AppState::new(config, store, feed, sessions),
        }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The `/v1` routes, `/v1/openapi.json` included. Unknown paths under `/v1` answer a 404
    /// problem; other paths are left to the caller's fallback.
    pub fn router(&self) -> Router {
        router(self.state.clone())
    }
}

/// The `/v1` routes with their state (see [`App::router`]).
pub fn router(state: AppState) -> Router {
    http::router(state)
}

/// The OpenAPI 3.1 document of the API, as served at `/v1/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    http::openapi()
}
