//! One error type for the HTTP layer, rendered as RFC 9457 `application/problem+json`.
//!
//! Every problem has a stable `type` URI under `https://junction.dev/problems/`; clients
//! branch on it, never on `title` or `detail`. 5xx bodies are generic; the full error chain
//! goes to the log.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use junction_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_BASE: &str = "https://junction.dev/problems/";

/// What is wrong with one input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the request, e.g. `roles[0].permissions[1].match`, or a query
    /// parameter's name.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// Stable URI naming the kind of problem.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Field-level messages (validation and conflict problems).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be read: malformed JSON, bad query string.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request was read but its content is invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Absent, or another tenant's: the two are indistinguishable on purpose.
    #[error("not found")]
    NotFound,
    /// No route has this path (a different `type` from [`ApiError::NotFound`], which is about
    /// objects).
    #[error("no such route")]
    NoRoute,
    #[error("conflict")]
    Conflict(Vec<FieldError>),
    #[error("limit reached: {0}")]
    LimitReached(String),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    #[error("payload too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A service the request needs cannot answer now (e.g. the session directory).
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ApiError::Internal(Box::new(e))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::LimitReached(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NoRoute => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The last segment of the problem `type` URI.
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Validation(_) => "validation",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not-found",
            ApiError::NoRoute => "no-such-route",
            ApiError::Conflict(_) => "conflict",
            ApiError::LimitReached(_) => "limit-reached",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::PayloadTooLarge => "payload-too-large",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "The request could not be read",
            ApiError::Validation(_) => "The request is invalid",
            ApiError::Unauthorized(_) => "Authentication is required",
            ApiError::Forbidden(_) => "Not allowed",
            ApiError::NotFound => "Not found",
            ApiError::NoRoute => "No such route",
            ApiError::Conflict(_) => "Conflict with existing data",
            ApiError::LimitReached(_) => "A limit of the tenant's plan is reached",
            ApiError::RateLimited { .. } => "Too many requests",
            ApiError::PayloadTooLarge => "The request body is too large",
            ApiError::UnsupportedMediaType => "The request body must be application/json",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::Unavailable(_) => "Temporarily unavailable",
            ApiError::Internal(_) => "Internal server error",
        }
    }

    pub fn to_problem(&self) -> Problem {
        let (detail, errors) = match self {
            ApiError::BadRequest(d) => (Some(d.clone()), vec![]),
            ApiError::Validation(errors) => (None, errors.clone()),
            ApiError::Unauthorized(d) => (Some(d.to_string()), vec![]),
            ApiError::Forbidden(d) | ApiError::LimitReached(d) | ApiError::Unavailable(d) => {
                (Some(d.clone()), vec![])
            }
            ApiError::Conflict(errors) => (None, errors.clone()),
            ApiError::RateLimited { retry_after_secs } => {
                (Some(format!("retry after {retry_after_secs} s")), vec![])
            }
            _ => (None, vec![]),
        };
        Problem {
            type_uri: format!("{PROBLEM_BASE}{}", self.slug()),
            title: self.title().to_string(),
            status: self.status().as_u16(),
            detail,
            errors,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict { field, message } => {
                ApiError::Conflict(vec![FieldError::new(field, message)])
            }
            StoreError::LimitReached(d) => ApiError::LimitReached(d),
            other => ApiError::internal(other),
        }
    }
}

/// The problem+json response for a problem.
pub fn problem_response(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_default();
    let mut res = (status, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(e) = &self {
            // Log the whole chain; the client only learns that something went wrong.
            let mut chain = e.to_string();
            let mut source = e.source();
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(error = %chain, "admin API request failed");
        }
        let mut res = problem_response(self.status(), &self.to_problem());
        match &self {
            ApiError::Unauthorized(_) => {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RateLimited { retry_after_secs } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                    res.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            _ => {}
        }
        res
    }
}

/// Collects field errors; `finish` turns them into a 422 when there are any.
#[derive(Default, Debug)]
pub struct Violations(Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }
    /// Records `result`'s error, if any, against `field`.
    pub fn check<E: std::fmt::Display>(&mut self, field: &str, result: Result<(), E>) {
        if let Err(e) = result {
            self.add(field, e.to_string());
        }
    }
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_have_stable_types_and_statuses() {
        let p = ApiError::field("uri", "must not be empty").to_problem();
        assert_eq!(p.type_uri, "https://junction.dev/problems/validation");
        assert_eq!(p.status, 422);
        assert_eq!(p.errors, vec![FieldError::new("uri", "must not be empty")]);
        assert_eq!(ApiError::NotFound.to_problem().status, 404);
        let p = ApiError::Unavailable("session directory unavailable".into()).to_problem();
        assert_eq!(
            (p.type_uri.as_str(), p.status, p.detail.as_deref()),
            (
                "https://junction.dev/problems/unavailable",
                503,
                Some("session directory unavailable")
            )
        );
    }

    #[test]
    fn internal_errors_do_not_leak_details() {
        let e = ApiError::internal(std::io::Error::other("password=hunter2 at db"));
        let p = e.to_problem();
        assert_eq!(p.status, 500);
        assert!(p.detail.is_none());
        assert!(!serde_json::to_string(&p).unwrap().contains("hunter2"));
    }
}
