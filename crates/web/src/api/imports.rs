//! Imports through the API: the file is the request's body, checked (`dry_run=true`) or
//! applied by the same importer as the pages and the command line, and answered with the
//! counts and the first row errors.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sesshu_app::imports::{ImportFile, ImportKind, ImportRequest};
use sesshu_app::jobs::Progress;
use sesshu_store::ImportMode;

use super::{ApiError, AppState, tenant};
use crate::problem::{ApiQuery, Problem};
use crate::session::Caller;

/// Row errors returned with the answer; all of them are kept with the import.
const SHOWN_ERRORS: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportQuery {
    /// `residents` or `doses`.
    kind: String,
    /// Residents: `diff` (default) or `full`.
    mode: Option<String>,
    /// The file's name as the import history shows it.
    file_name: Option<String>,
    #[serde(default)]
    dry_run: bool,
    /// Applies a resident file that changes the names or birth dates of many persons, after the
    /// caller has read them in a dry run.
    #[serde(default)]
    confirm_identity_changes: bool,
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::Fields(vec![(field.to_owned(), message.to_owned())])
}

/// `POST …/imports?kind=residents&mode=full&dry_run=true` (import.run) with the file as the
/// body (`text/csv` or `application/octet-stream`; Shift_JIS or UTF-8, as the importer reads).
pub(crate) async fn upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    ApiQuery(q): ApiQuery<ImportQuery>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = tenant(&code)?;
    let kind = match q.kind.as_str() {
        "residents" => ImportKind::Residents,
        "doses" => ImportKind::Doses,
        _ => return Err(invalid("kind", "kind は residents か doses です")),
    };
    let mode = match q.mode.as_deref().unwrap_or("diff") {
        "diff" => ImportMode::Diff,
        "full" => ImportMode::Full,
        _ => return Err(invalid("mode", "mode は diff か full です")),
    };
    if body.is_empty() {
        return Err(
            Problem::bad_request("ファイルが空です (本文にファイルを送ってください)").into(),
        );
    }
    let file_name = q
        .file_name
        .as_deref()
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).trim())
        .filter(|n| !n.is_empty())
        .unwrap_or("api-upload.csv")
        .to_owned();
    let request = ImportRequest {
        kind,
        mode,
        file_name,
        file: ImportFile::Bytes(Arc::new(body.to_vec())),
        dry_run: q.dry_run,
        confirm_identity_changes: q.confirm_identity_changes,
    };
    let outcome = state
        .app
        .import_file(
            &caller,
            tenant,
            &request,
            SHOWN_ERRORS,
            &Progress::default(),
        )
        .await?;
    let errors: Vec<_> = outcome
        .errors
        .iter()
        .map(|e| {
            json!({
                "line": e.line, "column": e.column, "reason": e.reason,
                "address_number": e.address_number, "clinic": e.clinic,
            })
        })
        .collect();
    let mut body = serde_json::to_value(&outcome).map_err(|e| ApiError::Failed(e.into()))?;
    body["counts"] = outcome
        .counts
        .iter()
        .map(|(label, n)| json!({"label": label, "count": n}))
        .collect();
    body["errors"] = json!(errors);
    body["dry_run"] = json!(q.dry_run);
    if outcome.status == "refused" {
        let problem = if outcome.identity_confirmation_needed {
            Problem::new(
                StatusCode::CONFLICT,
                "confirmation_required",
                "氏名・生年月日が変わる方が多いため、取り込みませんでした",
            )
            .detail(
                "dry_run=true の結果 (identity_changes) を確かめ、confirm_identity_changes=true を付けて送り直してください",
            )
        } else {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "import_refused",
                "ファイルを取り込みませんでした",
            )
            .detail(outcome.message.clone().unwrap_or_default())
        };
        return Err(problem.with("result", body).into());
    }
    let status = if q.dry_run {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(body)).into_response())
}
