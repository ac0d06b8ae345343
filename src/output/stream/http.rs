//! What the stream's HTTP servers share: the bearer-token check and plain-text refusals.
//!
//! Input: request headers, reasons. Output: a yes or no, responses. Thread: tasks on the stream runtime.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq as _;

/// Whether the request carries `token` (compared in constant time); any request passes without one.
pub(crate) fn authorized(token: Option<&str>, headers: &HeaderMap) -> bool {
    let Some(token) = token else { return true };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .unwrap_or("");
    bool::from(given.trim().as_bytes().ct_eq(token.as_bytes()))
}

/// A plain-text error response.
pub(crate) fn refuse(status: StatusCode, reason: impl Into<String>) -> Response {
    let mut text = reason.into();
    text.push('\n');
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// 401 with the `WWW-Authenticate: Bearer` challenge.
pub(crate) fn unauthorized() -> Response {
    let mut r = refuse(StatusCode::UNAUTHORIZED, "a bearer token is required (Authorization: Bearer TOKEN)");
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}
