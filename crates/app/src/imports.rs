//! Resident and dose files (import.run): streamed from any reader with their row errors handed
//! to the caller as they are found (the command line writes its report as it goes), audited as
//! `import.residents` / `import.doses` with the counts; and a file held in memory (an upload),
//! its dry run and its application, which the pages run as a background job.

use std::sync::Arc;

use serde_json::json;
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::Permission;
use sesshu_formats::{DoseReadOptions, ReadOptions, RowError};
use sesshu_store::{
    DoseImportOptions, DoseImportSummary, IdentityChange, ImportMode, ImportOptions, ImportStatus,
    ImportSummary, Outcome,
};

use crate::jobs::Progress;
use crate::{Actor, App, AppError, today_in_japan};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// 住民記録連携ファイル
    Residents,
    /// 予診票データ
    Doses,
}

/// A file to import, held in memory (an upload).
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub kind: ImportKind,
    /// Residents only: a full feed or a difference.
    pub mode: ImportMode,
    pub file_name: String,
    pub file: ImportFile,
    /// Check everything, then roll back.
    pub dry_run: bool,
    /// The person applying a resident file has read the names and birth dates it changes
    /// (required from [`IDENTITY_CONFIRM_FROM`] such persons on).
    pub confirm_identity_changes: bool,
}

/// From this many persons whose name or birth date a resident file changes, applying it needs
/// the confirmation of someone who has read them: a month's marriages and corrections stay
/// below it, a wrong or shifted file does not.
pub const IDENTITY_CONFIRM_FROM: u64 = 10;

/// What an import did (or would do).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportOutcome {
    pub status: String,
    pub message: Option<String>,
    /// (label as staff read it, count)
    pub counts: Vec<(String, u64)>,
    /// The first row errors, with their line, column and reason.
    #[serde(skip)]
    pub errors: Vec<RowError>,
    pub error_count: u64,
    pub import_id: String,
    /// Resident files: persons whose name or birth date the file changes, and the first of them.
    pub identity_changed: u64,
    pub identity_changes: Vec<IdentityChange>,
    /// Applying needs `confirm_identity_changes` (or, applied without it, was refused for that).
    pub identity_confirmation_needed: bool,
}

/// The file an import reads: bytes already in memory (an API request's body), or an upload
/// the pages wrote to a private temporary file as it arrived — kept there, not in memory, while
/// it waits to be applied, and removed once nobody holds it.
#[derive(Debug, Clone)]
pub enum ImportFile {
    Bytes(Arc<Vec<u8>>),
    Spilled(Arc<tempfile::NamedTempFile>),
}

impl ImportFile {
    pub fn len(&self) -> u64 {
        match self {
            ImportFile::Bytes(b) => b.len() as u64,
            ImportFile::Spilled(f) => f.as_file().metadata().map_or(0, |m| m.len()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn reader(&self) -> Result<Box<dyn std::io::Read + Send>, AppError> {
        Ok(match self {
            ImportFile::Bytes(b) => Box::new(std::io::Cursor::new(Shared(b.clone()))),
            ImportFile::Spilled(f) => Box::new(std::io::BufReader::new(
                f.reopen().map_err(|e| AppError::file(f.path(), e))?,
            )),
        })
    }
}

/// The uploaded bytes, read by the importer without a copy.
#[derive(Debug, Clone)]
struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

fn outcome_of(status: ImportStatus) -> Outcome {
    match status {
        ImportStatus::Refused => Outcome::Refused,
        ImportStatus::Applied | ImportStatus::Partial => Outcome::Ok,
    }
}

impl App {
    /// An import that stopped (the disk full, the database gone, a file that cannot be read)
    /// changed nothing, but it was attempted: its entry says so, with why. When even that entry
    /// cannot be written (the same full disk), the import's own error is what the caller sees.
    async fn failed_import<T>(
        &self,
        actor: &Actor,
        function: &str,
        file: &str,
        dry_run: bool,
        done: Result<T, sesshu_store::StoreError>,
    ) -> Result<T, AppError> {
        let e = match done {
            Ok(s) => return Ok(s),
            Err(e) => e,
        };
        if matches!(
            e.fault(),
            Some(sesshu_store::Fault::DiskFull | sesshu_store::Fault::DiskIo)
        ) {
            let _ = self.store.give_back_space().await;
        }
        let detail = json!({"file": file, "dry_run": dry_run, "status": "failed",
                            "error": e.to_string()});
        let _ = self
            .record(actor, function, Outcome::Failed, vec![], vec![], detail)
            .await;
        Err(e.into())
    }

    /// The resident register's feed: every row validated, good rows applied together (or none,
    /// as the options say), each bad one given to `on_error` with its line, column and reason;
    /// `progress` follows the bytes read.
    pub async fn import_residents<R, E, P>(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        source: R,
        options: ImportOptions,
        on_error: E,
        progress: P,
    ) -> Result<ImportSummary, AppError>
    where
        R: std::io::Read + Send + 'static,
        E: FnMut(&RowError),
        P: Fn(u64) + Send + 'static,
    {
        self.authorize(actor, tenant, Permission::ImportRun, "import.residents")
            .await?;
        let (file, dry_run) = (options.file_name.clone(), options.dry_run);
        let done = self
            .store
            .import_residents(
                tenant,
                Arc::new(self.crypto(tenant)?),
                source,
                options,
                on_error,
                progress,
            )
            .await;
        let s = self
            .failed_import(actor, "import.residents", &file, dry_run, done)
            .await?;
        // The persons whose old and new names the result lists are shown to whoever reads it.
        let shown = s
            .identity_sample
            .iter()
            .map(|c| c.address_number.clone())
            .collect();
        self.record(
            actor,
            "import.residents",
            outcome_of(s.status),
            vec![],
            shown,
            json!({
                "import_id": s.import_id, "file": file, "dry_run": dry_run,
                "sha256": s.file_sha256, "status": s.status.as_str(), "inserted": s.inserted,
                "updated": s.updated, "rejected": s.rejected,
                "identity_changed": s.identity_changed,
            }),
        )
        .await?;
        Ok(s)
    }

    /// The monthly screening-form doses: persons matched, each dose judged with the person's
    /// whole history, applied together; the same contract as [`App::import_residents`].
    pub async fn import_doses<R, E, P>(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        source: R,
        options: DoseImportOptions,
        on_error: E,
        progress: P,
    ) -> Result<DoseImportSummary, AppError>
    where
        R: std::io::Read + Send + 'static,
        E: FnMut(&RowError),
        P: Fn(u64) + Send + 'static,
    {
        self.authorize(actor, tenant, Permission::ImportRun, "import.doses")
            .await?;
        let (file, dry_run) = (options.file_name.clone(), options.dry_run);
        let done = self
            .store
            .import_doses(tenant, &self.engine, source, options, on_error, progress)
            .await;
        let s = self
            .failed_import(actor, "import.doses", &file, dry_run, done)
            .await?;
        self.record(
            actor,
            "import.doses",
            outcome_of(s.status),
            vec![],
            vec![],
            json!({
                "import_id": s.import_id, "file": file, "dry_run": dry_run,
                "sha256": s.file_sha256, "status": s.status.as_str(), "inserted": s.inserted,
                "flagged": s.flagged, "duplicate": s.duplicate, "rejected": s.rejected,
            }),
        )
        .await?;
        Ok(s)
    }

    /// Imports (or, with `dry_run`, checks) one file; the first `shown_errors` row errors come
    /// back, the rest are counted (all are kept with the import). `progress` follows the bytes
    /// read.
    pub async fn import_file(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        req: &ImportRequest,
        shown_errors: usize,
        progress: &Progress,
    ) -> Result<ImportOutcome, AppError> {
        let today = today_in_japan();
        let mut errors = Vec::new();
        let mut error_count = 0u64;
        let keep = |e: &RowError, errors: &mut Vec<RowError>, n: &mut u64| {
            *n += 1;
            if errors.len() < shown_errors {
                errors.push(e.clone());
            }
        };
        progress.start(req.file.len());
        let follow = {
            let p = progress.clone();
            move |position: u64| p.set(position)
        };
        let source = req.file.reader()?;
        let label = |pairs: &[(&str, u64)]| -> Vec<(String, u64)> {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
        };
        let mut identity = (0, Vec::new(), false);
        let (status, message, counts, import_id) = match req.kind {
            ImportKind::Residents => {
                let s = self
                    .import_residents(
                        actor,
                        tenant,
                        source,
                        ImportOptions {
                            mode: req.mode,
                            all_or_nothing: false,
                            // A dry run shows them all; the application stops at the limit
                            // unless they were confirmed.
                            max_identity_changes: (!req.dry_run && !req.confirm_identity_changes)
                                .then_some(IDENTITY_CONFIRM_FROM - 1),
                            dry_run: req.dry_run,
                            file_name: req.file_name.clone(),
                            operator: actor.actor.clone(),
                            read: ReadOptions {
                                today: Some(today),
                                ..ReadOptions::default()
                            },
                        },
                        |e| keep(e, &mut errors, &mut error_count),
                        follow,
                    )
                    .await?;
                identity = (
                    s.identity_changed,
                    s.identity_sample,
                    s.identity_refused
                        || (!req.confirm_identity_changes
                            && s.identity_changed >= IDENTITY_CONFIRM_FROM),
                );
                (
                    s.status.as_str(),
                    s.message,
                    label(&[
                        ("行数", s.total_rows),
                        ("新規", s.inserted),
                        ("更新", s.updated),
                        ("うち氏名・生年月日の変更", s.identity_changed),
                        ("変更なし", s.unchanged),
                        ("誤り", s.rejected),
                        ("ファイルにない方 (削除しません)", s.missing),
                    ]),
                    s.import_id,
                )
            }
            ImportKind::Doses => {
                let book = self.engine.rules();
                let s = self
                    .import_doses(
                        actor,
                        tenant,
                        source,
                        DoseImportOptions {
                            all_or_nothing: false,
                            dry_run: req.dry_run,
                            file_name: req.file_name.clone(),
                            operator: actor.actor.clone(),
                            read: DoseReadOptions {
                                today: Some(today),
                                products: book.product_codes(),
                                tests: book.test_codes(),
                                ..DoseReadOptions::default()
                            },
                            today,
                        },
                        |e| keep(e, &mut errors, &mut error_count),
                        follow,
                    )
                    .await?;
                (
                    s.status.as_str(),
                    s.message,
                    label(&[
                        ("行数", s.total_rows),
                        ("記録", s.inserted),
                        ("うち規則に合わない (要確認)", s.flagged),
                        ("うち見合わせ", s.deferred),
                        ("重複", s.duplicate),
                        ("誤り", s.rejected),
                    ]),
                    s.import_id,
                )
            }
        };
        let outcome = ImportOutcome {
            status: status.to_owned(),
            message,
            counts,
            errors,
            error_count,
            import_id,
            identity_changed: identity.0,
            identity_changes: identity.1,
            identity_confirmation_needed: identity.2,
        };
        progress.set(req.file.len());
        Ok(outcome)
    }
}

impl App {
    /// The municipality's imports, newest first (import.run).
    pub async fn import_runs(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        limit: u32,
    ) -> Result<Vec<sesshu_store::ImportRun>, AppError> {
        self.authorize(actor, tenant, Permission::ImportRun, "import.read")
            .await?;
        Ok(self.store.import_runs(tenant, limit).await?)
    }

    /// One import's row errors (line, column, reason, the value with any My Number redacted):
    /// they leave the system, so the export is recorded. Another municipality's import id
    /// yields no rows.
    pub async fn import_errors(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        import_id: &str,
    ) -> Result<Vec<RowError>, AppError> {
        self.authorize(actor, tenant, Permission::ImportRun, "import.errors")
            .await?;
        let errors = self.store.import_errors(tenant, import_id).await?;
        self.record(
            actor,
            "import.errors",
            Outcome::Ok,
            vec![],
            vec![],
            json!({"import_id": import_id, "rows": errors.len()}),
        )
        .await?;
        Ok(errors)
    }
}
