//! Recalls (勧奨): who a notice of one series would go to (a dry run with its checks), planning a
//! run, approval by a second person, printing it as PDF files with a Shift_JIS print-vendor
//! file (resumably), handing those files out, and re-issuing a lost ticket. `notice.run`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::json;
use sesshu_documents::DocumentKind;
use sesshu_documents::model::{Batch, FormRecord, NoticeRecord, TicketRecord};
use sesshu_domain::access::Permission;
use sesshu_domain::{AddressNumber, MunicipalityCode, format_wareki, parse_date};
use sesshu_store::{
    CheckFailure, Extraction, NewRun, Notice, NoticeRun, Outcome, RecallBasis, RecallQuery,
    RunPart, RunStatus, Ticket, exclusion,
};

use crate::jobs::Progress;
use crate::printing::{Printing, addressee, age_text, sha256_of, window_text, write_atomically};
use crate::{Actor, App, AppError, today_in_japan};

/// The documents a run may print, by their keys.
pub const DOCUMENTS: [&str; 3] = ["notice", "ticket", "form"];

/// A recall as a person types it (the command line's flags, the page's form): parsed once here.
#[derive(Debug, Clone, Default)]
pub struct RecallForm {
    pub series: String,
    pub dose: Option<u32>,
    pub from: String,
    pub to: String,
    /// `opens` (a cohort whose window opens in the period) or `open` (catch-up).
    pub basis: String,
    pub recall_of: Option<String>,
    /// The day the history is read on [default: today in Japan, or the period's start if later].
    pub as_of: Option<String>,
}

impl RecallForm {
    pub fn query(&self) -> Result<RecallQuery, AppError> {
        let series = self.series.trim();
        if series.is_empty() {
            return Err(AppError::Field(
                "series",
                "予防接種 (series) を選んでください".into(),
            ));
        }
        let day = |s: &str, field: &'static str, what: &str| {
            parse_date(s.trim()).map_err(|e| AppError::Field(field, format!("{what}: {e}")))
        };
        let from = day(&self.from, "from", "期間の始め")?;
        let to = day(&self.to, "to", "期間の終わり")?;
        if to < from {
            return Err(AppError::Field(
                "to",
                format!("期間の終わり ({to}) が始め ({from}) より前です"),
            ));
        }
        let basis = RecallBasis::parse(self.basis.trim()).ok_or_else(|| {
            AppError::Field(
                "basis",
                format!("基準は opens か open です ('{}')", self.basis),
            )
        })?;
        let as_of = match self
            .as_of
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            Some(s) => day(s, "as_of", "履歴の基準日")?,
            None => today_in_japan().max(from),
        };
        Ok(RecallQuery {
            series: series.to_owned(),
            dose: self.dose,
            from,
            to,
            basis,
            recall_of: self
                .recall_of
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            as_of,
        })
    }
}

/// An extraction with its comparison and checks.
#[derive(Debug)]
pub struct DryRun {
    pub extraction: Extraction,
    previous: Option<(NoticeRun, Vec<String>)>,
    pub failures: Vec<CheckFailure>,
    /// Seconds of the selection and of the second check, for the report.
    timings: [f64; 2],
}

impl DryRun {
    /// The report staff read before planning, and that a run keeps as its summary.
    pub fn report(
        &self,
        q: &RecallQuery,
        sample: &[SampleLine],
        seconds: f64,
    ) -> serde_json::Value {
        let e = &self.extraction;
        let diff = self.previous.as_ref().map(|(run, before)| {
            let now: BTreeSet<&str> = e
                .members
                .iter()
                .map(|m| m.address_number.as_str())
                .collect();
            let before: BTreeSet<&str> = before.iter().map(String::as_str).collect();
            let mut dropped: BTreeMap<&str, u64> = BTreeMap::new();
            for a in before.difference(&now) {
                let why = e
                    .exclusions
                    .get(*a)
                    .copied()
                    .unwrap_or(exclusion::OUTSIDE_AGES);
                *dropped.entry(why).or_default() += 1;
            }
            json!({
                "previous_run": run.run_id,
                "previous_period": [run.period_from, run.period_to],
                "previous_count": before.len(),
                "new": now.difference(&before).count(),
                "kept": now.intersection(&before).count(),
                "dropped": before.difference(&now).count(),
                "dropped_by_reason": dropped,
            })
        });
        let round = |s: f64| (s * 1000.0).round() / 1000.0;
        json!({
            "series": e.series,
            "series_name": e.series_name,
            "dose": q.dose,
            "period": [q.from, q.to],
            "basis": q.basis,
            "as_of": q.as_of,
            "recall_of": q.recall_of,
            "count": e.members.len(),
            "protected": e.members.iter().filter(|m| m.protected).count(),
            "examined": e.examined,
            "born": e.born,
            "cohorts": e.cohorts,
            "excluded": e.excluded,
            "sample": sample,
            "difference": diff,
            "checks": {
                "passed": self.failures.is_empty(),
                "failures": self.failures,
            },
            "seconds": round(seconds),
            "seconds_selection": round(self.timings[0]),
            "seconds_check": round(self.timings[1]),
        })
    }
}

/// A person of the sample staff read before planning, with the reason they are included.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SampleLine {
    pub address_number: String,
    pub name: String,
    pub birth_date: sesshu_domain::CivilDate,
    pub birth_date_wareki: String,
    pub protected: bool,
    pub stage: String,
    pub window: [sesshu_domain::CivilDate; 2],
    pub reason: String,
}

/// What an extraction answers: the report (with its sample) and whether the checks passed.
#[derive(Debug)]
pub struct Extracted {
    pub report: serde_json::Value,
    pub sample: Vec<SampleLine>,
    pub passed: bool,
}

/// What planning a run answers.
#[derive(Debug)]
pub enum Planned {
    /// Nobody to notify: nothing was kept.
    Nobody,
    /// The second check found persons who must not be on the list: nothing was kept.
    Blocked(serde_json::Value),
    Run(Box<NoticeRun>),
}

/// A request to plan a run.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    pub query: RecallQuery,
    /// Which of [`DOCUMENTS`].
    pub documents: Vec<String>,
    /// Print protected persons' (支援措置) addresses: only after an authorised decision.
    pub release_protected: bool,
    /// Documents per PDF file [default: the documents' setting].
    pub per_file: Option<usize>,
}

/// What printing a run answers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Printed {
    pub run: String,
    pub series: String,
    pub persons: usize,
    pub documents: Vec<String>,
    pub files_written: u32,
    pub files_resumed: u32,
    pub pages: u64,
    pub out_dir: String,
    pub vendor_csv: String,
    pub vendor_csv_unmappable_fields: usize,
    pub seconds: f64,
    pub pages_per_second: f64,
}

/// A file a run wrote, for handing out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunFile {
    pub file_name: String,
    /// `notice`, `ticket`, `form` or `vendor`.
    pub document: String,
    pub pages: u64,
}

/// A re-issued ticket and its PDF.
#[derive(Debug, Clone)]
pub struct Reissued {
    pub old: String,
    pub ticket: Ticket,
    pub pdf: Vec<u8>,
    /// Where the server kept a copy.
    pub path: PathBuf,
}

impl App {
    fn recall(&self) -> crate::recall::Recall<'_> {
        crate::recall::Recall {
            store: &self.store,
            engine: &self.engine,
        }
    }

    async fn dry_run(&self, tenant: MunicipalityCode, q: &RecallQuery) -> Result<DryRun, AppError> {
        let started = std::time::Instant::now();
        let extraction = self.recall().extract(tenant, q).await?;
        let selected = started.elapsed().as_secs_f64();
        let previous = match self.store.previous_run(tenant, &q.series).await? {
            Some(run) => {
                let addresses = self
                    .store
                    .notices_of_run(tenant, &run.run_id)
                    .await?
                    .into_iter()
                    .map(|n| n.address_number)
                    .collect();
                Some((run, addresses))
            }
            None => None,
        };
        let checking = std::time::Instant::now();
        let listed: Vec<_> = extraction
            .members
            .iter()
            .map(sesshu_store::RecallMember::listed)
            .collect();
        let failures = self.recall().check(tenant, q, &listed, false).await?;
        Ok(DryRun {
            extraction,
            previous,
            failures,
            timings: [selected, checking.elapsed().as_secs_f64()],
        })
    }

    /// Who a notice would go to, with a sample of `sample` persons by name, the difference from
    /// the previous run and the blocking checks. Changes nothing; the persons shown are audited.
    pub async fn extract_recall(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        q: &RecallQuery,
        sample: usize,
    ) -> Result<Extracted, AppError> {
        self.authorize(actor, tenant, Permission::NoticeRun, "notice.extract")
            .await?;
        let started = std::time::Instant::now();
        let dry = self.dry_run(tenant, q).await?;
        let seconds = started.elapsed().as_secs_f64();
        let shown = self.sample_of(tenant, &dry.extraction, sample).await?;
        self.record(
            actor,
            "notice.extract",
            Outcome::Ok,
            vec![],
            shown.iter().map(|s| s.address_number.clone()).collect(),
            json!({"series": q.series, "dose": q.dose, "from": q.from, "to": q.to,
                   "basis": q.basis, "recall_of": q.recall_of,
                   "count": dry.extraction.members.len()}),
        )
        .await?;
        Ok(Extracted {
            report: dry.report(q, &shown, seconds),
            passed: dry.failures.is_empty(),
            sample: shown,
        })
    }

    /// The first `n` members with their names, for staff to read before issuing.
    async fn sample_of(
        &self,
        tenant: MunicipalityCode,
        e: &Extraction,
        n: usize,
    ) -> Result<Vec<SampleLine>, AppError> {
        let mut out = Vec::new();
        for m in e.members.iter().take(n) {
            let Some(row) = self
                .store
                .person(tenant, &address(&m.address_number)?)
                .await?
            else {
                continue;
            };
            out.push(SampleLine {
                address_number: m.address_number.clone(),
                name: row.person.name.to_string(),
                birth_date: m.birth_date,
                birth_date_wareki: format_wareki(m.birth_date),
                protected: m.protected,
                stage: m.stage.clone(),
                window: m.window,
                reason: m.reason.clone(),
            });
        }
        Ok(out)
    }

    /// Plans a run from a fresh extraction: kept with its exact list, awaiting a second
    /// person's approval when the city requires it. Nothing is kept when nobody is due or the
    /// second check finds someone who must not be on the list.
    pub async fn plan_recall(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        req: &PlanRequest,
    ) -> Result<Planned, AppError> {
        self.authorize(actor, tenant, Permission::NoticeRun, "notice.plan")
            .await?;
        if req.documents.is_empty() {
            return Err(AppError::Field(
                "documents",
                "作る書類 (勧奨通知・接種券・予診票) を選んでください".into(),
            ));
        }
        for d in &req.documents {
            if !DOCUMENTS.contains(&d.as_str()) {
                return Err(AppError::Field(
                    "documents",
                    format!("書類は notice, ticket, form から選んでください ('{d}')"),
                ));
            }
        }
        let q = &req.query;
        let dry = self.dry_run(tenant, q).await?;
        if !dry.failures.is_empty() {
            return Ok(Planned::Blocked(dry.report(q, &[], 0.0)));
        }
        if dry.extraction.members.is_empty() {
            return Ok(Planned::Nobody);
        }
        let mut summary = dry.report(q, &[], 0.0);
        // Kept with the run: a resumed batch must cut its files exactly as the first attempt.
        summary["per_file"] = json!(
            req.per_file
                .filter(|n| *n > 0)
                .unwrap_or_else(|| self.documents.per_file())
        );
        let run = self
            .store
            .create_notice_run(
                tenant,
                NewRun {
                    query: q,
                    documents: &req.documents,
                    release_protected: req.release_protected,
                    needs_approval: self.documents.approval,
                    summary,
                    members: &dry.extraction.members,
                    by: &actor.actor,
                },
            )
            .await?;
        self.record(
            actor,
            "notice.plan",
            Outcome::Ok,
            dry.extraction
                .members
                .iter()
                .map(|m| m.address_number.clone())
                .collect(),
            vec![],
            json!({"run": run.run_id, "series": q.series, "from": q.from, "to": q.to,
                   "basis": q.basis, "documents": req.documents,
                   "release_protected": req.release_protected,
                   "count": run.person_count}),
        )
        .await?;
        Ok(Planned::Run(Box::new(run)))
    }

    /// The runs, newest first.
    pub async fn notice_runs(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<NoticeRun>, AppError> {
        self.authorize(actor, tenant, Permission::NoticeRun, "notice.list")
            .await?;
        Ok(self.store.notice_runs(tenant).await?)
    }

    /// One run with its first `sample` notices (the persons shown are audited).
    pub async fn notice_run(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
        sample: u32,
    ) -> Result<(NoticeRun, Vec<Notice>), AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::NoticeRun,
            "notice.read",
            json!({"run_id": run_id}),
        )
        .await?;
        let run = self.existing_run(tenant, run_id).await?;
        let notices = self
            .store
            .first_notices_of_run(tenant, run_id, sample)
            .await?;
        self.record(
            actor,
            "notice.read",
            Outcome::Ok,
            vec![],
            notices.iter().map(|n| n.address_number.clone()).collect(),
            json!({"run": run.run_id}),
        )
        .await?;
        Ok((run, notices))
    }

    async fn existing_run(
        &self,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<NoticeRun, AppError> {
        self.store
            .notice_run(tenant, run_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("通知 {run_id}")))
    }

    /// The second person's approval: refused for the planner, whichever side they planned on.
    /// A refusal is audited with its reason.
    pub async fn approve_notice_run(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<NoticeRun, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::NoticeRun,
            "notice.approve",
            json!({"run_id": run_id}),
        )
        .await?;
        self.existing_run(tenant, run_id).await?;
        let approved = self
            .store
            .approve_notice_run(tenant, run_id, &actor.actor)
            .await
            .map_err(AppError::from);
        self.record_decision(actor, "notice.approve", run_id, approved.as_ref().err())
            .await?;
        approved
    }

    /// Cancels a run not yet issued.
    pub async fn cancel_notice_run(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<(), AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::NoticeRun,
            "notice.cancel",
            json!({"run_id": run_id}),
        )
        .await?;
        self.existing_run(tenant, run_id).await?;
        let cancelled = self
            .store
            .cancel_notice_run(tenant, run_id)
            .await
            .map_err(AppError::from);
        self.record_decision(actor, "notice.cancel", run_id, cancelled.as_ref().err())
            .await?;
        cancelled
    }

    async fn record_decision(
        &self,
        actor: &Actor,
        function: &str,
        run_id: &str,
        refused: Option<&AppError>,
    ) -> Result<(), AppError> {
        let (outcome, detail) = match refused {
            None => (Outcome::Ok, json!({"run": run_id})),
            Some(e) => (
                Outcome::Refused,
                json!({"run": run_id, "refused": e.to_string()}),
            ),
        };
        self.record(actor, function, outcome, vec![], vec![], detail)
            .await
    }

    /// Where the server writes a run's files when no directory is named.
    pub fn run_dir(&self, tenant: MunicipalityCode, run_id: &str) -> PathBuf {
        self.output_dir(tenant).join("runs").join(run_id)
    }

    /// Prints a planned (and, where required, approved) run into `out` [default: the server's
    /// directory for it]: the second check once more, ticket numbers, then each file not yet
    /// written — a run interrupted part-way resumes after its last complete file — then the
    /// print vendor's file. The run is issued only when every file is there.
    pub async fn print_notice_run(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
        out: Option<&Path>,
        progress: &Progress,
    ) -> Result<Printed, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::NoticeRun,
            "notice.issue",
            json!({"run_id": run_id}),
        )
        .await?;
        let started = std::time::Instant::now();
        let run = self.existing_run(tenant, run_id).await?;
        let out = out
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.run_dir(tenant, run_id));
        let notices = self.store.notices_of_run(tenant, &run.run_id).await?;
        if run.status == RunStatus::Ready {
            // The list was right when planned; people die and move between planning and printing.
            let members: Vec<_> = notices.iter().map(Notice::listed).collect();
            let failures = self
                .recall()
                .check(tenant, &run.query(), &members, run.release_protected)
                .await?;
            if !failures.is_empty() {
                self.record(
                    actor,
                    "notice.issue",
                    Outcome::Refused,
                    vec![],
                    vec![],
                    json!({"run": run.run_id, "failures": failures.len()}),
                )
                .await?;
                let named: Vec<String> = failures
                    .iter()
                    .take(5)
                    .map(|f| format!("{} {}", f.address_number, f.problem))
                    .collect();
                return Err(AppError::Invalid(format!(
                    "{} の {} 人に発行できない理由が見つかりました ({}{})。取り消して抽出し直してください",
                    run.run_id,
                    failures.len(),
                    named.join("、"),
                    if failures.len() > 5 { "、…" } else { "" }
                )));
            }
        }
        let printing = self.printing(tenant).await?;
        let tickets = run.documents.iter().any(|d| d == "ticket");
        let line = |series: &str, dose: u32, n: u64| printing.number_line(series, dose, n);
        std::fs::create_dir_all(&out).map_err(|e| AppError::file(&out, e))?;
        let out_text = out.display().to_string();
        let run = match self
            .store
            .begin_issue(
                tenant,
                &run.run_id,
                &actor.actor,
                tickets.then_some(&line as sesshu_store::NumberLine<'_>),
                &out_text,
            )
            .await
        {
            Ok(run) => run,
            Err(e) => {
                let e = AppError::from(e);
                self.record_decision(actor, "notice.issue", run_id, Some(&e))
                    .await?;
                return Err(e);
            }
        };
        // Re-read: ticket numbers were assigned.
        let notices = self.store.notices_of_run(tenant, &run.run_id).await?;
        let per_file = per_file_of(&run, &printing);
        let done: BTreeMap<(String, u32), RunPart> = self
            .store
            .run_parts(tenant, &run.run_id)
            .await?
            .into_iter()
            .map(|p| ((p.document.clone(), p.part), p))
            .collect();
        let series_name = series_name_of(&run);
        progress.start((notices.len() * run.documents.len()) as u64);
        let (mut pages, mut written, mut skipped) = (0u64, 0u32, 0u32);
        let issued_on = format_wareki(today_in_japan());
        for document in &run.documents {
            let kind = DocumentKind::parse(document)
                .ok_or_else(|| AppError::Internal(format!("document {document}")))?;
            for (i, chunk) in notices.chunks(per_file).enumerate() {
                let part = u32::try_from(i + 1).map_err(|e| AppError::Internal(e.to_string()))?;
                let file_name = format!("{}-{}-{part:03}.pdf", run.run_id, document);
                let path = out.join(&file_name);
                if let Some(p) = done.get(&(document.clone(), part))
                    && std::fs::read(&path)
                        .map(|b| sha256_of(&b) == p.sha256)
                        .unwrap_or(false)
                {
                    // Written and unchanged before an interruption: resume after it.
                    progress.advance(chunk.len() as u64);
                    pages += p.pages;
                    skipped += 1;
                    continue;
                }
                let people = self.people_of(tenant, chunk).await?;
                let data = records(
                    kind,
                    chunk,
                    &people,
                    &printing,
                    &series_name,
                    &issued_on,
                    run.recall_of.is_some(),
                )?;
                let rendered = printing.render(kind, data).await?;
                write_atomically(&path, &rendered.pdf)?;
                let record = RunPart {
                    document: document.clone(),
                    part,
                    file_name,
                    pages: rendered.pages as u64,
                    sha256: sha256_of(&rendered.pdf),
                };
                if !done.contains_key(&(document.clone(), part)) {
                    // (A file lost or altered after it was recorded is rewritten, same number.)
                    self.store
                        .record_run_part(tenant, &run.run_id, &record)
                        .await?;
                }
                pages += record.pages;
                written += 1;
                progress.advance(chunk.len() as u64);
            }
        }
        // The vendor file is written chunk by chunk too, so memory does not grow with the run.
        let vendor = out.join(vendor_file_name(&run.run_id));
        let mut csv = VendorCsv::create(&vendor)?;
        for chunk in notices.chunks(per_file) {
            let people = self.people_of(tenant, chunk).await?;
            csv.rows(chunk, &people, &series_name)?;
        }
        let unmappable = csv.finish(&vendor)?;
        self.store.finish_issue(tenant, &run.run_id).await?;
        let seconds = started.elapsed().as_secs_f64();
        self.record(
            actor,
            "notice.issue",
            Outcome::Ok,
            notices.iter().map(|n| n.address_number.clone()).collect(),
            vec![],
            json!({"run": run.run_id, "documents": run.documents, "count": notices.len(),
                   "pages": pages, "release_protected": run.release_protected,
                   "out": out_text}),
        )
        .await?;
        Ok(Printed {
            run: run.run_id.clone(),
            series: run.series_key.clone(),
            persons: notices.len(),
            documents: run.documents.clone(),
            files_written: written,
            files_resumed: skipped,
            pages,
            out_dir: out_text,
            vendor_csv: vendor.display().to_string(),
            vendor_csv_unmappable_fields: unmappable,
            seconds: (seconds * 1000.0).round() / 1000.0,
            pages_per_second: if seconds > 0.0 {
                (pages as f64 / seconds).round()
            } else {
                0.0
            },
        })
    }

    /// The files a run wrote (its PDFs and the vendor file), for handing out.
    pub async fn notice_run_files(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
    ) -> Result<Vec<RunFile>, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::NoticeRun,
            "notice.read",
            json!({"run_id": run_id}),
        )
        .await?;
        let run = self.existing_run(tenant, run_id).await?;
        let mut files: Vec<RunFile> = self
            .store
            .run_parts(tenant, run_id)
            .await?
            .into_iter()
            .map(|p| RunFile {
                file_name: p.file_name,
                document: p.document,
                pages: p.pages,
            })
            .collect();
        if run.status == RunStatus::Issued {
            files.push(RunFile {
                file_name: vendor_file_name(run_id),
                document: "vendor".into(),
                pages: 0,
            });
        }
        Ok(files)
    }

    /// One file of a run, as written: a PDF only if it is byte for byte the one recorded.
    /// The persons it names are audited as shown.
    pub async fn notice_run_file(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        run_id: &str,
        file_name: &str,
    ) -> Result<Vec<u8>, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::NoticeRun,
            "notice.download",
            json!({"run_id": run_id}),
        )
        .await?;
        let run = self.existing_run(tenant, run_id).await?;
        let missing = || AppError::NotFound(format!("ファイル {file_name}"));
        let dir = run.output_dir.clone().ok_or_else(missing)?;
        let printing = self.printing(tenant).await?;
        let per_file = per_file_of(&run, &printing);
        let notices = self.store.notices_of_run(tenant, run_id).await?;
        let (bytes, shown) =
            if file_name == vendor_file_name(run_id) && run.status == RunStatus::Issued {
                let path = Path::new(&dir).join(file_name);
                let bytes = std::fs::read(&path).map_err(|e| AppError::file(&path, e))?;
                (bytes, notices.iter().collect::<Vec<_>>())
            } else {
                let part = self
                    .store
                    .run_parts(tenant, run_id)
                    .await?
                    .into_iter()
                    .find(|p| p.file_name == file_name)
                    .ok_or_else(missing)?;
                let path = Path::new(&dir).join(&part.file_name);
                let bytes = std::fs::read(&path).map_err(|e| AppError::file(&path, e))?;
                if sha256_of(&bytes) != part.sha256 {
                    return Err(AppError::Invalid(format!(
                        "{file_name} は書き出した後に変わっています: 印刷し直してください"
                    )));
                }
                let first = (part.part.saturating_sub(1) as usize).saturating_mul(per_file);
                (bytes, notices.iter().skip(first).take(per_file).collect())
            };
        self.record(
            actor,
            "notice.download",
            Outcome::Ok,
            vec![],
            shown.iter().map(|n| n.address_number.clone()).collect(),
            json!({"run": run_id, "file": file_name}),
        )
        .await?;
        Ok(bytes)
    }

    /// 再発行 of a lost ticket: a new number, the old one invalid from now on, and the new
    /// ticket's PDF (a copy kept under the server's directory).
    pub async fn reissue_ticket(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        ticket_number: &str,
    ) -> Result<Reissued, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::NoticeRun,
            "ticket.reissue",
            json!({"ticket": ticket_number}),
        )
        .await?;
        let ticket_number = ticket_number.trim();
        let printing = self.printing(tenant).await?;
        let line = |series: &str, dose: u32, n: u64| printing.number_line(series, dose, n);
        let ticket = match self
            .store
            .reissue_ticket(tenant, ticket_number, &actor.actor, &line)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                let e = AppError::from(e);
                self.record(
                    actor,
                    "ticket.reissue",
                    Outcome::Refused,
                    vec![],
                    vec![],
                    json!({"old": ticket_number, "refused": e.to_string()}),
                )
                .await?;
                return Err(e);
            }
        };
        let person = self
            .store
            .person(tenant, &address(&ticket.address_number)?)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("宛名番号 {}", ticket.address_number)))?
            .person;
        let series_name = self
            .engine
            .rules()
            .series
            .iter()
            .find(|s| s.key == ticket.series_key)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| ticket.series_key.clone());
        // The stage as the notice named it (初回1回目, 2期), from the notice of the first ticket.
        let first = first_ticket_of(&self.store, tenant, &ticket).await?;
        let stage = self
            .store
            .notices_of_person(tenant, &ticket.address_number)
            .await?
            .into_iter()
            .find(|n| n.ticket_number.as_deref() == Some(first.as_str()))
            .map(|n| n.stage)
            .unwrap_or_else(|| format!("{}回目", ticket.dose));
        let record = TicketRecord {
            ticket_number: ticket.ticket_number.clone(),
            number_line_qr_svg: sesshu_documents::qr::svg(&ticket.number_line)?,
            number_line: ticket.number_line.clone(),
            issued_on: format_wareki(today_in_japan()),
            addressee: addressee(&person, &person.name.to_string(), person.protected),
            person_name: person.name.to_string(),
            person_kana: person.kana.to_string(),
            birth_date: format_wareki(person.birth_date),
            series_name,
            stage,
            valid_from: format_wareki(ticket.valid_from),
            valid_until: format_wareki(ticket.valid_until),
            reissue: true,
        };
        let data = serde_json::to_value(Batch {
            letterhead: &printing.letterhead,
            records: &[record],
        })?;
        let rendered = printing.render(DocumentKind::Ticket, data).await?;
        let dir = self.output_dir(tenant).join("tickets");
        std::fs::create_dir_all(&dir).map_err(|e| AppError::file(&dir, e))?;
        let path = dir.join(format!("{}.pdf", ticket.ticket_number));
        write_atomically(&path, &rendered.pdf)?;
        self.record(
            actor,
            "ticket.reissue",
            Outcome::Ok,
            vec![ticket.address_number.clone()],
            vec![],
            json!({"old": ticket_number, "new": ticket.ticket_number}),
        )
        .await?;
        Ok(Reissued {
            old: ticket_number.to_owned(),
            ticket,
            pdf: rendered.pdf,
            path,
        })
    }

    /// A notice's person and, for a minor, the guardian the letter is addressed to.
    async fn people_of(
        &self,
        tenant: MunicipalityCode,
        notices: &[Notice],
    ) -> Result<Vec<Addressed>, AppError> {
        let today = today_in_japan();
        let mut out = Vec::with_capacity(notices.len());
        for n in notices {
            let person = self
                .store
                .person(tenant, &address(&n.address_number)?)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("宛名番号 {}", n.address_number)))?
                .person;
            let guardian = match &person.household_number {
                Some(h) if sesshu_domain::age_on(person.birth_date, today).unwrap_or(0) < 18 => {
                    let household = self.store.household(tenant, h).await?;
                    sesshu_domain::infer_guardians(&person, &household, today)
                        .first()
                        .map(|g| g.name.to_string())
                }
                _ => None,
            };
            out.push(Addressed { person, guardian });
        }
        Ok(out)
    }
}

/// The ticket a chain of re-issues started from (its notice names the stage).
async fn first_ticket_of(
    store: &sesshu_store::Store,
    tenant: MunicipalityCode,
    ticket: &Ticket,
) -> Result<String, AppError> {
    let mut current = ticket.clone();
    // Bounded: a chain longer than this is not a lost ticket but a loop in the data.
    for _ in 0..100 {
        match &current.reissue_of {
            Some(previous) => match store.ticket(tenant, previous).await? {
                Some(t) => current = t,
                None => break,
            },
            None => break,
        }
    }
    Ok(current.ticket_number)
}

fn address(s: &str) -> Result<AddressNumber, AppError> {
    AddressNumber::parse(s).map_err(|e| AppError::Invalid(e.to_string()))
}

fn per_file_of(run: &NoticeRun, printing: &Printing) -> usize {
    run.summary["per_file"]
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(printing.per_file)
}

/// The series as its notices name it.
pub fn series_name_of(run: &NoticeRun) -> String {
    run.summary["series_name"]
        .as_str()
        .unwrap_or(&run.series_key)
        .to_owned()
}

pub fn vendor_file_name(run_id: &str) -> String {
    format!("{run_id}-vendor.csv")
}

/// A notice's person and, for a minor, the guardian the letter is addressed to.
struct Addressed {
    person: sesshu_domain::Person,
    guardian: Option<String>,
}

fn records(
    kind: DocumentKind,
    notices: &[Notice],
    people: &[Addressed],
    printing: &Printing,
    series_name: &str,
    issued_on: &str,
    recall: bool,
) -> Result<serde_json::Value, AppError> {
    let l = &printing.letterhead;
    let pairs = notices.iter().zip(people);
    // Decided once, when the run was planned (releasing protected addresses clears it).
    let withheld = |n: &Notice| n.address_withheld;
    let to = |a: &Addressed| {
        a.guardian
            .clone()
            .unwrap_or_else(|| a.person.name.to_string())
    };
    Ok(match kind {
        DocumentKind::Notice => {
            let r: Vec<NoticeRecord> = pairs
                .map(|(n, a)| NoticeRecord {
                    number: n.notice_number.clone(),
                    issued_on: issued_on.to_owned(),
                    addressee: addressee(&a.person, &to(a), withheld(n)),
                    addressed_as: if a.guardian.is_some() {
                        "保護者".into()
                    } else {
                        String::new()
                    },
                    person_name: a.person.name.to_string(),
                    person_kana: a.person.kana.to_string(),
                    birth_date: format_wareki(a.person.birth_date),
                    series_name: series_name.to_owned(),
                    stage: n.stage.clone(),
                    window: window_text(n.window),
                    standard_window: n.standard_window.map(window_text),
                    recall,
                    reissue: false,
                })
                .collect();
            serde_json::to_value(Batch {
                letterhead: l,
                records: &r,
            })?
        }
        DocumentKind::Ticket => {
            let mut r: Vec<TicketRecord> = Vec::with_capacity(notices.len());
            for (n, a) in pairs {
                let number = n
                    .ticket_number
                    .clone()
                    .ok_or_else(|| AppError::Internal("接種券番号がありません".into()))?;
                let parsed: u64 = number
                    .parse()
                    .map_err(|_| AppError::Internal(format!("接種券番号 {number}")))?;
                let line = printing
                    .number_line(&n.series_key, n.dose, parsed)
                    .ok_or_else(|| AppError::Internal("番号行".into()))?;
                r.push(TicketRecord {
                    ticket_number: number,
                    number_line_qr_svg: sesshu_documents::qr::svg(&line)?,
                    number_line: line,
                    issued_on: issued_on.to_owned(),
                    addressee: addressee(&a.person, &to(a), withheld(n)),
                    person_name: a.person.name.to_string(),
                    person_kana: a.person.kana.to_string(),
                    birth_date: format_wareki(a.person.birth_date),
                    series_name: series_name.to_owned(),
                    stage: n.stage.clone(),
                    valid_from: format_wareki(n.window[0]),
                    valid_until: format_wareki(n.window[1]),
                    reissue: false,
                });
            }
            serde_json::to_value(Batch {
                letterhead: l,
                records: &r,
            })?
        }
        DocumentKind::Form => {
            let today = today_in_japan();
            let r: Vec<FormRecord> = pairs
                .map(|(n, a)| FormRecord {
                    number: n.notice_number.clone(),
                    person_name: a.person.name.to_string(),
                    person_kana: a.person.kana.to_string(),
                    birth_date: format_wareki(a.person.birth_date),
                    age: age_text(a.person.birth_date, today.max(n.window[0])),
                    sex: a.person.sex.label().into(),
                    address: if withheld(n) {
                        String::new()
                    } else {
                        [
                            a.person.address.as_deref(),
                            a.person.address_detail.as_deref(),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ")
                    },
                    guardian: a.guardian.clone().unwrap_or_default(),
                    series_name: series_name.to_owned(),
                    stage: n.stage.clone(),
                    ticket_number: n.ticket_number.clone(),
                })
                .collect();
            serde_json::to_value(Batch {
                letterhead: l,
                records: &r,
            })?
        }
        DocumentKind::Certificate | DocumentKind::Disclosure | DocumentKind::ReliefLetter => {
            return Err(AppError::Internal(format!(
                "{}は通知では作りません",
                kind.label()
            )));
        }
    })
}

/// The print vendor's file: Shift_JIS, one row per notice, the same data as the PDFs and never
/// the My Number; cells defused against formulas. A character Shift_JIS lacks becomes 〓 (the customary mark), and the fields
/// that needed it are counted.
struct VendorCsv {
    writer: csv::Writer<std::fs::File>,
    partial: PathBuf,
    unmappable: usize,
}

impl VendorCsv {
    /// Writes to `<path>.part`, renamed by [`Self::finish`].
    fn create(path: &Path) -> Result<Self, AppError> {
        let partial = path.with_extension("part");
        let file = std::fs::File::create(&partial).map_err(|e| AppError::file(&partial, e))?;
        let mut me = Self {
            writer: csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .from_writer(file),
            partial,
            unmappable: 0,
        };
        me.push(&[
            "通知番号",
            "宛名番号",
            "郵便番号",
            "住所",
            "方書",
            "宛名",
            "対象者氏名",
            "対象者カナ",
            "生年月日",
            "予防接種",
            "接種回",
            "接種期間開始",
            "接種期間終了",
            "接種券番号",
            "住所非表示",
        ])?;
        Ok(me)
    }

    fn push<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<(), AppError> {
        let mut record = Vec::with_capacity(fields.len());
        for f in fields {
            // A name or an address that starts like a formula stays text in the vendor's
            // spreadsheet.
            let f = sesshu_formats::report::defuse(f.as_ref());
            let f = f.as_ref();
            let (encoded, lacked) = crate::spreadsheet::shift_jis(f);
            if lacked {
                self.unmappable += 1;
            }
            record.push(encoded);
        }
        self.writer.write_record(&record)?;
        Ok(())
    }

    fn rows(
        &mut self,
        notices: &[Notice],
        people: &[Addressed],
        series_name: &str,
    ) -> Result<(), AppError> {
        for (n, a) in notices.iter().zip(people) {
            let withheld = n.address_withheld;
            let p = &a.person;
            let hide = |v: Option<&str>| {
                if withheld {
                    String::new()
                } else {
                    v.unwrap_or("").to_owned()
                }
            };
            let row = [
                n.notice_number.clone(),
                n.address_number.clone(),
                hide(p.postal_code.as_ref().map(|c| c.digits())),
                hide(p.address.as_deref()),
                hide(p.address_detail.as_deref()),
                a.guardian.clone().unwrap_or_else(|| p.name.to_string()),
                p.name.to_string(),
                p.kana.to_string(),
                format_wareki(p.birth_date),
                series_name.to_owned(),
                n.stage.clone(),
                n.window[0].to_string(),
                n.window[1].to_string(),
                n.ticket_number.clone().unwrap_or_default(),
                if withheld { "1".into() } else { "0".into() },
            ];
            self.push(&row)?;
        }
        Ok(())
    }

    fn finish(mut self, path: &Path) -> Result<usize, AppError> {
        self.writer
            .flush()
            .map_err(|e| AppError::file(&self.partial, e))?;
        std::fs::rename(&self.partial, path).map_err(|e| AppError::file(path, e))?;
        Ok(self.unmappable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendor_file_keeps_a_formula_as_text() -> Result<(), AppError> {
        let dir = tempfile::tempdir().map_err(|e| AppError::Internal(e.to_string()))?;
        let path = dir.path().join("vendor.csv");
        let mut csv = VendorCsv::create(&path)?;
        let mut row = vec![
            "N1",
            "100001",
            "=HYPERLINK(\"http://x\")",
            "-2",
            "@a",
            "佐藤　花子",
        ];
        row.resize(15, "");
        csv.push(&row)?;
        csv.finish(&path)?;
        let bytes = std::fs::read(&path).map_err(|e| AppError::file(&path, e))?;
        let (text, _, _) = encoding_rs::SHIFT_JIS.decode(&bytes);
        let row = text.lines().nth(1).unwrap_or_default();
        assert_eq!(
            row,
            "N1,100001,\"'=HYPERLINK(\"\"http://x\"\")\",'-2,'@a,佐藤　花子,,,,,,,,,"
        );
        Ok(())
    }
}
