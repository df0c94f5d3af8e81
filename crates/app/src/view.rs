//! JSON views of register data, shared by the API and `sesshu person show --json`. The My Number
//! appears only masked.

use std::collections::BTreeMap;

use serde::Serialize;
use sesshu_domain::{Guardian, Person, age_on, format_wareki};
use sesshu_schedule::contract::HistoryItem;
use sesshu_schedule::{Engine, EvalRequest, Forecast, Judgement};
use sesshu_store::{DoseRow, HistoryEntry, ImportRun, PersonRow, PersonSummary};

#[derive(Debug, Serialize)]
pub struct PersonView {
    pub address_number: String,
    pub integrated_address_number: Option<String>,
    /// `********1234` at most.
    pub my_number: Option<String>,
    pub household_number: Option<String>,
    pub relationship: Option<String>,
    pub name: String,
    pub kana: String,
    pub birth_date: String,
    pub birth_date_wareki: String,
    pub age: Option<u32>,
    pub sex: &'static str,
    pub postal_code: Option<String>,
    pub address: Option<String>,
    pub address_detail: Option<String>,
    pub district_code: Option<String>,
    pub school_district: Option<String>,
    pub phone: Option<String>,
    pub resident_status: &'static str,
    pub change_reason: Option<&'static str>,
    pub changed_on: Option<String>,
    pub notified_on: Option<String>,
    pub previous_address: Option<String>,
    pub next_address: Option<String>,
    pub protected: bool,
}

impl PersonView {
    pub fn new(
        p: &Person,
        masked_my_number: Option<String>,
        today: sesshu_domain::CivilDate,
    ) -> Self {
        Self {
            address_number: p.address_number.to_string(),
            integrated_address_number: p
                .integrated_address_number
                .as_ref()
                .map(ToString::to_string),
            my_number: masked_my_number,
            household_number: p.household_number.as_ref().map(ToString::to_string),
            relationship: p.relationship.clone(),
            name: p.name.to_string(),
            kana: sesshu_domain::full_width_kana(&p.kana.to_string()),
            birth_date: p.birth_date.to_string(),
            birth_date_wareki: format_wareki(p.birth_date),
            age: age_on(p.birth_date, today),
            sex: p.sex.label(),
            postal_code: p.postal_code.as_ref().map(ToString::to_string),
            address: p.address.clone(),
            address_detail: p.address_detail.clone(),
            district_code: p.district_code.clone(),
            school_district: p.school_district.clone(),
            phone: p.phone.clone(),
            resident_status: p.status.label(),
            change_reason: p.change_reason.map(|r| r.label()),
            changed_on: p.changed_on.map(|d| d.to_string()),
            notified_on: p.notified_on.map(|d| d.to_string()),
            previous_address: p.previous_address.clone(),
            next_address: p.next_address.clone(),
            protected: p.protected,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct GuardianView {
    pub address_number: String,
    pub name: String,
    pub relationship: String,
}

impl From<&Guardian> for GuardianView {
    fn from(g: &Guardian) -> Self {
        Self {
            address_number: g.address_number.to_string(),
            name: g.name.to_string(),
            relationship: g.relationship.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct HistoryView {
    pub version: i64,
    pub recorded_at: String,
    pub superseded_at: String,
    pub superseded_by_import: Option<String>,
    pub person: PersonView,
}

/// A person with everything the register knows around them.
#[derive(Debug, Serialize)]
pub struct PersonDetail {
    pub municipality: String,
    pub version: i64,
    pub updated_at: String,
    pub person: PersonView,
    pub guardians: Vec<GuardianView>,
    /// Superseded versions, newest first.
    pub history: Vec<HistoryView>,
    /// Doses (deferrals included), oldest first, each judged by the rules of its date.
    pub doses: Vec<DoseView>,
    /// Every series on `schedule_as_of`: in target, eligible, the next dose and why.
    pub schedule: BTreeMap<String, Forecast>,
    pub schedule_as_of: String,
    /// 利用停止 in force: the person gets no notices while it lasts.
    pub use_suspension: Option<sesshu_store::UseSuspension>,
    /// 記録の統合 either side of which this record is, undone ones too, newest first.
    pub links: Vec<sesshu_store::PersonLink>,
}

/// One recorded dose as staff see it.
#[derive(Debug, Serialize)]
pub struct DoseView {
    pub dose_id: i64,
    pub version: i64,
    pub product: String,
    pub product_name: Option<String>,
    pub ordinal: u32,
    /// The 期/回 it counted as, by today's evaluation of the whole history.
    pub stage: Option<String>,
    pub given_on: String,
    pub age_at_dose: Option<String>,
    pub judgement: &'static str,
    /// Routine (定期) or not, and why — evaluated now over the whole history; `null` for a
    /// deferral or an antibody test.
    pub routine: Option<bool>,
    pub evaluation: String,
    /// The judgement when the dose was recorded.
    pub recorded_routine: Option<bool>,
    pub institution_code: Option<String>,
    pub institution_name: Option<String>,
    pub doctor: Option<String>,
    pub lot: Option<String>,
    pub manufacturer: Option<String>,
    pub amount_ml: Option<String>,
    pub screened_on: Option<String>,
    pub billing_month: Option<String>,
    pub subsidy_yen: Option<i64>,
    pub ticket_number: Option<String>,
    pub notes: Option<String>,
    pub given_elsewhere: bool,
    pub antibody_result: Option<&'static str>,
    pub recorded_at: String,
    pub recorded_by: String,
    pub change_reason: Option<String>,
    pub import_id: Option<String>,
    /// This version marks the dose deleted.
    pub deleted: bool,
}

impl DoseView {
    /// A dose version as it was judged when it was written (a dose's own page, its history).
    pub fn as_recorded(row: &DoseRow, engine: &Engine) -> Self {
        let mut v = Self::new(row, engine, None);
        v.routine = row.routine;
        v.evaluation = row.evaluation.clone().unwrap_or_default();
        v.stage = row.stage.clone();
        v
    }

    fn new(row: &DoseRow, engine: &Engine, judgement: Option<&Judgement>) -> Self {
        let d = &row.dose;
        let (routine, evaluation, stage) = match judgement {
            Some(j) => (j.routine, j.reason.clone(), j.stage.clone()),
            None => (None, "見合わせ (数えない)".to_owned(), None),
        };
        Self {
            dose_id: row.dose_id,
            version: row.version,
            product: d.product.clone(),
            product_name: engine.rules().product(&d.product).map(|p| p.name.clone()),
            ordinal: d.ordinal,
            stage,
            given_on: d.given_on.to_string(),
            age_at_dose: row.age_at_dose.clone(),
            judgement: d.judgement.label(),
            routine,
            evaluation,
            recorded_routine: row.routine,
            institution_code: d.institution_code.clone(),
            institution_name: d.institution_name.clone(),
            doctor: d.doctor.clone(),
            lot: d.lot.clone(),
            manufacturer: d.manufacturer.clone(),
            amount_ml: d.amount_ml.clone(),
            screened_on: d.screened_on.map(|s| s.to_string()),
            billing_month: d.billing_month.as_ref().map(|b| b.as_str().to_owned()),
            subsidy_yen: d.subsidy_yen,
            ticket_number: d.ticket_number.clone(),
            notes: d.notes.clone(),
            given_elsewhere: d.given_elsewhere,
            antibody_result: d.antibody_result.map(|r| r.as_str()),
            recorded_at: row.recorded_at.clone(),
            recorded_by: row.recorded_by.clone(),
            change_reason: row.change_reason.clone(),
            import_id: row.import_id.clone(),
            deleted: row.deleted,
        }
    }

    /// Judges a person's doses together and pairs each with its judgement.
    pub fn all(
        rows: &[DoseRow],
        engine: &Engine,
        birth: sesshu_domain::CivilDate,
        sex: sesshu_domain::Sex,
        as_of: sesshu_domain::CivilDate,
    ) -> (Vec<Self>, BTreeMap<String, Forecast>) {
        let request = EvalRequest::for_person(birth, sex, rows.iter().map(|r| &r.dose), as_of);
        let response = engine.evaluate(&request);
        let mut judgements = response.history.iter();
        let views = rows
            .iter()
            .map(|r| {
                let j = HistoryItem::from_dose(&r.dose).and_then(|_| judgements.next());
                Self::new(r, engine, j)
            })
            .collect();
        (views, response.series)
    }
}

impl PersonDetail {
    pub fn new(
        row: &PersonRow,
        masked_my_number: Option<String>,
        guardians: &[Guardian],
        history: &[HistoryEntry],
        doses: &[DoseRow],
        engine: &Engine,
        today: sesshu_domain::CivilDate,
    ) -> Self {
        let (doses, schedule) =
            DoseView::all(doses, engine, row.person.birth_date, row.person.sex, today);
        Self {
            doses,
            schedule,
            schedule_as_of: today.to_string(),
            use_suspension: None,
            links: Vec::new(),
            municipality: row.municipality.to_string(),
            version: row.version,
            updated_at: row.updated_at.clone(),
            person: PersonView::new(&row.person, masked_my_number, today),
            guardians: guardians.iter().map(GuardianView::from).collect(),
            history: history
                .iter()
                .map(|h| HistoryView {
                    version: h.version,
                    recorded_at: h.recorded_at.clone(),
                    superseded_at: h.superseded_at.clone(),
                    superseded_by_import: h.superseded_by_import.clone(),
                    person: PersonView::new(&h.person, None, today),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PersonSummaryView {
    pub address_number: String,
    pub name: String,
    pub kana: String,
    pub birth_date: String,
    /// 年齢 today, as staff say it ("1歳3か月" under six, "42歳" after).
    pub age: String,
    pub sex: &'static str,
    pub resident_status: &'static str,
    /// Absent for protected persons.
    pub address: Option<String>,
    pub protected: bool,
}

impl PersonSummaryView {
    pub fn new(s: &PersonSummary, today: sesshu_domain::CivilDate) -> Self {
        Self {
            address_number: s.address_number.to_string(),
            name: s.name.to_string(),
            kana: sesshu_domain::full_width_kana(&s.kana.to_string()),
            birth_date: s.birth_date.to_string(),
            age: sesshu_domain::dose::age_label(s.birth_date, today).unwrap_or_default(),
            sex: s.sex.label(),
            resident_status: s.status.label(),
            address: s.address.clone(),
            protected: s.protected,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ImportRunView {
    pub import_id: String,
    pub kind: String,
    pub file_name: String,
    pub file_sha256: String,
    pub mode: String,
    pub status: String,
    pub message: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    pub total_rows: i64,
    pub inserted: i64,
    pub updated: i64,
    pub unchanged: i64,
    pub rejected: i64,
    pub missing: i64,
    pub flagged: i64,
    pub duplicate: i64,
    pub operator: String,
}

impl From<&ImportRun> for ImportRunView {
    fn from(r: &ImportRun) -> Self {
        Self {
            import_id: r.import_id.clone(),
            kind: r.kind.clone(),
            file_name: r.file_name.clone(),
            file_sha256: r.file_sha256.clone(),
            mode: r.mode.clone(),
            status: r.status.clone(),
            message: r.message.clone(),
            started_at: r.started_at.clone(),
            finished_at: r.finished_at.clone(),
            total_rows: r.total_rows,
            inserted: r.inserted,
            updated: r.updated,
            unchanged: r.unchanged,
            rejected: r.rejected,
            missing: r.missing,
            flagged: r.flagged,
            duplicate: r.duplicate,
            operator: r.operator.clone(),
        }
    }
}

/// Loads a person with guardians (inferred from the household), history, doses and forecast.
/// `record` is given the persons the view shows (the person and the guardians named) as soon
/// as they are known: the audit entry is written while the rest of the
/// person (history, doses, the forecast) is read, instead of after it. Nothing is returned
/// unless `record` succeeded, so nothing is shown that the log does not hold; should a later
/// read fail, the log holds an access that showed nothing, which errs on the safe side.
pub async fn person_detail<E, F, Fut>(
    store: &sesshu_store::Store,
    crypto: &sesshu_crypto::TenantCrypto,
    engine: &Engine,
    tenant: sesshu_domain::MunicipalityCode,
    address_number: &sesshu_domain::AddressNumber,
    today: sesshu_domain::CivilDate,
    record: F,
) -> Result<Option<PersonDetail>, E>
where
    E: From<sesshu_store::StoreError>,
    F: FnOnce(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let Some(row) = store.person(tenant, address_number).await? else {
        return Ok(None);
    };
    let masked = row.open_my_number(crypto)?.map(|n| n.masked());
    let guardians = match &row.person.household_number {
        Some(h) => {
            sesshu_domain::infer_guardians(&row.person, &store.household(tenant, h).await?, today)
        }
        None => Vec::new(),
    };
    let links = store.links_of_person(tenant, address_number).await?;
    let mut shown: Vec<String> = std::iter::once(address_number.as_str().to_owned())
        .chain(
            guardians
                .iter()
                .map(|g| g.address_number.as_str().to_owned()),
        )
        .chain(
            links
                .iter()
                .map(|l| l.other_than(address_number.as_str()).to_owned()),
        )
        .collect();
    shown.sort_unstable();
    shown.dedup();
    let rest = async {
        let history = store.person_history(tenant, address_number).await?;
        let doses = store.doses_of(tenant, address_number.as_str()).await?;
        let suspension = store
            .suspension_in_force(tenant, address_number.as_str())
            .await?;
        let mut detail =
            PersonDetail::new(&row, masked, &guardians, &history, &doses, engine, today);
        detail.use_suspension = suspension;
        detail.links = links;
        Ok::<_, sesshu_store::StoreError>(detail)
    };
    let (recorded, detail) = tokio::join!(record(shown), rest);
    recorded?;
    Ok(Some(detail?))
}

/// The youngest age any B類 series starts at (influenza and COVID-19 for 60–64 with a
/// disability certificate): below it those series concern nobody.
pub const B_CLASS_FROM_AGE: u32 = 60;

/// The series of a person's forecast a clerk reads, in the rules file's order, each with its
/// Japanese name: the sequences (`mr`, `je`), which only repeat their periods, are left out, and
/// so are the B類 series for a person younger than [`B_CLASS_FROM_AGE`] unless they are a
/// target of one.
pub fn listed_series<'a>(
    engine: &'a Engine,
    schedule: &'a BTreeMap<String, Forecast>,
    age_years: Option<u32>,
) -> Vec<(&'a sesshu_schedule::rules::SeriesRule, &'a Forecast)> {
    engine
        .rules()
        .series
        .iter()
        .filter_map(|s| schedule.get(&s.key).map(|f| (s, f)))
        .filter(|(s, f)| {
            f.in_target
                || s.class != sesshu_schedule::rules::Class::B
                || age_years.is_some_and(|a| a >= B_CLASS_FROM_AGE)
        })
        .collect()
}
