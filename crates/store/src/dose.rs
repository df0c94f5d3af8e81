//! Doses: recorded, corrected and deleted only by new versions, the old ones kept in
//! `dose_history` with who, when and why.

use sesshu_domain::dose::BillingMonth;
use sesshu_domain::{AntibodyResult, CivilDate, Dose, DoseJudgement, MunicipalityCode};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AssertSqlSafe, Transaction};

use crate::columns::Columns;
use crate::sql::{Params, Value};
use crate::{Backend, Store, StoreError, now_utc};

/// Every column of `dose` (and, before its own two, of `dose_history`), in binding order.
pub(crate) const DOSE_COLUMNS: &str = "municipality_code, dose_id, version, address_number, product, ordinal, given_on, \
    judgement, institution_code, institution_name, doctor, lot, manufacturer, amount_ml, screened_on, billing_month, \
    subsidy_yen, ticket_number, notes, given_elsewhere, antibody_result, age_at_dose, routine, evaluation, stage, \
    deleted, import_id, source_line, recorded_at, recorded_by, change_reason";
pub(crate) const DOSE_COLUMN_COUNT: usize = 31;

/// A stored dose with what the register knows about its recording.
#[derive(Debug, Clone, PartialEq)]
pub struct DoseRow {
    pub dose_id: i64,
    pub version: i64,
    pub address_number: String,
    pub dose: Dose,
    /// 接種日年齢 as recorded.
    pub age_at_dose: Option<String>,
    /// The judgement when it was recorded: routine or not (flagged), why, and its 期/回.
    pub routine: Option<bool>,
    pub evaluation: Option<String>,
    pub stage: Option<String>,
    pub deleted: bool,
    pub import_id: Option<String>,
    pub source_line: Option<i64>,
    pub recorded_at: String,
    pub recorded_by: String,
    /// Why this version was written (a correction or deletion), empty for the first.
    pub change_reason: Option<String>,
}

/// A superseded version of a dose.
#[derive(Debug, Clone, PartialEq)]
pub struct DoseVersion {
    pub row: DoseRow,
    pub superseded_at: String,
    pub superseded_by: String,
}

/// Persons judged at a time when they stream through the pool: enough to keep every core busy,
/// few enough that a pass over the whole register stays small in memory.
const JUDGE_BATCH: usize = 4096;

/// The pool path's judging: persons gathered as they stream in, each batch judged on every core
/// (the SQLite file's readers judge in parallel already; this gives PostgreSQL the same).
struct BatchJudge<'j, V> {
    judge: &'j (dyn Fn(PersonFacts, Vec<Dose>) -> V + Sync),
    batch: Vec<(PersonFacts, Vec<Dose>)>,
    out: Vec<V>,
    failed: bool,
}

impl<'j, V: Send> BatchJudge<'j, V> {
    fn new(judge: &'j (dyn Fn(PersonFacts, Vec<Dose>) -> V + Sync)) -> Self {
        Self {
            judge,
            batch: Vec::with_capacity(JUDGE_BATCH),
            out: Vec::new(),
            failed: false,
        }
    }

    fn push(&mut self, p: PersonFacts, d: Vec<Dose>) {
        self.batch.push((p, d));
        if self.batch.len() >= JUDGE_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let work = std::mem::take(&mut self.batch);
        let threads = crate::sqlite_file::threads();
        let judge = self.judge;
        if threads <= 1 || work.len() < 2 * threads {
            self.out.extend(work.into_iter().map(|(p, d)| judge(p, d)));
            return;
        }
        let size = work.len().div_ceil(threads);
        let mut chunks: Vec<Vec<(PersonFacts, Vec<Dose>)>> = Vec::with_capacity(threads);
        let mut rest = work.into_iter();
        loop {
            let chunk: Vec<_> = rest.by_ref().take(size).collect();
            if chunk.is_empty() {
                break;
            }
            chunks.push(chunk);
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .into_iter()
                            .map(|(p, d)| judge(p, d))
                            .collect::<Vec<V>>()
                    })
                })
                .collect();
            for h in handles {
                match h.join() {
                    Ok(mut v) => self.out.append(&mut v),
                    Err(_) => self.failed = true,
                }
            }
        });
    }

    fn finish(mut self) -> Result<Vec<V>, StoreError> {
        self.flush();
        if self.failed {
            return Err(StoreError::Interrupted("判定の並列処理".into()));
        }
        Ok(self.out)
    }
}

/// Which of a person's doses a question needs: these products, given between these days.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoseScope {
    pub products: Vec<String>,
    pub from: CivilDate,
    pub to: CivilDate,
}

impl DoseScope {
    pub fn holds(&self, d: &Dose) -> bool {
        (self.from..=self.to).contains(&d.given_on) && self.products.contains(&d.product)
    }
}

/// The judgement to store with a new or corrected dose.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Judged {
    pub routine: Option<bool>,
    pub evaluation: Option<String>,
    pub stage: Option<String>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("dose.{what}"))
}

fn date(s: &str, what: &str) -> Result<CivilDate, StoreError> {
    CivilDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| corrupt(what))
}

pub(crate) fn dose_from_row(r: &impl Columns) -> Result<DoseRow, StoreError> {
    let opt_date = |col: &str| -> Result<Option<CivilDate>, StoreError> {
        r.try_get::<Option<String>>(col)?
            .map(|s| date(&s, col))
            .transpose()
    };
    let judgement: String = r.try_get("judgement")?;
    let antibody: Option<String> = r.try_get("antibody_result")?;
    let billing: Option<String> = r.try_get("billing_month")?;
    let ordinal: i64 = r.try_get("ordinal")?;
    let routine: Option<i64> = r.try_get("routine")?;
    Ok(DoseRow {
        dose_id: r.try_get("dose_id")?,
        version: r.try_get("version")?,
        address_number: r.try_get("address_number")?,
        dose: Dose {
            product: r.try_get("product")?,
            ordinal: u32::try_from(ordinal).map_err(|_| corrupt("ordinal"))?,
            given_on: date(&r.try_get::<String>("given_on")?, "given_on")?,
            judgement: DoseJudgement::from_db(&judgement).ok_or_else(|| corrupt("judgement"))?,
            institution_code: r.try_get("institution_code")?,
            institution_name: r.try_get("institution_name")?,
            doctor: r.try_get("doctor")?,
            lot: r.try_get("lot")?,
            manufacturer: r.try_get("manufacturer")?,
            amount_ml: r.try_get("amount_ml")?,
            screened_on: opt_date("screened_on")?,
            billing_month: billing
                .map(|b| BillingMonth::parse(&b).map_err(|_| corrupt("billing_month")))
                .transpose()?,
            subsidy_yen: r.try_get("subsidy_yen")?,
            ticket_number: r.try_get("ticket_number")?,
            notes: r.try_get("notes")?,
            given_elsewhere: r.try_get::<i64>("given_elsewhere")? != 0,
            antibody_result: antibody
                .map(|a| AntibodyResult::parse(&a).map_err(|_| corrupt("antibody_result")))
                .transpose()?,
        },
        age_at_dose: r.try_get("age_at_dose")?,
        routine: routine.map(|v| v != 0),
        evaluation: r.try_get("evaluation")?,
        stage: r.try_get("stage")?,
        deleted: r.try_get::<i64>("deleted")? != 0,
        import_id: r.try_get("import_id")?,
        source_line: r.try_get("source_line")?,
        recorded_at: r.try_get("recorded_at")?,
        recorded_by: r.try_get("recorded_by")?,
        change_reason: r.try_get("change_reason")?,
    })
}

/// Binds one dose row's values in `DOSE_COLUMNS` order.
pub(crate) fn bind_dose<'q>(
    q: Query<'q, Any, AnyArguments>,
    tenant: &str,
    row: &DoseRow,
) -> Query<'q, Any, AnyArguments> {
    let d = &row.dose;
    q.bind(tenant.to_owned())
        .bind(row.dose_id)
        .bind(row.version)
        .bind(row.address_number.clone())
        .bind(d.product.clone())
        .bind(i64::from(d.ordinal))
        .bind(d.given_on.to_string())
        .bind(d.judgement.as_str())
        .bind(d.institution_code.clone())
        .bind(d.institution_name.clone())
        .bind(d.doctor.clone())
        .bind(d.lot.clone())
        .bind(d.manufacturer.clone())
        .bind(d.amount_ml.clone())
        .bind(d.screened_on.map(|s| s.to_string()))
        .bind(d.billing_month.as_ref().map(|b| b.as_str().to_owned()))
        .bind(d.subsidy_yen)
        .bind(d.ticket_number.clone())
        .bind(d.notes.clone())
        .bind(i64::from(d.given_elsewhere))
        .bind(d.antibody_result.map(AntibodyResult::as_str))
        .bind(row.age_at_dose.clone())
        .bind(row.routine.map(i64::from))
        .bind(row.evaluation.clone())
        .bind(row.stage.clone())
        .bind(i64::from(row.deleted))
        .bind(row.import_id.clone())
        .bind(row.source_line)
        .bind(row.recorded_at.clone())
        .bind(row.recorded_by.clone())
        .bind(row.change_reason.clone())
}

/// Inserts rows with multi-row `INSERT`s (100 per statement).
pub(crate) async fn insert_doses(
    db: &mut Transaction<'static, Any>,
    backend: crate::Backend,
    tenant: &str,
    rows: &[DoseRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(100) {
        let sql = format!(
            "INSERT INTO dose ({DOSE_COLUMNS}) VALUES {}",
            Params::new(backend).groups(chunk.len(), DOSE_COLUMN_COUNT)
        );
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            q = bind_dose(q, tenant, row);
        }
        q.execute(&mut **db).await?;
    }
    Ok(())
}

pub(crate) async fn next_dose_id(
    db: &mut Transaction<'static, Any>,
    tenant: &str,
) -> Result<i64, StoreError> {
    let row = sqlx::query(
        "SELECT COALESCE(MAX(dose_id), 0) + 1 AS next FROM dose WHERE municipality_code = $1",
    )
    .bind(tenant)
    .fetch_one(&mut **db)
    .await?;
    row.try_get("next")
}

impl Store {
    /// Judges `dose` among the person's other recorded doses (the one it replaces left out), by
    /// the rules in force on its date; also gives its 接種日年齢. Refuses a person not in the
    /// register and a dose before birth.
    pub async fn judge_dose(
        &self,
        engine: &sesshu_schedule::Engine,
        tenant: MunicipalityCode,
        address: &sesshu_domain::AddressNumber,
        dose: &Dose,
        replacing: Option<i64>,
    ) -> Result<(Judged, Option<String>), StoreError> {
        use sesshu_schedule::EvalRequest;
        use sesshu_schedule::contract::HistoryItem;
        let Some(person) = self.person(tenant, address).await? else {
            return Err(StoreError::NotFound(format!("宛名番号 {address}")));
        };
        let p = &person.person;
        if dose.given_on < p.birth_date {
            return Err(StoreError::Invalid("接種日が生年月日より前です".into()));
        }
        let others = self.doses_of(tenant, address.as_str()).await?;
        let mut all: Vec<&Dose> = others
            .iter()
            .filter(|r| Some(r.dose_id) != replacing)
            .map(|r| &r.dose)
            .collect();
        all.push(dose);
        let request =
            EvalRequest::for_person(p.birth_date, p.sex, all.iter().copied(), dose.given_on);
        let response = engine.evaluate(&request);
        let given: Vec<&&Dose> = all
            .iter()
            .filter(|d| HistoryItem::from_dose(d).is_some())
            .collect();
        let judged = match given.iter().position(|d| std::ptr::eq(**d, dose)) {
            Some(i) => response
                .history
                .get(i)
                .map(|j| Judged {
                    routine: j.routine,
                    evaluation: Some(j.reason.clone()),
                    stage: j.stage.clone(),
                })
                .unwrap_or_default(),
            None => Judged {
                routine: None,
                evaluation: Some("見合わせ".into()),
                stage: None,
            },
        };
        Ok((
            judged,
            sesshu_domain::dose::age_label(p.birth_date, dose.given_on),
        ))
    }

    /// A person's doses (deleted ones left out), oldest first.
    pub async fn doses_of(
        &self,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<Vec<DoseRow>, StoreError> {
        self.fetch_all(
            "SELECT * FROM dose WHERE municipality_code = $1 AND address_number = $2 AND deleted = 0 \
             ORDER BY given_on, dose_id",
            &[Value::text(tenant.as_string()), Value::text(address_number)],
            |r| dose_from_row(r),
        )
        .await
    }

    /// Every dose recorded for a person, the deleted ones too (a disclosure shows them).
    pub async fn doses_of_including_deleted(
        &self,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<Vec<DoseRow>, StoreError> {
        self.fetch_all(
            "SELECT * FROM dose WHERE municipality_code = $1 AND address_number = $2 \
             ORDER BY given_on, dose_id",
            &[Value::text(tenant.as_string()), Value::text(address_number)],
            |r| dose_from_row(r),
        )
        .await
    }

    /// One dose as it stands now (also when deleted).
    pub async fn dose(
        &self,
        tenant: MunicipalityCode,
        dose_id: i64,
    ) -> Result<Option<DoseRow>, StoreError> {
        let row = sqlx::query("SELECT * FROM dose WHERE municipality_code = $1 AND dose_id = $2")
            .bind(tenant.as_string())
            .bind(dose_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(dose_from_row).transpose()
    }

    /// Every earlier version of a dose, oldest first.
    pub async fn dose_versions(
        &self,
        tenant: MunicipalityCode,
        dose_id: i64,
    ) -> Result<Vec<DoseVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM dose_history WHERE municipality_code = $1 AND dose_id = $2 ORDER BY version",
        )
        .bind(tenant.as_string())
        .bind(dose_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(DoseVersion {
                    row: dose_from_row(r)?,
                    superseded_at: r.try_get("superseded_at")?,
                    superseded_by: r.try_get("superseded_by")?,
                })
            })
            .collect()
    }

    /// Records one dose by hand (a clinic's phone call, a certificate brought by a mover).
    pub async fn record_dose(
        &self,
        tenant: MunicipalityCode,
        address_number: &str,
        dose: Dose,
        age_at_dose: Option<String>,
        judged: Judged,
        by: &str,
    ) -> Result<i64, StoreError> {
        let tenant_code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let exists = sqlx::query(
            "SELECT 1 AS one FROM person WHERE municipality_code = $1 AND address_number = $2",
        )
        .bind(&tenant_code)
        .bind(address_number)
        .fetch_optional(&mut *db)
        .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!("宛名番号 {address_number}")));
        }
        let dose_id = next_dose_id(&mut db, &tenant_code).await?;
        let row = DoseRow {
            dose_id,
            version: 1,
            address_number: address_number.to_owned(),
            dose,
            age_at_dose,
            routine: judged.routine,
            evaluation: judged.evaluation,
            stage: judged.stage,
            deleted: false,
            import_id: None,
            source_line: None,
            recorded_at: now_utc(),
            recorded_by: by.to_owned(),
            change_reason: None,
        };
        insert_doses(
            &mut db,
            self.backend(),
            &tenant_code,
            std::slice::from_ref(&row),
        )
        .await
        .map_err(duplicate_as_conflict)?;
        db.commit().await?;
        Ok(dose_id)
    }

    /// Replaces a dose's content with a corrected one; the previous version is kept.
    pub async fn correct_dose(
        &self,
        tenant: MunicipalityCode,
        dose_id: i64,
        corrected: Dose,
        judged: Judged,
        by: &str,
        reason: &str,
    ) -> Result<DoseRow, StoreError> {
        self.new_version(tenant, dose_id, by, reason, |row| {
            row.dose = corrected;
            row.routine = judged.routine;
            row.evaluation = judged.evaluation;
            row.stage = judged.stage;
        })
        .await
    }

    /// Marks a dose deleted; it and its earlier versions stay readable.
    pub async fn delete_dose(
        &self,
        tenant: MunicipalityCode,
        dose_id: i64,
        by: &str,
        reason: &str,
    ) -> Result<DoseRow, StoreError> {
        self.new_version(tenant, dose_id, by, reason, |row| row.deleted = true)
            .await
    }

    async fn new_version(
        &self,
        tenant: MunicipalityCode,
        dose_id: i64,
        by: &str,
        reason: &str,
        change: impl FnOnce(&mut DoseRow),
    ) -> Result<DoseRow, StoreError> {
        if reason.trim().is_empty() {
            return Err(StoreError::Invalid("訂正・削除には理由が必要です".into()));
        }
        let tenant_code = tenant.as_string();
        let mut db = self.begin_write().await?;
        let old = current_dose(&mut db, &tenant_code, dose_id).await?;
        if old.deleted {
            return Err(StoreError::Invalid(
                "削除済みの接種記録は変更できません".into(),
            ));
        }
        let new = write_new_version(
            &mut db,
            self.backend(),
            &tenant_code,
            old,
            by,
            reason,
            change,
        )
        .await?;
        db.commit().await?;
        Ok(new)
    }

    /// Every person of the municipality with their non-deleted doses (oldest first), in address
    /// number order: two ordered streams merged, so the whole register passes in constant memory.
    pub async fn for_each_person_with_doses(
        &self,
        tenant: MunicipalityCode,
        each: impl FnMut(PersonFacts, Vec<Dose>),
    ) -> Result<(u64, u64), StoreError> {
        self.for_each_person_with_doses_born(tenant, None, each)
            .await
    }

    /// As [`Self::for_each_person_with_doses`], limited to persons born in `born` (inclusive)
    /// when given: a recall reads only the birth years its series can concern.
    pub async fn for_each_person_with_doses_born(
        &self,
        tenant: MunicipalityCode,
        born: Option<(CivilDate, CivilDate)>,
        each: impl FnMut(PersonFacts, Vec<Dose>),
    ) -> Result<(u64, u64), StoreError> {
        self.persons_with_doses(tenant, born, None, each).await
    }

    /// The stream behind the readers above; with a scope, the doses given between its days are
    /// read (the caller drops the other products).
    async fn persons_with_doses(
        &self,
        tenant: MunicipalityCode,
        born: Option<(CivilDate, CivilDate)>,
        scope: Option<&DoseScope>,
        mut each: impl FnMut(PersonFacts, Vec<Dose>),
    ) -> Result<(u64, u64), StoreError> {
        use futures_util::TryStreamExt;
        let code = tenant.as_string();
        let (lo, hi) = born
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .unwrap_or_else(|| (String::new(), "9999-12-31".into()));
        // `|| ''` keeps SQLite from walking the whole table in key order to skip a sort: with a
        // birth range, the birth-date index and a sort of its rows are far cheaper.
        let order = if born.is_some() {
            "address_number || ''"
        } else {
            "address_number"
        };
        let mut persons = sqlx::query(AssertSqlSafe(format!(
            "SELECT address_number, birth_date, sex, resident_status, protected FROM person \
             WHERE municipality_code = $1 AND birth_date BETWEEN $2 AND $3 ORDER BY {order}"
        )))
        .bind(&code)
        .bind(&lo)
        .bind(&hi)
        .fetch(self.pool());
        let mut doses = if born.is_some() {
            // Persons by the birth-date index, their doses by the person index, then sorted:
            // an `IN (subquery)` filter would walk every dose row of the municipality.
            let columns = DOSE_READ_COLUMNS
                .split(',')
                .map(|c| format!("d.{}", c.trim()))
                .collect::<Vec<_>>()
                .join(", ");
            // PostgreSQL, left to choose, hashes the whole dose table (14 M rows: 5–7 s,
            // BENCHMARKS.md); a lateral join makes it read each person's doses by the person
            // index. SQLite has no LATERAL, and its planner already loops over the persons.
            let (days, first, last) = match scope {
                Some(s) => (
                    "AND d.given_on BETWEEN $4 AND $5",
                    s.from.to_string(),
                    s.to.to_string(),
                ),
                None => ("AND $4 = $5", String::new(), String::new()),
            };
            let from = match self.backend() {
                crate::Backend::Postgres => format!(
                    "person p CROSS JOIN LATERAL (SELECT * FROM dose d \
                     WHERE d.municipality_code = p.municipality_code \
                     AND d.address_number = p.address_number AND d.deleted = 0 {days}) d"
                ),
                crate::Backend::Sqlite => format!(
                    "person p JOIN dose d ON d.municipality_code = p.municipality_code \
                     AND d.address_number = p.address_number AND d.deleted = 0 {days}"
                ),
            };
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {columns} FROM {from} \
                 WHERE p.municipality_code = $1 AND p.birth_date BETWEEN $2 AND $3 \
                 ORDER BY d.address_number || '', d.given_on, d.dose_id"
            )))
            .bind(&code)
            .bind(&lo)
            .bind(&hi)
            .bind(first)
            .bind(last)
            .fetch(self.pool())
        } else {
            sqlx::query(AssertSqlSafe(format!(
                "SELECT {DOSE_READ_COLUMNS} FROM dose WHERE municipality_code = $1 AND deleted = 0 \
                 ORDER BY address_number, given_on, dose_id"
            )))
            .bind(&code)
            .fetch(self.pool())
        };
        let mut pending: Option<(String, Dose)> = match doses.try_next().await? {
            Some(r) => Some(light_dose(&r)?),
            None => None,
        };
        let (mut person_count, mut dose_count) = (0u64, 0u64);
        while let Some(p) = persons.try_next().await? {
            let facts = PersonFacts::from_row(&p)?;
            let mut own = Vec::new();
            // Doses of address numbers before this person's belong to nobody in the register
            // (cannot happen through the importer); skip them.
            while let Some((address, _)) = &pending {
                if address.as_str() > facts.address_number.as_str() {
                    break;
                }
                if let Some((address, dose)) = pending.take()
                    && address == facts.address_number
                {
                    own.push(dose);
                }
                dose_count += 1;
                pending = match doses.try_next().await? {
                    Some(r) => Some(light_dose(&r)?),
                    None => None,
                };
            }
            person_count += 1;
            each(facts, own);
        }
        Ok((person_count, dose_count))
    }

    /// Every person born in `born` (inclusive; everyone when `None`) with their non-deleted
    /// doses (oldest first), put to `judge`; the answers in no particular order. On a SQLite
    /// file the persons are read and judged on every core, outside the pool (`sqlite_file.rs`);
    /// otherwise they stream through the pool.
    pub async fn judge_persons_born<V: Send>(
        &self,
        tenant: MunicipalityCode,
        born: Option<(CivilDate, CivilDate)>,
        judge: impl Fn(PersonFacts, Vec<Dose>) -> V + Sync,
    ) -> Result<Vec<V>, StoreError> {
        if let Some(path) = &self.sqlite_file {
            let born = match born {
                Some(b) => Some(b),
                None => self.birth_dates(tenant).await?,
            };
            let Some(born) = born else {
                return Ok(Vec::new());
            };
            let pieces = crate::sqlite_file::born_pieces(born);
            return blocking(|| crate::sqlite_file::judge_pieces(path, tenant, &pieces, &judge));
        }
        let mut judged = BatchJudge::new(&judge);
        self.for_each_person_with_doses_born(tenant, born, |p, d| judged.push(p, d))
            .await?;
        judged.finish()
    }

    /// As [`Self::judge_persons_born`], each person's doses limited to `scope` (its products,
    /// given between its days): a question about one season reads that season only. The judge
    /// sees the same doses on every backend.
    pub async fn judge_persons_born_within<V: Send>(
        &self,
        tenant: MunicipalityCode,
        born: (CivilDate, CivilDate),
        scope: &DoseScope,
        judge: impl Fn(PersonFacts, Vec<Dose>) -> V + Sync,
    ) -> Result<Vec<V>, StoreError> {
        let scoped = |p: PersonFacts, mut d: Vec<Dose>| {
            d.retain(|d| scope.holds(d));
            judge(p, d)
        };
        if let Some(path) = &self.sqlite_file {
            let pieces = crate::sqlite_file::born_pieces(born);
            return blocking(|| crate::sqlite_file::judge_pieces(path, tenant, &pieces, &scoped));
        }
        let mut judged = BatchJudge::new(&scoped);
        self.persons_with_doses(tenant, Some(born), Some(scope), |p, d| judged.push(p, d))
            .await?;
        judged.finish()
    }

    /// The earliest and latest birth date in the register (from the birth-date index).
    async fn birth_dates(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Option<(CivilDate, CivilDate)>, StoreError> {
        let r = sqlx::query(
            "SELECT MIN(birth_date) AS lo, MAX(birth_date) AS hi FROM person \
             WHERE municipality_code = $1",
        )
        .bind(tenant.as_string())
        .fetch_one(self.pool())
        .await?;
        let lo: Option<String> = r.try_get("lo")?;
        let hi: Option<String> = r.try_get("hi")?;
        match (lo, hi) {
            (Some(lo), Some(hi)) => Ok(Some((date(&lo, "birth_date")?, date(&hi, "birth_date")?))),
            _ => Ok(None),
        }
    }

    /// The persons of these address numbers (those in the register) with their doses, put to
    /// `judge` as [`Self::judge_persons_born`] does.
    pub async fn judge_persons_at<V: Send>(
        &self,
        tenant: MunicipalityCode,
        addresses: &[&str],
        judge: impl Fn(PersonFacts, Vec<Dose>) -> V + Sync,
    ) -> Result<Vec<V>, StoreError> {
        if let Some(path) = &self.sqlite_file {
            let pieces: Vec<_> = addresses
                .chunks(BATCH_OF_ADDRESSES)
                .map(crate::sqlite_file::Piece::At)
                .collect();
            return blocking(|| crate::sqlite_file::judge_pieces(path, tenant, &pieces, &judge));
        }
        let select = format!(
            "SELECT {} FROM person p",
            person_with_doses_columns(self.backend())
        );
        let mut out = Vec::new();
        for chunk in addresses.chunks(BATCH_OF_ADDRESSES) {
            let mut p = Params::new(self.backend());
            let sql = format!(
                "{select} WHERE p.municipality_code = {} AND p.address_number IN ({})",
                p.next(),
                p.list(chunk.len())
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(tenant.as_string());
            for a in chunk {
                q = q.bind(*a);
            }
            for r in q.fetch_all(self.pool()).await? {
                let (facts, doses) = person_with_doses(&r)?;
                out.push(judge(facts, doses));
            }
        }
        Ok(out)
    }

    /// Reads every non-deleted dose row of the municipality and nothing else: the I/O floor that
    /// a forecast over the whole register is measured against (BENCHMARKS.md).
    pub async fn count_dose_rows_by_reading(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<u64, StoreError> {
        use futures_util::TryStreamExt;
        let mut doses = sqlx::query(AssertSqlSafe(format!(
            "SELECT {DOSE_READ_COLUMNS} FROM dose WHERE municipality_code = $1 AND deleted = 0 \
             ORDER BY address_number, given_on, dose_id"
        )))
        .bind(tenant.as_string())
        .fetch(self.pool());
        let mut n = 0;
        while let Some(r) = doses.try_next().await? {
            light_dose(&r)?;
            n += 1;
        }
        Ok(n)
    }
}

/// Address numbers read per statement.
const BATCH_OF_ADDRESSES: usize = 500;

/// Runs blocking work from async code: on a multi-threaded runtime the runtime first moves its
/// other tasks off this thread.
pub(crate) fn blocking<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

/// What a forecast needs of a person.
#[derive(Debug, Clone)]
pub struct PersonFacts {
    pub address_number: String,
    pub birth_date: CivilDate,
    pub sex: sesshu_domain::Sex,
    pub status: sesshu_domain::ResidentStatus,
    pub protected: bool,
}

impl PersonFacts {
    pub(crate) fn from_row(r: &impl Columns) -> Result<Self, StoreError> {
        Ok(Self {
            address_number: r.try_get("address_number")?,
            birth_date: date(&r.try_get::<String>("birth_date")?, "birth_date")?,
            sex: sesshu_domain::Sex::from_code(r.try_get("sex")?)
                .ok_or_else(|| StoreError::Corrupt("person.sex".into()))?,
            status: sesshu_domain::ResidentStatus::from_code(r.try_get("resident_status")?)
                .ok_or_else(|| StoreError::Corrupt("person.resident_status".into()))?,
            protected: r.try_get::<i64>("protected")? != 0,
        })
    }
}

/// The columns of a person row (`person p`) that a forecast needs, and a `doses` column that
/// holds the person's non-deleted doses, oldest first, folded by the database into one text.
///
/// A forecast needs about 25 doses of a child: read as rows, each crosses from the database
/// driver to the caller on its own (a thread hand-off and a value-by-value conversion per row,
/// which cost more than SQLite's own work). Folded, a person is one row. The fields are
/// separated by U+001F and the doses by U+001E, which no stored value contains.
pub(crate) fn person_with_doses_columns(backend: crate::Backend) -> String {
    let (fold, chr) = match backend {
        crate::Backend::Sqlite => ("group_concat", "char"),
        crate::Backend::Postgres => ("string_agg", "chr"),
    };
    let field = format!(" || {chr}(31) || ");
    let dose = [
        "d.product",
        "CAST(d.ordinal AS TEXT)",
        "d.given_on",
        "d.judgement",
        "COALESCE(d.antibody_result, '')",
        "CAST(d.dose_id AS TEXT)",
    ]
    .join(&field);
    // No ORDER BY in the fold: SQLite would build a temporary b-tree per person for it, and
    // the order is restored in `unfold_doses` (a person's doses are few and come nearly sorted).
    format!(
        "p.address_number, p.birth_date, p.sex, p.resident_status, p.protected, \
         (SELECT {fold}({dose}, {chr}(30)) FROM dose d \
         WHERE d.municipality_code = p.municipality_code AND d.address_number = p.address_number \
         AND d.deleted = 0) AS doses"
    )
}

/// A row of [`person_with_doses_columns`].
pub(crate) fn person_with_doses(r: &impl Columns) -> Result<(PersonFacts, Vec<Dose>), StoreError> {
    let facts = PersonFacts::from_row(r)?;
    let folded: Option<String> = r.try_get("doses")?;
    Ok((facts, unfold_doses(folded.as_deref())?))
}

/// The `doses` column of [`person_with_doses_columns`] as doses, oldest first (by date, then
/// in the order they were recorded).
pub(crate) fn unfold_doses(folded: Option<&str>) -> Result<Vec<Dose>, StoreError> {
    let mut doses = match folded {
        None | Some("") => return Ok(Vec::new()),
        Some(text) => text
            .split('\u{1e}')
            .map(unfold_dose)
            .collect::<Result<Vec<_>, _>>()?,
    };
    doses.sort_by_key(|(dose, id)| (dose.given_on, *id));
    Ok(doses.into_iter().map(|(dose, _)| dose).collect())
}

/// The dose as it stands, read inside a transaction that will write its next version.
pub(crate) async fn current_dose(
    db: &mut sqlx::Transaction<'static, sqlx::Any>,
    tenant_code: &str,
    dose_id: i64,
) -> Result<DoseRow, StoreError> {
    let current = sqlx::query("SELECT * FROM dose WHERE municipality_code = $1 AND dose_id = $2")
        .bind(tenant_code)
        .bind(dose_id)
        .fetch_optional(&mut **db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("接種記録 {dose_id}")))?;
    dose_from_row(&current)
}

/// Keeps `old` in dose_history and writes its successor (`change` applied, who, when, why).
pub(crate) async fn write_new_version(
    db: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    tenant_code: &str,
    old: DoseRow,
    by: &str,
    reason: &str,
    change: impl FnOnce(&mut DoseRow),
) -> Result<DoseRow, StoreError> {
    let now = now_utc();
    let history = format!(
        "INSERT INTO dose_history ({DOSE_COLUMNS}, superseded_at, superseded_by) VALUES {}",
        Params::new(backend).groups(1, DOSE_COLUMN_COUNT + 2)
    );
    bind_dose(sqlx::query(AssertSqlSafe(history)), tenant_code, &old)
        .bind(now.clone())
        .bind(by.to_owned())
        .execute(&mut **db)
        .await?;
    let dose_id = old.dose_id;
    let mut new = old.clone();
    change(&mut new);
    new.version = old.version + 1;
    new.recorded_at = now;
    new.recorded_by = by.to_owned();
    new.change_reason = Some(reason.trim().to_owned());
    let mut p = Params::new(backend);
    let sets: Vec<String> = DOSE_COLUMNS
        .split(',')
        .map(str::trim)
        .map(|c| format!("{c} = {}", p.next()))
        .collect();
    let sql = format!(
        "UPDATE dose SET {} WHERE municipality_code = {} AND dose_id = {}",
        sets.join(", "),
        p.next(),
        p.next()
    );
    bind_dose(sqlx::query(AssertSqlSafe(sql)), tenant_code, &new)
        .bind(tenant_code.to_owned())
        .bind(dose_id)
        .execute(&mut **db)
        .await
        .map_err(|e| duplicate_as_conflict(e.into()))?;
    Ok(new)
}

fn unfold_dose(text: &str) -> Result<(Dose, i64), StoreError> {
    let mut f = text.split('\u{1f}');
    let mut next = |what: &'static str| f.next().ok_or_else(|| corrupt(what));
    let product = next("product")?;
    let ordinal = next("ordinal")?
        .parse::<u32>()
        .map_err(|_| corrupt("ordinal"))?;
    let given_on = date(next("given_on")?, "given_on")?;
    let judgement =
        DoseJudgement::from_db(next("judgement")?).ok_or_else(|| corrupt("judgement"))?;
    let antibody = next("antibody_result")?;
    let id = next("dose_id")?
        .parse::<i64>()
        .map_err(|_| corrupt("dose_id"))?;
    let dose = Dose {
        judgement,
        antibody_result: if antibody.is_empty() {
            None
        } else {
            Some(AntibodyResult::parse(antibody).map_err(|_| corrupt("antibody_result"))?)
        },
        ..Dose::given(product.to_owned(), ordinal, given_on)
    };
    Ok((dose, id))
}

/// The columns a judgement needs.
const DOSE_READ_COLUMNS: &str =
    "address_number, product, ordinal, given_on, judgement, antibody_result";

fn light_dose(r: &impl Columns) -> Result<(String, Dose), StoreError> {
    let judgement: String = r.try_get("judgement")?;
    let antibody: Option<String> = r.try_get("antibody_result")?;
    let ordinal: i64 = r.try_get("ordinal")?;
    Ok((
        r.try_get("address_number")?,
        Dose {
            judgement: DoseJudgement::from_db(&judgement).ok_or_else(|| corrupt("judgement"))?,
            antibody_result: antibody
                .map(|a| AntibodyResult::parse(&a).map_err(|_| corrupt("antibody_result")))
                .transpose()?,
            ..Dose::given(
                r.try_get::<String>("product")?,
                u32::try_from(ordinal).map_err(|_| corrupt("ordinal"))?,
                date(&r.try_get::<String>("given_on")?, "given_on")?,
            )
        },
    ))
}

/// The natural-key index turns a second copy of a dose into a clear refusal.
fn duplicate_as_conflict(e: StoreError) -> StoreError {
    match &e {
        StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            StoreError::Invalid("同じ接種記録 (製品・回数・接種日) が既にあります".into())
        }
        _ => e,
    }
}
