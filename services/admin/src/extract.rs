//! Extractors whose rejections are problem+json: JSON bodies (400 for unreadable JSON, 422
//! with the field path for unknown fields and wrong types), query strings, and pagination.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use junction_store::{Page, PageRequest};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, FieldError};

/// A JSON request body. Request types use `#[serde(deny_unknown_fields)]`.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        if !is_json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })?;
        parse_json(&bytes).map(Json)
    }
}

/// Parses a JSON body: syntax errors are 400, content errors 422 with the field path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    match serde_path_to_error::deserialize(de) {
        Ok(value) => Ok(value),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            match inner.classify() {
                serde_json::error::Category::Data => {
                    let field = if path == "." { String::new() } else { path };
                    Err(ApiError::Validation(vec![FieldError::new(
                        field,
                        strip_position(&inner),
                    )]))
                }
                _ => Err(ApiError::BadRequest(format!("malformed JSON: {inner}"))),
            }
        }
    }
}

/// serde_json appends " at line 1 column 12" to its messages: noise in a field message.
fn strip_position(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A query string. Unknown parameters and bad values are 400/422 problems.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded_de(query)?;
        Ok(Query(de))
    }
}

fn serde_urlencoded_de<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    // Query values arrive as strings; go through a JSON object of strings so that the same
    // path-aware errors apply. Numbers are parsed by the target type's `deserialize_with`.
    let mut map = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = percent_decode(k).ok_or_else(|| ApiError::BadRequest("bad query string".into()))?;
        let v = percent_decode(v).ok_or_else(|| ApiError::BadRequest("bad query string".into()))?;
        if map
            .insert(k.clone(), serde_json::Value::String(v))
            .is_some()
        {
            return Err(ApiError::field(k, "must be given at most once"));
        }
    }
    let bytes = serde_json::to_vec(&map).map_err(ApiError::internal)?;
    parse_json(&bytes)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Pagination parameters of every list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page, 1 to 200 (default 50).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 200)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

impl ListParams {
    /// Validates the parameters into a store page request.
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = match &self.limit {
            None => DEFAULT_LIMIT,
            Some(s) => match s.parse::<u32>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(ApiError::field("limit", "must be an integer from 1 to 200")),
            },
        };
        let after = match &self.cursor {
            None => None,
            Some(c) => Some(
                decode_cursor(c)
                    .ok_or_else(|| ApiError::field("cursor", "is not a cursor from this API"))?,
            ),
        };
        Ok(PageRequest { after, limit })
    }
}

fn encode_cursor(after: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("v1:{after}"))
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()?;
    let s = String::from_utf8(bytes).ok()?;
    let id = s.strip_prefix("v1:")?;
    (!id.is_empty() && id.len() < 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| id.to_string())
}

/// One page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    pub fn from_page<U>(page: Page<U>, f: impl Fn(U) -> T) -> Self {
        List {
            items: page.items.into_iter().map(f).collect(),
            next_cursor: page.next_after.as_deref().map(encode_cursor),
        }
    }
}

impl<T: Serialize> IntoResponse for List<T> {
    fn into_response(self) -> Response {
        axum::Json(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        inner: Option<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn json_errors_are_400_for_syntax_and_422_with_path_for_content() {
        let e = parse_json::<Body>(b"{not json").unwrap_err();
        assert_eq!(e.status(), 400);
        let ApiError::Validation(errs) =
            parse_json::<Body>(br#"{"name":"a","extra":1}"#).unwrap_err()
        else {
            panic!()
        };
        assert!(
            errs[0].message.contains("unknown field `extra`"),
            "{errs:?}"
        );
        let ApiError::Validation(errs) =
            parse_json::<Body>(br#"{"name":"a","inner":{"n":"x"}}"#).unwrap_err()
        else {
            panic!()
        };
        assert_eq!(errs[0].field, "inner.n");
        assert!(!errs[0].message.contains("line"));
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let p = ListParams {
            limit: Some("10".into()),
            cursor: Some(encode_cursor("rlm_abc")),
        };
        let req = p.page().unwrap();
        assert_eq!(req.after.as_deref(), Some("rlm_abc"));
        assert_eq!(req.limit, 10);
        assert!(
            ListParams {
                limit: None,
                cursor: Some("!!".into())
            }
            .page()
            .is_err()
        );
        assert!(
            ListParams {
                limit: Some("0".into()),
                cursor: None
            }
            .page()
            .is_err()
        );
        assert!(
            ListParams {
                limit: Some("201".into()),
                cursor: None
            }
            .page()
            .is_err()
        );
    }

    #[test]
    fn query_strings_decode() {
        let q: ListParams = serde_urlencoded_de("limit=5&cursor=a%3Db").unwrap();
        assert_eq!(q.limit.as_deref(), Some("5"));
        assert_eq!(q.cursor.as_deref(), Some("a=b"));
        assert!(serde_urlencoded_de::<ListParams>("bogus=1").is_err());
    }
}
