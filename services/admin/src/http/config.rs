//! `GET /v1/config`: what a browser needs before it logs in (public, no authentication).

use axum::Json as Out;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(public_config))
}

/// The deployment's public configuration.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicConfig {
    /// The WebSocket URL at which browsers reach the router (`--router-url`,
    /// `JUNCTION_ROUTER_URL`), e.g. `wss://wamp.example.com/ws`; `null` when not configured.
    pub router_url: Option<String>,
    /// The version of Junction serving this API.
    pub version: String,
}

/// Reads the deployment's public configuration: where the router is, and the version.
#[utoipa::path(get, path = "/v1/config", tag = "config",
    responses((status = 200, body = PublicConfig)))]
async fn public_config(State(state): State<AppState>) -> Out<PublicConfig> {
    Out(PublicConfig {
        router_url: state.config.router_url.clone(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    })
}
