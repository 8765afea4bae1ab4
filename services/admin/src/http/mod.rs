//! The HTTP layer: one module per resource, each exposing `fn router()` with its
//! `#[utoipa::path]`-annotated handlers, so that the OpenAPI document is generated from the
//! routes themselves.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::state::AppState;

mod api_keys;
mod audit;
mod config;
mod credentials;
mod members;
mod procedures;
mod realms;
mod roles;
mod session;
mod sessions;
mod tokens;
mod uris;

/// Largest accepted request body.
const BODY_LIMIT: usize = 1024 * 1024;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Junction admin API",
        version = "1",
        description = "Control plane of Junction, the managed WAMP router: tenants, users, API keys, \
realms, roles and permission rules, credentials, client tokens, live sessions, audit log. Errors are \
RFC 9457 problem+json documents whose `type` URIs are stable. Lists are cursor-paginated."
    ),
    modifiers(&Security),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
    tags(
        (name = "session", description = "Sign-up, log-in, refresh, log-out"),
        (name = "api-keys", description = "API keys for automation"),
        (name = "members", description = "Users of the tenant"),
        (name = "realms", description = "Realms and their settings"),
        (name = "roles", description = "Roles, permission rules, Crossbar.io import"),
        (name = "credentials", description = "WAMP credentials of a realm"),
        (name = "tokens", description = "Short-lived client tokens"),
        (name = "sessions", description = "Live WAMP sessions of a realm, and its counters"),
        (name = "audit", description = "Audit log"),
        (name = "config", description = "Public configuration of the deployment")
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token from log-in, or an API key `jk_<prefix>_<secret>`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(session::router())
        .merge(api_keys::router())
        .merge(members::router())
        .merge(realms::router())
        .merge(roles::router())
        .merge(credentials::router())
        .merge(tokens::router())
        .merge(sessions::router())
        .merge(audit::router())
        .merge(config::router())
}

/// The OpenAPI document (built once).
pub fn openapi() -> utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| api().into_openapi()).clone()
}

fn openapi_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| openapi().to_json().unwrap_or_else(|_| "{}".to_string()))
}

pub fn router(state: AppState) -> Router {
    let (routes, _) = api().split_for_parts();
    routes
        .route(
            "/v1/openapi.json",
            axum::routing::get(|| async {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    openapi_json(),
                )
            }),
        )
        // Anything else under /v1 is a 404 problem; the rest is the caller's.
        .route("/v1", any(not_found))
        .route("/v1/{*rest}", any(not_found))
        .layer(axum::middleware::map_response(problem_for_bare_errors))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NoRoute
}

/// axum answers some errors itself with plain-text or empty bodies (405 above all): turn those
/// into problems too.
async fn problem_for_bare_errors(res: Response) -> Response {
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if is_problem || res.status().is_success() || res.status().is_redirection() {
        return res;
    }
    let error = match res.status() {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::NOT_FOUND => ApiError::NoRoute,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        s if s.is_client_error() => {
            ApiError::BadRequest(s.canonical_reason().unwrap_or("bad request").to_string())
        }
        _ => return res,
    };
    let (mut parts, _) = res.into_parts();
    let fresh = error.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    Response::from_parts(parts, fresh.into_body())
}

/// RFC 3339 (UTC, milliseconds) for an epoch-milliseconds time.
pub(crate) fn ts(millis: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(millis.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Checks a free-text name: trimmed, 1..=max characters, no control characters.
pub(crate) fn check_name(value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

/// Checks an identifier-like name (role names, authids): 1..=max of `[A-Za-z0-9_.@:-]`.
pub(crate) fn check_ident(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.@:-".contains(&b))
    {
        return Err("may contain only letters, digits and _ . @ : -".into());
    }
    Ok(())
}
