//! The monthly 予診票データ import (formats.md §2): every row that can be a dose is recorded — a
//! dose that breaks a routine rule is recorded and flagged, because it happened — and only rows
//! that cannot be a dose are refused (unknown person, unknown product, impossible date, a
//! duplicate). All or nothing of the good rows commit; the same file twice changes nothing.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};

use sesshu_domain::dose::age_label;
use sesshu_domain::{CivilDate, Dose, MunicipalityCode, Sex};
use sesshu_formats::{DoseReadOptions, DoseReader, DoseRecord, RowError};
use sesshu_schedule::{Engine, EvalRequest};
use sha2::{Digest, Sha256};
use sqlx::{AssertSqlSafe, Row};

use crate::dose::{DoseRow, insert_doses, next_dose_id};
use crate::import::{HashingReader, ImportStatus, RunRecord, new_import_id, record_run};
use crate::sql::Params;
use crate::{Store, StoreError, now_utc};

#[derive(Debug, Clone)]
pub struct DoseImportOptions {
    /// Refuse the whole file when any row is refused.
    pub all_or_nothing: bool,
    /// A preview: checked, matched and judged as for real, then rolled back and not recorded.
    pub dry_run: bool,
    pub file_name: String,
    pub operator: String,
    pub read: DoseReadOptions,
    /// The day doses are evaluated on (forecasts) — doses themselves are judged by their date.
    pub today: CivilDate,
}

/// What a dose import did.
#[derive(Debug, Clone)]
pub struct DoseImportSummary {
    pub import_id: String,
    pub status: ImportStatus,
    pub encoding: Option<&'static str>,
    pub file_sha256: String,
    pub total_rows: u64,
    /// Rows recorded (flagged ones included).
    pub inserted: u64,
    /// Recorded, but not routine by the rules of their date (too early, interval, age, product…).
    pub flagged: u64,
    /// The same dose is already recorded (or earlier in this file).
    pub duplicate: u64,
    /// Rows that cannot be a dose.
    pub rejected: u64,
    /// 見合わせ rows, recorded and never counted (included in `inserted`).
    pub deferred: u64,
    pub warnings: Vec<String>,
    pub message: Option<String>,
}

/// Persons looked up per statement.
const LOOKUP_CHUNK: usize = 500;

struct Facts {
    birth: CivilDate,
    sex: Sex,
}

/// A dose's natural key, compact: a million keys must not cost a million string pairs.
type DoseKey = (u64, u16, u32, CivilDate, bool);

/// Interns product codes for [`DoseKey`].
#[derive(Default)]
struct Products(HashMap<String, u16>);

impl Products {
    fn key(&mut self, address: &str, d: &Dose) -> DoseKey {
        let next = u16::try_from(self.0.len()).unwrap_or(u16::MAX);
        let product = *self.0.entry(d.product.clone()).or_insert(next);
        // Address numbers are validated digit strings (at most 15); the length keeps "012" ≠ "12".
        let number: u64 = address.parse().unwrap_or(u64::MAX);
        let address = (address.len() as u64).wrapping_mul(1_000_000_000_000_000) ^ number;
        (
            address,
            product,
            d.ordinal,
            d.given_on,
            d.judgement == sesshu_domain::DoseJudgement::Deferred,
        )
    }
}

impl Store {
    /// Imports a screening-form dose file into `tenant`, judging every dose with `engine`.
    pub async fn import_doses<R, E, P>(
        &self,
        tenant: MunicipalityCode,
        engine: &Engine,
        source: R,
        options: DoseImportOptions,
        mut on_error: E,
        progress: P,
    ) -> Result<DoseImportSummary, StoreError>
    where
        R: Read + Send + 'static,
        E: FnMut(&RowError),
        P: Fn(u64) + Send + 'static,
    {
        self.require_municipality(tenant).await?;
        let tenant_code = tenant.as_string();
        let started_at = now_utc();
        let mut summary = DoseImportSummary {
            import_id: new_import_id(),
            status: ImportStatus::Applied,
            encoding: None,
            file_sha256: String::new(),
            total_rows: 0,
            inserted: 0,
            flagged: 0,
            duplicate: 0,
            rejected: 0,
            deferred: 0,
            warnings: Vec::new(),
            message: None,
        };

        // Read and check every row first: the file is small beside the register, and judging a
        // dose needs the person's whole history, wherever in the file its rows are.
        let digest = Arc::new(Mutex::new(Sha256::new()));
        let reader = HashingReader {
            inner: source,
            digest: digest.clone(),
        };
        let read_options = options.read.clone();
        let parsed = tokio::task::spawn_blocking(move || read_all(reader, read_options, progress))
            .await
            .map_err(|e| StoreError::Interrupted(e.to_string()))?;
        summary.file_sha256 = digest
            .lock()
            .map(|d| hex::encode(d.clone().finalize()))
            .unwrap_or_default();
        let mut errors: Vec<RowError> = Vec::new();
        let records = match parsed {
            Err(message) => {
                summary.status = ImportStatus::Refused;
                summary.message = Some(message);
                self.finish_dose_run(&tenant_code, &options, &summary, &started_at, &errors)
                    .await?;
                return Ok(summary);
            }
            Ok(p) => {
                summary.encoding = Some(p.encoding);
                summary.warnings = p.warnings;
                for e in p.errors {
                    summary.rejected += 1;
                    errors.extend(e);
                }
                p.records
            }
        };
        summary.total_rows = summary.rejected + records.len() as u64;

        // The same file again: nothing to do, and say so.
        if let Some(previous) = self
            .previous_dose_import(&tenant_code, &summary.file_sha256)
            .await?
        {
            summary.duplicate = records.len() as u64;
            summary.message = Some(format!("同じファイルは取込済みです ({previous})"));
            for e in &errors {
                on_error(e);
            }
            self.finish_dose_run(&tenant_code, &options, &summary, &started_at, &errors)
                .await?;
            return Ok(summary);
        }

        let mut db = self.begin_write().await?;
        // Who each row is about.
        let wanted: Vec<String> = records
            .iter()
            .filter_map(|r| {
                r.subject
                    .address_number
                    .as_ref()
                    .map(|a| a.as_str().to_owned())
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut facts = self.person_facts(&mut db, &tenant_code, &wanted).await?;
        let mut matched: Vec<(DoseRecord, String)> = Vec::with_capacity(records.len());
        for rec in records {
            match self
                .match_person(&mut db, &tenant_code, &rec, &mut facts)
                .await?
            {
                Ok(address) => matched.push((rec, address)),
                Err(e) => {
                    summary.rejected += 1;
                    errors.push(about(e, &rec));
                }
            }
        }

        // Doses already recorded for these persons, for duplicates and for judging.
        let persons: Vec<String> = matched
            .iter()
            .map(|(_, a)| a.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut existing = self.existing_doses(&mut db, &tenant_code, &persons).await?;
        let mut products = Products::default();
        let mut seen: HashSet<DoseKey> = HashSet::new();
        for (a, ds) in &existing {
            for d in ds {
                seen.insert(products.key(a, d));
            }
        }
        let mut fresh: Vec<Option<(DoseRecord, String)>> = Vec::with_capacity(matched.len());
        for (rec, address) in matched {
            if seen.insert(products.key(&address, &rec.dose)) {
                fresh.push(Some((rec, address)));
            } else {
                summary.duplicate += 1;
                let e = RowError::new(
                    rec.line,
                    Some("接種日"),
                    "同じ接種 (製品・回数・接種日) が既に記録されています",
                    Some(&rec.dose.given_on.to_string()),
                );
                errors.push(about(e, &rec));
            }
        }

        // Judge each person's new doses with their whole history.
        let mut by_person: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (_, address)) in fresh
            .iter()
            .enumerate()
            .filter_map(|(i, f)| Some((i, f.as_ref()?)))
        {
            by_person.entry(address.clone()).or_default().push(i);
        }
        let first_id = next_dose_id(&mut db, &tenant_code).await?;
        let now = now_utc();
        let mut rows: Vec<Option<DoseRow>> = vec![None; fresh.len()];
        for (address, indexes) in &by_person {
            let Some(f) = facts.get(address).and_then(|f| f.as_ref()) else {
                continue;
            };
            let old = existing.remove(address).unwrap_or_default();
            // Moved out, not cloned: a million rows are held once.
            let new: Vec<(usize, DoseRecord)> = indexes
                .iter()
                .filter_map(|i| fresh[*i].take().map(|(rec, _)| (*i, rec)))
                .collect();
            let all: Vec<&Dose> = old
                .iter()
                .chain(new.iter().map(|(_, rec)| &rec.dose))
                .collect();
            let request =
                EvalRequest::for_person(f.birth, f.sex, all.iter().copied(), options.today);
            let response = engine.evaluate(&request);
            // Deferrals are not in the request; walk the judgements alongside the given doses.
            let mut judgements = response.history.into_iter();
            for d in &old {
                if sesshu_schedule::contract::HistoryItem::from_dose(d).is_some() {
                    judgements.next();
                }
            }
            drop(all);
            for (i, rec) in new {
                let judged =
                    if sesshu_schedule::contract::HistoryItem::from_dose(&rec.dose).is_some() {
                        judgements.next()
                    } else {
                        None
                    };
                let (routine, evaluation, stage) = match judged {
                    Some(j) => (j.routine, Some(j.reason), j.stage),
                    None => (None, Some("見合わせ".to_owned()), None),
                };
                rows[i] = Some(DoseRow {
                    dose_id: first_id + i as i64,
                    version: 1,
                    address_number: address.clone(),
                    age_at_dose: age_label(f.birth, rec.dose.given_on),
                    source_line: i64::try_from(rec.line).ok(),
                    dose: rec.dose,
                    routine,
                    evaluation,
                    stage,
                    deleted: false,
                    import_id: Some(summary.import_id.clone()),
                    recorded_at: now.clone(),
                    recorded_by: options.operator.clone(),
                    change_reason: None,
                });
            }
        }
        let rows: Vec<DoseRow> = rows.into_iter().flatten().collect();
        for row in &rows {
            if row.routine == Some(false) {
                summary.flagged += 1;
            }
            if row.dose.judgement == sesshu_domain::DoseJudgement::Deferred {
                summary.deferred += 1;
            }
        }
        summary.inserted = rows.len() as u64;

        errors.sort_by_key(|e| e.line);
        for e in &errors {
            on_error(e);
        }
        let refused = options.all_or_nothing && summary.rejected + summary.duplicate > 0;
        if refused {
            db.rollback().await?;
            summary.status = ImportStatus::Refused;
            summary.message = Some(format!(
                "{}行を取り込めないため、ファイル全体を取り込みませんでした (--all-or-nothing)",
                summary.rejected + summary.duplicate
            ));
            summary.inserted = 0;
            summary.flagged = 0;
            summary.deferred = 0;
            self.finish_dose_run(&tenant_code, &options, &summary, &started_at, &errors)
                .await?;
            return Ok(summary);
        }
        summary.status = if summary.rejected + summary.duplicate > 0 {
            ImportStatus::Partial
        } else {
            ImportStatus::Applied
        };
        if options.dry_run {
            db.rollback().await?;
            return Ok(summary);
        }
        insert_doses(&mut db, self.backend(), &tenant_code, &rows).await?;
        record_run(
            &mut db,
            self.backend(),
            &tenant_code,
            &dose_run(&options, &summary, &started_at),
            &errors,
        )
        .await?;
        db.commit().await?;
        // The next import looks up each person's doses in batches; against statistics taken
        // while the table was a fraction of its size, PostgreSQL plans those lookups as scans of
        // the whole table (the 15 M-dose benchmark stalled there on its second million).
        if summary.inserted > crate::STATISTICS_STALE_AFTER {
            self.refresh_statistics(crate::GrownTable::Dose).await?;
        }
        Ok(summary)
    }

    async fn finish_dose_run(
        &self,
        tenant: &str,
        options: &DoseImportOptions,
        summary: &DoseImportSummary,
        started_at: &str,
        errors: &[RowError],
    ) -> Result<(), StoreError> {
        if options.dry_run {
            return Ok(());
        }
        let mut db = self.begin_write().await?;
        record_run(
            &mut db,
            self.backend(),
            tenant,
            &dose_run(options, summary, started_at),
            errors,
        )
        .await?;
        db.commit().await?;
        Ok(())
    }

    async fn previous_dose_import(
        &self,
        tenant: &str,
        sha256: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = sqlx::query(
            "SELECT import_id FROM import_run WHERE municipality_code = $1 AND kind = 'doses' \
             AND file_sha256 = $2 AND status IN ('applied', 'partial') ORDER BY started_at LIMIT 1",
        )
        .bind(tenant)
        .bind(sha256)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| r.try_get("import_id")).transpose()?)
    }

    /// Birth date and sex of the persons named by address number (`None` for one not found).
    async fn person_facts(
        &self,
        db: &mut sqlx::Transaction<'static, sqlx::Any>,
        tenant: &str,
        addresses: &[String],
    ) -> Result<HashMap<String, Option<Facts>>, StoreError> {
        let mut out: HashMap<String, Option<Facts>> =
            addresses.iter().map(|a| (a.clone(), None)).collect();
        for chunk in addresses.chunks(LOOKUP_CHUNK) {
            let mut p = Params::new(self.backend());
            let t = p.next();
            let sql = format!(
                "SELECT address_number, birth_date, sex FROM person WHERE municipality_code = {t} \
                 AND address_number IN ({})",
                p.list(chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(tenant);
            for a in chunk {
                q = q.bind(a.as_str());
            }
            for r in q.fetch_all(&mut **db).await? {
                let a: String = r.try_get("address_number")?;
                out.insert(a, Some(facts_of(&r)?));
            }
        }
        Ok(out)
    }

    /// The register's person for a row: by 宛名番号, else by kana + birth date (+ sex).
    async fn match_person(
        &self,
        db: &mut sqlx::Transaction<'static, sqlx::Any>,
        tenant: &str,
        rec: &DoseRecord,
        facts: &mut HashMap<String, Option<Facts>>,
    ) -> Result<Result<String, RowError>, StoreError> {
        let s = &rec.subject;
        if let Some(a) = &s.address_number {
            let Some(Some(f)) = facts.get(a.as_str()) else {
                return Ok(Err(RowError::new(
                    rec.line,
                    Some("宛名番号"),
                    "住民記録にない宛名番号です",
                    Some(a.as_str()),
                )));
            };
            if f.birth != s.birth_date {
                return Ok(Err(RowError::new(
                    rec.line,
                    Some("生年月日"),
                    "生年月日が住民記録と一致しません",
                    Some(&s.birth_date.to_string()),
                )));
            }
            if s.sex.is_some_and(|x| x != f.sex) {
                return Ok(Err(RowError::new(
                    rec.line,
                    Some("性別"),
                    "性別が住民記録と一致しません",
                    None,
                )));
            }
            return Ok(Ok(a.as_str().to_owned()));
        }
        let Some(kana) = &s.kana else {
            return Ok(Err(RowError::new(
                rec.line,
                Some("氏名カナ"),
                "宛名番号も氏名カナもありません",
                None,
            )));
        };
        let rows = sqlx::query(
            // No ORDER BY: SQLite would walk the primary key to avoid a sort of two rows instead
            // of seeking person_kana (measured: a full scan per row). Sorted below.
            "SELECT address_number, birth_date, sex FROM person WHERE municipality_code = $1 \
             AND kana_key = $2 AND birth_date = $3",
        )
        .bind(tenant)
        .bind(kana.key())
        .bind(s.birth_date.to_string())
        .fetch_all(&mut **db)
        .await?;
        let mut candidates = Vec::new();
        for r in &rows {
            let f = facts_of(r)?;
            if s.sex.is_none_or(|x| x == f.sex) {
                candidates.push((r.try_get::<String, _>("address_number")?, f));
            }
        }
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        match candidates.len() {
            0 => Ok(Err(RowError::new(
                rec.line,
                Some("氏名カナ"),
                "氏名カナ・生年月日に一致する者が住民記録にいません",
                Some(&kana.to_string()),
            ))),
            1 => {
                let (address, f) = candidates.remove(0);
                facts.insert(address.clone(), Some(f));
                Ok(Ok(address))
            }
            _ => Ok(Err(RowError::new(
                rec.line,
                Some("氏名カナ"),
                format!(
                    "一致する者が複数います (宛名番号: {})。宛名番号を記入してください",
                    candidates
                        .iter()
                        .map(|(a, _)| a.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Some(&kana.to_string()),
            ))),
        }
    }

    async fn existing_doses(
        &self,
        db: &mut sqlx::Transaction<'static, sqlx::Any>,
        tenant: &str,
        persons: &[String],
    ) -> Result<HashMap<String, Vec<Dose>>, StoreError> {
        let mut out: HashMap<String, Vec<Dose>> = HashMap::new();
        let any = sqlx::query("SELECT 1 AS one FROM dose WHERE municipality_code = $1 LIMIT 1")
            .bind(tenant)
            .fetch_optional(&mut **db)
            .await?;
        if any.is_none() {
            return Ok(out);
        }
        for chunk in persons.chunks(LOOKUP_CHUNK) {
            let mut p = Params::new(self.backend());
            let t = p.next();
            let sql = format!(
                "SELECT * FROM dose WHERE municipality_code = {t} AND deleted = 0 \
                 AND address_number IN ({}) ORDER BY address_number, given_on, dose_id",
                p.list(chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(tenant);
            for a in chunk {
                q = q.bind(a.as_str());
            }
            for r in q.fetch_all(&mut **db).await? {
                let row = crate::dose::dose_from_row(&r)?;
                out.entry(row.address_number).or_default().push(row.dose);
            }
        }
        Ok(out)
    }
}

fn facts_of(r: &sqlx::any::AnyRow) -> Result<Facts, StoreError> {
    let birth: String = r.try_get("birth_date")?;
    let sex: i64 = r.try_get("sex")?;
    Ok(Facts {
        birth: CivilDate::parse_from_str(&birth, "%Y-%m-%d")
            .map_err(|_| StoreError::Corrupt("person.birth_date".into()))?,
        sex: Sex::from_code(sex).ok_or_else(|| StoreError::Corrupt("person.sex".into()))?,
    })
}

fn dose_run<'a>(
    options: &'a DoseImportOptions,
    s: &'a DoseImportSummary,
    started_at: &'a str,
) -> RunRecord<'a> {
    RunRecord {
        kind: "doses",
        import_id: &s.import_id,
        file_name: &options.file_name,
        file_sha256: &s.file_sha256,
        encoding: s.encoding,
        mode: "diff",
        status: s.status.as_str(),
        message: s.message.as_deref(),
        started_at,
        operator: &options.operator,
        counts: [
            s.total_rows,
            s.inserted,
            0,
            0,
            s.rejected,
            0,
            s.flagged,
            s.duplicate,
        ],
    }
}

struct Parsed {
    encoding: &'static str,
    warnings: Vec<String>,
    records: Vec<DoseRecord>,
    errors: Vec<Vec<RowError>>,
}

fn read_all<R: Read + 'static>(
    source: R,
    options: DoseReadOptions,
    progress: impl Fn(u64),
) -> Result<Parsed, String> {
    let mut reader = DoseReader::new(source, options).map_err(|e| e.to_string())?;
    let mut parsed = Parsed {
        encoding: reader.encoding().label(),
        warnings: reader.warnings().to_vec(),
        records: Vec::new(),
        errors: Vec::new(),
    };
    let mut n = 0u64;
    while let Some(row) = reader.next_record().map_err(|e| e.to_string())? {
        match row {
            Ok(r) => parsed.records.push(r),
            Err(e) => parsed.errors.push(e),
        }
        n += 1;
        if n.is_multiple_of(2048) {
            progress(reader.position());
        }
    }
    progress(reader.position());
    Ok(parsed)
}

/// A refused row's error naming its person and clinic, so the clerk can call without the file.
fn about(e: RowError, rec: &DoseRecord) -> RowError {
    let address = rec.subject.address_number.as_ref().map(|a| a.as_str());
    let clinic = sesshu_formats::dose::clinic_label(
        rec.dose.institution_code.as_deref(),
        rec.dose.institution_name.as_deref(),
    );
    e.about(address, clinic.as_deref())
}
