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
use sesshu_app::imports::{ImportFile, ImportKind, ImportOutcome, ImportRequest};
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
/// Previewed uploads one account may hold at once (one per session: a new preview replaces the
/// session's last); the oldest goes when another comes.
const UPLOADS_PER_ACCOUNT: usize = 2;
/// All previewed uploads the server holds on disk; beyond it a new preview waits (busy).
const UPLOADS_TOTAL_BYTES: u64 = 4 * 1024 * 1024 * 1024;
const SHOWN_ERRORS: usize = 20;

/// A file uploaded and previewed, waiting for "適用".
#[derive(Debug, Clone)]
pub(crate) struct Upload {
    tenant: MunicipalityCode,
    session: String,
    login: String,
    kind: ImportKind,
    mode: ImportMode,
    file_name: String,
    /// Written to a private temporary file as it arrived: a waiting upload holds disk, not
    /// memory, and is removed when it is applied, replaced or forgotten.
    file: ImportFile,
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
        file: u.file.clone(),
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
    let mut file: Option<(String, ImportFile)> = None;
    let bad = |_| PageError::BadRequest("アップロードを読めませんでした".into());
    while let Some(mut f) = multipart.next_field().await.map_err(bad)? {
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
                // Streamed to disk as it arrives: memory stays flat whatever the file's size.
                let mut spill = tempfile::Builder::new()
                    .prefix("sesshu-upload-")
                    .tempfile()
                    .map_err(|e| {
                        PageError::Failed(sesshu_app::AppError::Internal(e.to_string()))
                    })?;
                while let Some(chunk) = f.chunk().await.map_err(bad)? {
                    std::io::Write::write_all(&mut spill, &chunk).map_err(|e| {
                        PageError::Failed(sesshu_app::AppError::Internal(e.to_string()))
                    })?;
                }
                file = Some((name, ImportFile::Spilled(Arc::new(spill))));
            }
            _ => {}
        }
    }
    staff.check_csrf(&state, &csrf).await?;
    let Some((file_name, spilled)) = file.filter(|(_, f)| !f.is_empty()) else {
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
        file: spilled,
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
        login: staff.login.clone(),
        kind,
        mode,
        file_name: file_name.clone(),
        file: req.file,
        expires: chrono::Utc::now() + chrono::Duration::minutes(UPLOAD_MINUTES),
        preview: outcome.clone(),
    };
    let id = sesshu_store::random_hex(16);
    if let Ok(mut m) = state.pages.uploads.lock()
        && !keep_upload(
            &mut m,
            id.clone(),
            upload,
            chrono::Utc::now(),
            UPLOADS_TOTAL_BYTES,
        )
    {
        return Err(PageError::Internal(sesshu_store::StoreError::Busy));
    }
    page(&state, &staff, Some((outcome, id, file_name)), None, None).await
}

/// Keeps a previewed upload within the limits: expired ones go, the session's previous one is
/// replaced, an account keeps at most [`UPLOADS_PER_ACCOUNT`] (the oldest goes), and the server
/// at most `total_bytes` ([`UPLOADS_TOTAL_BYTES`]) — beyond that the new one is not kept (`false`).
fn keep_upload(
    kept: &mut std::collections::HashMap<String, Upload>,
    id: String,
    upload: Upload,
    now: chrono::DateTime<chrono::Utc>,
    total_bytes: u64,
) -> bool {
    kept.retain(|_, u| u.expires > now && u.session != upload.session);
    loop {
        let mine: Vec<(&String, &Upload)> = kept
            .iter()
            .filter(|(_, u)| u.tenant == upload.tenant && u.login == upload.login)
            .collect();
        if mine.len() < UPLOADS_PER_ACCOUNT {
            break;
        }
        let Some(oldest) = mine
            .iter()
            .min_by_key(|(_, u)| u.expires)
            .map(|(id, _)| (*id).clone())
        else {
            break;
        };
        kept.remove(&oldest);
    }
    let held: u64 = kept.values().map(|u| u.file.len()).sum();
    if held + upload.file.len() > total_bytes {
        return false;
    }
    kept.insert(id, upload);
    true
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
    staff.check_csrf(&state, &f.csrf).await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn upload(session: &str, login: &str, bytes: usize, minutes: i64) -> Upload {
        Upload {
            tenant: MunicipalityCode::parse("132098").unwrap_or_else(|_| unreachable!()),
            session: session.into(),
            login: login.into(),
            kind: ImportKind::Residents,
            mode: ImportMode::Diff,
            file_name: "f.csv".into(),
            file: ImportFile::Bytes(Arc::new(vec![b'x'; bytes])),
            expires: chrono::Utc::now() + chrono::Duration::minutes(minutes),
            preview: ImportOutcome {
                status: "applied".into(),
                message: None,
                counts: Vec::new(),
                errors: Vec::new(),
                error_count: 0,
                import_id: String::new(),
                identity_changed: 0,
                identity_changes: Vec::new(),
                identity_confirmation_needed: false,
            },
        }
    }

    /// Someone uploading again and again holds one preview per session and two per account;
    /// an expired one is gone; together they never exceed what the server keeps.
    #[test]
    fn previews_are_capped_per_session_account_and_in_all() {
        let now = chrono::Utc::now();
        let limit = 100;
        let mut kept = std::collections::HashMap::new();
        let keep = |kept: &mut std::collections::HashMap<String, Upload>, id: &str, u| {
            keep_upload(kept, id.to_owned(), u, now, limit)
        };
        for i in 0..5 {
            assert!(keep(
                &mut kept,
                &format!("a{i}"),
                upload("s1", "tanaka", 10, 30 + i)
            ));
        }
        assert_eq!(kept.len(), 1, "one per session: the latest");
        assert!(kept.contains_key("a4"));
        assert!(keep(&mut kept, "b", upload("s2", "tanaka", 10, 40)));
        assert!(keep(&mut kept, "c", upload("s3", "tanaka", 10, 50)));
        assert_eq!(kept.len(), 2, "two per account: the oldest went");
        assert!(!kept.contains_key("a4"));
        assert!(keep(&mut kept, "d", upload("s4", "suzuki", 10, -1)));
        assert!(keep(&mut kept, "e", upload("s5", "sato", 10, 30)));
        assert!(!kept.contains_key("d"), "expired");
        assert!(
            !keep(&mut kept, "f", upload("s6", "ito", 71, 30)),
            "30 held + 71 is over the limit"
        );
        assert!(!kept.contains_key("f"));
        assert!(keep(&mut kept, "g", upload("s7", "ito", 70, 30)));
    }
}
