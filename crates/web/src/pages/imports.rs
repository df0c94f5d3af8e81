//! Imports from the browser: upload a resident or dose file, see what it would do (a dry run of
//! the real importer: the same checks, counts and first errors, then rolled back), apply it,
//! download its row-error report; the list of past imports with their summaries.

use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sesshu_app::imports::{ImportKind, ImportOutcome, ImportRequest};
use sesshu_app::jobs::Progress;
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::Permission;
use sesshu_formats::ErrorReport;
use sesshu_store::ImportMode;

use super::{Chrome, PageError, Staff, filters, render};
use crate::state::AppState;
use sesshu_app::view::ImportRunView;

/// The largest file accepted through the browser (a full feed of a large city fits).
pub(crate) const MAX_UPLOAD_BYTES: usize = 512 * 1024 * 1024;
/// Uploads not applied within this time are forgotten.
const UPLOAD_MINUTES: i64 = 30;
const SHOWN_ERRORS: usize = 20;

/// A file uploaded and previewed, waiting for "適用".
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    tenant: MunicipalityCode,
    session: String,
    kind: ImportKind,
    mode: ImportMode,
    file_name: String,
    bytes: Arc<Vec<u8>>,
    expires: chrono::DateTime<chrono::Utc>,
    /// Its dry run, shown again when the apply form comes back unconfirmed.
    preview: ImportOutcome,
}

#[derive(Template)]
#[template(path = "imports.html")]
struct ImportsPage {
    chrome: Chrome,
    runs: Vec<ImportRunView>,
    preview: Option<ImportOutcome>,
    upload_id: Option<String>,
    file_name: String,
    applied: Option<ImportOutcome>,
    error: Option<String>,
    /// The apply form came back without the tick its identity changes need.
    confirm_error: Option<String>,
    confirm_from: u64,
}

/// What staff read for an import's kind and status (the API keeps the codes).
fn label(code: &str) -> &str {
    match code {
        "residents" => "住民記録",
        "doses" => "接種記録",
        "applied" => "適用済み",
        "partial" => "一部適用 (誤りの行を除く)",
        "refused" => "取り込まず",
        other => other,
    }
}

impl ImportsPage {
    pub fn label<'a>(&self, code: &'a str) -> &'a str {
        label(code)
    }
}

async fn page(
    state: &AppState,
    staff: &Staff,
    preview: Option<(ImportOutcome, String, String)>,
    applied: Option<ImportOutcome>,
    error: Option<String>,
) -> Result<Response, PageError> {
    page_with(state, staff, preview, applied, error, None).await
}

async fn page_with(
    state: &AppState,
    staff: &Staff,
    preview: Option<(ImportOutcome, String, String)>,
    applied: Option<ImportOutcome>,
    error: Option<String>,
    confirm_error: Option<String>,
) -> Result<Response, PageError> {
    let runs = state
        .app
        .import_runs(&staff.caller, staff.tenant, 50)
        .await?;
    let (preview, upload_id, file_name) = match preview {
        Some((o, id, name)) => (Some(o), Some(id), name),
        None => (None, None, String::new()),
    };
    let page = ImportsPage {
        chrome: staff.chrome(state, "取込").await,
        runs: runs.iter().map(ImportRunView::from).collect(),
        preview,
        upload_id,
        file_name,
        applied,
        error,
        confirm_error,
        confirm_from: sesshu_app::imports::IDENTITY_CONFIRM_FROM,
    };
    Ok(render(&page))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::ImportRun, "import.read")
        .await?;
    page(&state, &staff, None, None, None).await
}

/// The upload as the application layer takes it.
fn request(u: &Upload, dry_run: bool, confirmed: bool) -> ImportRequest {
    ImportRequest {
        kind: u.kind,
        mode: u.mode,
        file_name: u.file_name.clone(),
        bytes: u.bytes.clone(),
        dry_run,
        confirm_identity_changes: confirmed,
    }
}

pub(crate) async fn preview(
    State(state): State<AppState>,
    staff: Staff,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::ImportRun, "import.run")
        .await?;
    let mut csrf = String::new();
    let mut kind = ImportKind::Residents;
    let mut mode = ImportMode::Diff;
    let mut file: Option<(String, Vec<u8>)> = None;
    let bad = |_| PageError::BadRequest("アップロードを読めませんでした".into());
    while let Some(f) = multipart.next_field().await.map_err(bad)? {
        match f.name().unwrap_or("") {
            "csrf" => csrf = f.text().await.map_err(bad)?,
            "kind" => {
                kind = match f.text().await.map_err(bad)?.as_str() {
                    "doses" => ImportKind::Doses,
                    _ => ImportKind::Residents,
                }
            }
            "mode" => {
                mode = match f.text().await.map_err(bad)?.as_str() {
                    "full" => ImportMode::Full,
                    _ => ImportMode::Diff,
                }
            }
            "file" => {
                let name = f
                    .file_name()
                    .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).to_owned())
                    .unwrap_or_else(|| "upload.csv".into());
                file = Some((name, f.bytes().await.map_err(bad)?.to_vec()));
            }
            _ => {}
        }
    }
    staff.check_csrf(&csrf)?;
    let Some((file_name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return page(
            &state,
            &staff,
            None,
            None,
            Some("ファイルを選んでください".into()),
        )
        .await;
    };
    let req = ImportRequest {
        kind,
        mode,
        file_name: file_name.clone(),
        bytes: Arc::new(bytes),
        dry_run: true,
        confirm_identity_changes: false,
    };
    let outcome = state
        .app
        .import_file(
            &staff.caller,
            staff.tenant,
            &req,
            SHOWN_ERRORS,
            &Progress::default(),
        )
        .await?;
    let upload = Upload {
        tenant: staff.tenant,
        session: staff.key.clone(),
        kind,
        mode,
        file_name: file_name.clone(),
        bytes: req.bytes,
        expires: chrono::Utc::now() + chrono::Duration::minutes(UPLOAD_MINUTES),
        preview: outcome.clone(),
    };
    let id = sesshu_store::random_hex(16);
    if let Ok(mut m) = state.pages.uploads.lock() {
        let now = chrono::Utc::now();
        m.retain(|_, u| u.expires > now);
        m.insert(id.clone(), upload);
    }
    page(&state, &staff, Some((outcome, id, file_name)), None, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ApplyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    upload: String,
    /// The tick under the list of names and birth dates the file changes.
    confirm_identity: Option<String>,
}

pub(crate) async fn apply(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<ApplyForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::ImportRun, "import.run")
        .await?;
    staff.check_csrf(&f.csrf)?;
    let confirmed = f.confirm_identity.is_some();
    // Only the session that uploaded the file may apply it, and only once. A file whose
    // identity changes were not confirmed stays, to be confirmed.
    let mut unconfirmed = None;
    let upload = state.pages.uploads.lock().ok().and_then(|mut m| {
        let mine = m
            .get(&f.upload)
            .filter(|u| u.session == staff.key && u.tenant == staff.tenant)?;
        if mine.preview.identity_confirmation_needed && !confirmed {
            unconfirmed = Some((mine.preview.clone(), mine.file_name.clone()));
            return None;
        }
        m.remove(&f.upload)
    });
    if let Some((preview, file_name)) = unconfirmed {
        let n = preview.identity_changed;
        return page_with(
            &state,
            &staff,
            Some((preview, f.upload.clone(), file_name)),
            None,
            None,
            Some(format!(
                "{n}人の氏名・生年月日が変わります。一覧を確かめ、確認の印を付けてから適用してください"
            )),
        )
        .await;
    }
    let Some(upload) = upload else {
        return page(
            &state,
            &staff,
            None,
            None,
            Some("確認済みのファイルが見つかりません (30分を過ぎたか、適用済みです)。もう一度アップロードしてください。".into()),
        )
        .await;
    };
    // A large file takes minutes: it runs as a job whose page shows its progress.
    let (actor, tenant, req) = (
        staff.caller.clone(),
        staff.tenant,
        request(&upload, false, confirmed),
    );
    let job = state
        .app
        .start_job(
            &staff.caller,
            staff.tenant,
            "import.run",
            &upload.file_name,
            move |app, progress| async move {
                let outcome = app
                    .import_file(&actor, tenant, &req, SHOWN_ERRORS, &progress)
                    .await?;
                Ok(serde_json::to_value(outcome)?)
            },
        )
        .await;
    match job {
        Ok(job) => Ok(Redirect::to(&format!("/jobs/{}", job.job_id)).into_response()),
        Err(sesshu_app::AppError::Invalid(m)) => page(&state, &staff, None, None, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}

/// The stored row errors of one import as CSV (line, column, reason, redacted value).
pub(crate) async fn errors_csv(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::ImportRun, "import.read")
        .await?;
    // Scoped to the caller's municipality: another's import id yields no rows.
    // The rows' values (redacted of My Numbers) leave the system: an export, recorded.
    let errors = state
        .app
        .import_errors(&staff.caller, staff.tenant, &id)
        .await?;
    let mut report =
        ErrorReport::new(Vec::new()).map_err(|e| PageError::BadRequest(e.to_string()))?;
    for e in &errors {
        report
            .write(e)
            .map_err(|e| PageError::BadRequest(e.to_string()))?;
    }
    let body = report
        .finish()
        .map_err(|e| PageError::BadRequest(e.to_string()))?;
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"import-errors.csv\""),
    );
    Ok(r)
}
