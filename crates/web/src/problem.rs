//! Every error of the JSON API as one kind of document (RFC 9457 "problem details"): a stable
//! `code` a program can branch on, a Japanese `title` a person can read, and where it helps the
//! fields at fault. The framework's own refusals (a path that is not a route, a wrong method, a
//! body that is not JSON) are turned into the same document, and none of them echoes a value
//! the caller sent: a mistyped My Number must not come back in an error.

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;
use sesshu_domain::access::Permission;

pub(crate) const CONTENT_TYPE: &str = "application/problem+json";

/// One problem document.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    status: StatusCode,
    code: &'static str,
    title: String,
    detail: Option<String>,
    fields: Vec<(String, String)>,
    /// Members particular to the problem (the permission missing, a check's report).
    extra: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, code: &'static str, title: impl Into<String>) -> Self {
        Self {
            status,
            code,
            title: title.into(),
            detail: None,
            fields: Vec::new(),
            extra: serde_json::Map::new(),
        }
    }

    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn fields(mut self, fields: Vec<(String, String)>) -> Self {
        self.fields = fields;
        self
    }

    pub(crate) fn with(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extra.insert(key.to_owned(), value);
        self
    }

    pub(crate) fn bad_request(title: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", title)
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "認証が必要です (Authorization: Bearer <APIトークン> またはログイン)",
        )
    }

    pub(crate) fn forbidden(p: Permission) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("権限がありません: {}", p.label()),
        )
        .with("permission", json!({"code": p.code(), "label": p.label()}))
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "見つかりません")
    }

    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "内部エラーが発生しました",
        )
    }

    /// What the framework answered with `status`, said the same way as everything else.
    fn of_status(status: StatusCode) -> Self {
        let (code, title) = match status {
            StatusCode::NOT_FOUND => ("not_found", "見つかりません"),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "この URL はそのメソッドを受け付けません",
            ),
            StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "送られた内容が大きすぎます"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => (
                "unsupported_media_type",
                "この形式の内容は受け付けません (Content-Type を確かめてください)",
            ),
            StatusCode::UNAUTHORIZED => ("unauthorized", "認証が必要です"),
            StatusCode::FORBIDDEN => ("forbidden", "許可されていません"),
            s if s.is_server_error() => ("internal", "内部エラーが発生しました"),
            _ => ("invalid_request", "要求を受け付けられません"),
        };
        Self::new(status, code, title)
    }
}

/// The status of a storage failure: the database out of reach (or too busy) is 503, to be
/// tried again; out of disk 507; anything else, a damaged file included, 500.
pub(crate) fn store_status(e: &sesshu_store::StoreError) -> StatusCode {
    use sesshu_store::{Fault, StoreError};
    match (e, e.fault()) {
        (StoreError::Busy, _) | (_, Some(Fault::Unreachable)) => StatusCode::SERVICE_UNAVAILABLE,
        (_, Some(Fault::DiskFull | Fault::DiskIo)) => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Whether a storage failure's own message is for the user: it says what happened and what to
/// do (busy, out of disk, damaged, unreachable), and carries no database text.
pub(crate) fn says_why(e: &sesshu_store::StoreError) -> bool {
    matches!(e, sesshu_store::StoreError::Busy)
        || e.fault().is_some_and(|f| f != sesshu_store::Fault::Other)
}

/// How long a client refused as busy should wait before trying again.
pub(crate) const RETRY_AFTER_SECONDS: &str = "2";

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut body = json!({
            "type": format!("urn:sesshu:problem:{}", self.code),
            "title": self.title,
            "status": self.status.as_u16(),
            "code": self.code,
        });
        if let Some(d) = &self.detail {
            body["detail"] = json!(d);
        }
        if !self.fields.is_empty() {
            body["errors"] = self
                .fields
                .iter()
                .map(|(f, m)| json!({"field": f, "message": m}))
                .collect();
        }
        for (k, v) in self.extra {
            body[k] = v;
        }
        let mut r = (self.status, body.to_string()).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        r
    }
}

/// Under `/api/`, any error the handlers did not write themselves (no route, a wrong method, a
/// body too large, an extractor's refusal) becomes a problem document. Its text is dropped: the
/// framework's messages are English and may quote what was sent.
pub(crate) async fn for_api(request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let response = next.run(request).await;
    let status = response.status();
    if !api || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let already = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == CONTENT_TYPE.as_bytes());
    if already {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut r = Problem::of_status(status).into_response();
    if let Some(allow) = allow {
        r.headers_mut().insert(header::ALLOW, allow);
    }
    r
}

/// A JSON body, refused as a problem that names where it is wrong (line and column, or the
/// field's path) and never the value found there.
#[derive(Debug, Clone)]
pub(crate) struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| {
                let m = m.trim();
                m == "application/json" || m.ends_with("+json")
            });
        if !json {
            return Err(Problem::of_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
                .detail("Content-Type: application/json で送ってください"));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| Problem::of_status(e.status()))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// `bytes` as a `T`, or the problem saying where it went wrong.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Problem> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let value = parsed.map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let at = format!("{}行 {}列", inner.line(), inner.column());
        match inner.classify() {
            serde_json::error::Category::Data => {
                let message = inner.to_string();
                // serde names a missing field by itself, with no value: it can be repeated.
                // serde names a missing or unknown field by itself, with no value: it can be
                // repeated. Any other message may quote the value, so only its place is said.
                let named = |prefix: &str| {
                    message
                        .strip_prefix(prefix)
                        .and_then(|m| m.split('`').next())
                        .map(str::to_owned)
                };
                let detail = if let Some(field) = named("missing field `") {
                    match path.as_str() {
                        "." => format!("項目 {field} がありません"),
                        _ => format!("項目 {path}.{field} がありません"),
                    }
                } else if let Some(field) = named("unknown field `") {
                    format!("項目 {field} は使えません ({at})")
                } else {
                    format!("項目 {path} の値の型または形式が違います ({at})")
                };
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_field",
                    "送られた JSON の項目が正しくありません",
                )
                .detail(detail)
            }
            _ => Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_json",
                "送られた内容を JSON として読めません",
            )
            .detail(format!("{at} で読めなくなりました")),
        }
    })?;
    de.end().map_err(|_| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "送られた内容を JSON として読めません",
        )
        .detail("JSON の後に余分な内容があります")
    })?;
    Ok(value)
}

/// A query string, refused as a problem naming the parameter at fault.
#[derive(Debug, Clone)]
pub(crate) struct ApiQuery<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        let de = serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(ApiQuery)
            .map_err(|e| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    "検索条件 (URL の ? 以降) を読めません",
                )
                .detail(format!("パラメータ {} が正しくありません", e.path()))
            })
    }
}
