//! 健康被害救済 (F8): an application for relief from harm after a vaccination, from its receipt
//! to the payment. For a vaccination under the Act (予防接種法 第15条〜) the city receives and
//! investigates, forwards the case through the prefecture to the state (進達), which certifies
//! or denies, and the city pays; for a voluntary vaccination the city decides under its own
//! compensation rules, without the state. The benefits, the documents each needs, the steps and
//! the city's own target days are data here. Everything is under relief.case, which nobody else
//! holds: the harm and the medical facts are among the gravest data the register keeps.

use serde::Serialize;
use serde_json::json;
use sesshu_documents::DocumentKind;
use sesshu_documents::model::{Batch, ReliefLetter};
use sesshu_domain::access::Permission;
use sesshu_domain::{CivilDate, MunicipalityCode, parse_date};
use sesshu_store::{NewReliefCase, NewReliefStep, Outcome, ReliefCase};

use crate::doses::address;
use crate::{Actor, App, AppError, today_in_japan};

/// The regimes a case falls under: code, label.
pub const REGIMES: [(&str, &str); 3] = [
    ("statutory_a", "定期・臨時の予防接種 (A類疾病)"),
    ("statutory_b", "定期の予防接種 (B類疾病)"),
    ("voluntary", "任意の予防接種 (市の補償制度)"),
];

/// A benefit (予防接種法 第16条; the city's own for voluntary vaccinations), the regimes it
/// exists under, and the documents its claim needs beyond the common ones.
#[derive(Debug, Clone, Copy)]
pub struct Benefit {
    pub code: &'static str,
    pub label: &'static str,
    pub regimes: &'static [&'static str],
    pub documents: &'static [&'static str],
}

const A: &str = "statutory_a";
const B: &str = "statutory_b";
const V: &str = "voluntary";

pub const BENEFITS: [Benefit; 9] = [
    Benefit {
        code: "medical",
        label: "医療費",
        regimes: &[A, B],
        documents: &["medical_cost"],
    },
    Benefit {
        code: "medical_allowance",
        label: "医療手当",
        regimes: &[A, B],
        documents: &["medical_cost"],
    },
    Benefit {
        code: "disabled_child_pension",
        label: "障害児養育年金",
        regimes: &[A],
        documents: &["disability_diagnosis"],
    },
    Benefit {
        code: "disability_pension",
        label: "障害年金",
        regimes: &[A, B],
        documents: &["disability_diagnosis"],
    },
    Benefit {
        code: "death_lump_sum",
        label: "死亡一時金",
        regimes: &[A],
        documents: &["death_certificate", "family_register"],
    },
    Benefit {
        code: "survivor_pension",
        label: "遺族年金",
        regimes: &[B],
        documents: &["death_certificate", "family_register"],
    },
    Benefit {
        code: "survivor_lump_sum",
        label: "遺族一時金",
        regimes: &[B],
        documents: &["death_certificate", "family_register"],
    },
    Benefit {
        code: "funeral",
        label: "葬祭料",
        regimes: &[A, B],
        documents: &["death_certificate", "funeral_proof"],
    },
    Benefit {
        code: "city_compensation",
        label: "市の補償 (医療費・医療手当・見舞金)",
        regimes: &[V],
        documents: &["medical_cost"],
    },
];

/// The documents a claim may come with: code, label. Every claim needs the first three.
pub const DOCUMENTS: [(&str, &str); 8] = [
    ("claim", "給付の請求書"),
    (
        "vaccination_proof",
        "予防接種を受けたことを証明する書類 (接種済証等)",
    ),
    ("medical_records", "診療録の写し・受診証明書"),
    ("medical_cost", "医療費・医療手当の証明書、領収書"),
    ("disability_diagnosis", "障害の状態に関する診断書"),
    ("death_certificate", "死亡診断書・死体検案書"),
    (
        "family_register",
        "請求者との身分関係を証明する書類 (戸籍謄本等)",
    ),
    ("funeral_proof", "葬祭を行ったことを証明する書類"),
];

const COMMON_DOCUMENTS: [&str; 3] = ["claim", "vaccination_proof", "medical_records"];

/// The steps of a case: code, label.
pub const STEPS: [(&str, &str); 6] = [
    ("received", "受付"),
    ("investigated", "市の調査 (予防接種健康被害調査委員会)"),
    ("forwarded", "都道府県経由で国へ進達"),
    ("approved", "認定"),
    ("denied", "否認"),
    ("paid", "支給"),
];

/// The city's own targets, in days, for the step after another (not the Act's; a city
/// changes them here): after 受付 the investigation, after it the 進達, after 認定 the payment.
pub const TARGET_DAYS: [(&str, &str, u64); 3] = [
    ("received", "investigated", 60),
    ("investigated", "forwarded", 30),
    ("approved", "paid", 30),
];

pub const RELATIONS: [(&str, &str); 3] = [
    ("self", "本人"),
    ("guardian", "保護者"),
    ("survivor", "遺族"),
];

/// Where a benefit is paid: to the 公金受取口座 registered with the state when the applicant
/// asks for it (公金受取口座登録法), or to an account they name on the claim.
pub const PAY_TO: [(&str, &str); 2] = [
    ("public_account", "公金受取口座"),
    ("account", "請求者が指定する口座"),
];

/// The letters of a case: code, label, the step the case must have reached.
pub const LETTERS: [(&str, &str, &[&str]); 4] = [
    ("receipt", "受付通知書", &["received"]),
    ("forwarding", "進達書", &["forwarded"]),
    ("decision", "認定・否認の通知書", &["approved", "denied"]),
    ("payment", "支給決定通知書", &["paid"]),
];

fn label_of(table: &[(&'static str, &'static str)], code: &str) -> String {
    table
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| code.to_owned(), |(_, l)| (*l).to_owned())
}

pub fn benefit(code: &str) -> Option<&'static Benefit> {
    BENEFITS.iter().find(|b| b.code == code)
}

/// The documents a benefit's claim needs, in the order of [`DOCUMENTS`].
pub fn required_documents(benefit_code: &str) -> Vec<&'static str> {
    let own = benefit(benefit_code).map_or(&[][..], |b| b.documents);
    DOCUMENTS
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| COMMON_DOCUMENTS.contains(c) || own.contains(c))
        .collect()
}

/// The steps that may follow the case's present one.
pub fn next_steps(case: &ReliefCase) -> &'static [&'static str] {
    match (case.status.as_str(), case.regime == V) {
        ("received", _) => &["investigated"],
        ("investigated", false) => &["forwarded"],
        ("investigated", true) | ("forwarded", _) => &["approved", "denied"],
        ("approved", _) | ("paid", _) => &["paid"],
        _ => &[],
    }
}

/// A case as typed on the form or the command line: every field a string, checked here.
#[derive(Debug, Clone, Default)]
pub struct ReliefForm {
    /// The 接種記録 number, when the register holds the dose.
    pub dose_id: String,
    pub regime: String,
    pub benefit: String,
    pub harm: String,
    pub onset_on: String,
    pub applicant_relation: String,
    pub applicant_name: String,
    /// Blank: today.
    pub received_on: String,
    pub pay_to: String,
    pub account_note: String,
    /// Codes of [`DOCUMENTS`] received with the application.
    pub documents: Vec<String>,
    pub note: String,
}

/// A step as typed.
#[derive(Debug, Clone, Default)]
pub struct StepForm {
    pub step: String,
    /// Blank: today.
    pub done_on: String,
    pub amount_yen: String,
    pub note: String,
}

/// A case with the labels and the state a page or a list shows.
#[derive(Debug, Clone, Serialize)]
pub struct ReliefRow {
    #[serde(flatten)]
    pub case: ReliefCase,
    pub regime_label: String,
    pub benefit_label: String,
    pub status_label: String,
    pub relation_label: String,
    pub pay_to_label: String,
    /// The steps that may come next: code, label.
    pub next: Vec<(String, String)>,
    /// Documents the benefit needs and the case lacks (labels).
    pub missing_documents: Vec<String>,
    /// The next step the city's target names, and the day it is due.
    pub due: Option<(String, String)>,
    pub overdue: bool,
    pub paid_yen: i64,
}

impl ReliefRow {
    pub fn new(case: ReliefCase, today: CivilDate) -> Self {
        let held: Vec<&str> = case.documents.iter().map(|d| d.document.as_str()).collect();
        let missing_documents = required_documents(&case.benefit)
            .into_iter()
            .filter(|c| !held.contains(c))
            .map(|c| label_of(&DOCUMENTS, c))
            .collect();
        let due = case.last_step().and_then(|last| {
            let (_, next, days) = TARGET_DAYS.iter().find(|(after, next, _)| {
                *after == case.status && next_steps(&case).contains(next)
            })?;
            let on = parse_date(&last.done_on).ok()? + chrono::Days::new(*days);
            Some((label_of(&STEPS, next), on))
        });
        let overdue = due.as_ref().is_some_and(|(_, on)| *on < today);
        Self {
            regime_label: label_of(&REGIMES, &case.regime),
            benefit_label: benefit(&case.benefit)
                .map_or_else(|| case.benefit.clone(), |b| b.label.to_owned()),
            status_label: label_of(&STEPS, &case.status),
            relation_label: label_of(&RELATIONS, &case.applicant_relation),
            pay_to_label: label_of(&PAY_TO, &case.pay_to),
            next: next_steps(&case)
                .iter()
                .map(|c| ((*c).to_owned(), label_of(&STEPS, c)))
                .collect(),
            missing_documents,
            due: due.map(|(l, on)| (l, on.to_string())),
            overdue,
            paid_yen: case.paid_yen(),
            case,
        }
    }

    pub fn step_label(code: &str) -> String {
        label_of(&STEPS, code)
    }

    pub fn document_label(code: &str) -> String {
        label_of(&DOCUMENTS, code)
    }
}

fn date_or_today(
    wrong: &mut Vec<(&'static str, String)>,
    field: &'static str,
    what: &str,
    value: &str,
    today: CivilDate,
) -> Option<CivilDate> {
    let value = value.trim();
    let day = if value.is_empty() {
        today
    } else {
        match parse_date(value) {
            Ok(d) => d,
            Err(e) => {
                wrong.push((field, format!("{what}が読めません: {e}")));
                return None;
            }
        }
    };
    if day > today {
        wrong.push((field, format!("{what} {day} は未来の日付です")));
        return None;
    }
    Some(day)
}

fn one_of(
    wrong: &mut Vec<(&'static str, String)>,
    field: &'static str,
    what: &str,
    table: &[(&'static str, &'static str)],
    value: &str,
) -> Option<String> {
    let v = value.trim();
    if let Some((code, _)) = table.iter().find(|(c, l)| *c == v || *l == v) {
        return Some((*code).to_owned());
    }
    let codes: Vec<&str> = table.iter().map(|(c, _)| *c).collect();
    wrong.push((
        field,
        format!("{what}を選んでください ({})", codes.join(", ")),
    ));
    None
}

/// The form checked field by field; every wrong field is reported at once.
fn checked_case(
    form: &ReliefForm,
    today: CivilDate,
) -> Result<(NewReliefCase, Vec<(String, String)>), AppError> {
    let mut wrong: Vec<(&'static str, String)> = Vec::new();
    let regime = one_of(&mut wrong, "regime", "接種の区分", &REGIMES, &form.regime);
    let benefit_code = form.benefit.trim();
    match (benefit(benefit_code), &regime) {
        (None, _) => {
            let codes: Vec<&str> = BENEFITS.iter().map(|b| b.code).collect();
            wrong.push((
                "benefit",
                format!("給付の種類を選んでください ({})", codes.join(", ")),
            ));
        }
        (Some(b), Some(r)) if !b.regimes.contains(&r.as_str()) => wrong.push((
            "benefit",
            format!("{}は{}にはありません", b.label, label_of(&REGIMES, r)),
        )),
        _ => {}
    }
    if form.harm.trim().is_empty() {
        wrong.push((
            "harm",
            "健康被害の内容 (症状・病名) を入力してください".into(),
        ));
    }
    let onset = if form.onset_on.trim().is_empty() {
        wrong.push(("onset_on", "発症日を入力してください".into()));
        None
    } else {
        date_or_today(&mut wrong, "onset_on", "発症日", &form.onset_on, today)
    };
    let received = date_or_today(
        &mut wrong,
        "received_on",
        "受付日",
        &form.received_on,
        today,
    );
    if let (Some(o), Some(r)) = (onset, received)
        && r < o
    {
        wrong.push(("received_on", format!("受付日 {r} が発症日 {o} より前です")));
    }
    let relation = one_of(
        &mut wrong,
        "applicant_relation",
        "請求者",
        &RELATIONS,
        &form.applicant_relation,
    );
    if form.applicant_name.trim().is_empty() {
        wrong.push(("applicant_name", "請求者の氏名を入力してください".into()));
    }
    let pay_to = one_of(&mut wrong, "pay_to", "支払先", &PAY_TO, &form.pay_to);
    if pay_to.as_deref() == Some("account") && form.account_note.trim().is_empty() {
        wrong.push((
            "account_note",
            "指定の口座 (金融機関・支店・種別・名義) を入力してください".into(),
        ));
    }
    let dose_id = match form.dose_id.trim() {
        "" => None,
        s => match s.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                wrong.push(("dose_id", "接種記録の番号を数字で入力してください".into()));
                None
            }
        },
    };
    let mut documents = Vec::new();
    for d in &form.documents {
        let d = d.trim();
        if d.is_empty() {
            continue;
        }
        match DOCUMENTS.iter().find(|(c, l)| *c == d || *l == d) {
            Some((c, _)) if !documents.contains(c) => documents.push(*c),
            Some(_) => {}
            None => wrong.push(("documents", format!("書類 {d} は一覧にありません"))),
        }
    }
    if !documents.contains(&"claim") {
        wrong.push((
            "documents",
            "給付の請求書を受け付けてから記録してください".into(),
        ));
    }
    match (regime, onset, received, relation, pay_to) {
        (Some(regime), Some(onset), Some(received), Some(relation), Some(pay_to))
            if wrong.is_empty() =>
        {
            let on = received.to_string();
            Ok((
                NewReliefCase {
                    dose_id,
                    regime,
                    benefit: benefit_code.to_owned(),
                    harm: form.harm.trim().to_owned(),
                    onset_on: onset.to_string(),
                    applicant_relation: relation,
                    applicant_name: form.applicant_name.trim().to_owned(),
                    received_on: on.clone(),
                    account_note: if pay_to == "account" {
                        form.account_note.trim().to_owned()
                    } else {
                        String::new()
                    },
                    pay_to,
                    note: form.note.trim().to_owned(),
                },
                documents
                    .into_iter()
                    .map(|d| (d.to_owned(), on.clone()))
                    .collect(),
            ))
        }
        _ => Err(AppError::Fields(wrong)),
    }
}

/// A step checked against the case as it stands.
fn checked_step(
    case: &ReliefCase,
    form: &StepForm,
    today: CivilDate,
) -> Result<NewReliefStep, AppError> {
    let mut wrong: Vec<(&'static str, String)> = Vec::new();
    let step = form.step.trim();
    let next = next_steps(case);
    let step = match STEPS.iter().find(|(c, l)| *c == step || *l == step) {
        Some((c, _)) if next.contains(c) => Some(*c),
        _ => {
            let allowed: Vec<String> = next.iter().map(|c| label_of(&STEPS, c)).collect();
            wrong.push((
                "step",
                if allowed.is_empty() {
                    format!(
                        "この案件は{}で終わっています",
                        label_of(&STEPS, &case.status)
                    )
                } else {
                    format!(
                        "{}の次に記録できるのは {} です",
                        label_of(&STEPS, &case.status),
                        allowed.join("、")
                    )
                },
            ));
            None
        }
    };
    let done_on = date_or_today(&mut wrong, "done_on", "実施日", &form.done_on, today);
    if let (Some(d), Some(last)) = (done_on, case.last_step())
        && parse_date(&last.done_on).is_ok_and(|l| d < l)
    {
        wrong.push((
            "done_on",
            format!(
                "実施日 {d} が前の手続 ({} {}) より前です",
                label_of(&STEPS, &last.step),
                last.done_on
            ),
        ));
    }
    if step == Some("forwarded") {
        let held: Vec<&str> = case.documents.iter().map(|d| d.document.as_str()).collect();
        let missing: Vec<String> = required_documents(&case.benefit)
            .into_iter()
            .filter(|c| !held.contains(c))
            .map(|c| label_of(&DOCUMENTS, c))
            .collect();
        if !missing.is_empty() {
            wrong.push((
                "step",
                format!(
                    "書類が揃っていないため進達できません: {}",
                    missing.join("、")
                ),
            ));
        }
    }
    let amount = match form.amount_yen.trim().replace(',', "").as_str() {
        "" => None,
        s => match s.parse::<i64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                wrong.push((
                    "amount_yen",
                    "金額を円単位の正の数で入力してください".into(),
                ));
                None
            }
        },
    };
    if step == Some("paid") && amount.is_none() && !wrong.iter().any(|(f, _)| *f == "amount_yen") {
        wrong.push(("amount_yen", "支給額を入力してください".into()));
    }
    if step == Some("denied") && form.note.trim().is_empty() {
        wrong.push(("note", "否認の理由を入力してください".into()));
    }
    match (step, done_on) {
        (Some(step), Some(done_on)) if wrong.is_empty() => Ok(NewReliefStep {
            step: step.to_owned(),
            done_on: done_on.to_string(),
            amount_yen: amount,
            note: form.note.trim().to_owned(),
        }),
        _ => Err(AppError::Fields(wrong)),
    }
}

impl App {
    async fn relief_allowed(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        function: &str,
        detail: serde_json::Value,
    ) -> Result<(), AppError> {
        self.authorize_for(actor, tenant, Permission::ReliefCase, function, detail)
            .await
    }

    /// Opens a case for a person (relief.case): the application received, with the documents
    /// that came with it.
    pub async fn receive_relief(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
        form: &ReliefForm,
    ) -> Result<ReliefRow, AppError> {
        let function = "relief.receive";
        self.relief_allowed(actor, tenant, function, json!({"person": address_number}))
            .await?;
        let a = address(address_number)?;
        let (new, documents) = checked_case(form, today_in_japan())?;
        let result = self
            .store
            .receive_relief(tenant, &a, &new, &documents, &actor.actor)
            .await;
        self.relief_recorded(actor, function, a.as_str(), result)
            .await
    }

    /// Notes a document received after the application (relief.case).
    pub async fn add_relief_document(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        case_id: i64,
        document: &str,
        received_on: &str,
    ) -> Result<ReliefRow, AppError> {
        let function = "relief.document";
        self.relief_allowed(actor, tenant, function, json!({"case": case_id}))
            .await?;
        let case = self.existing_relief(tenant, case_id).await?;
        let mut wrong = Vec::new();
        let code = DOCUMENTS
            .iter()
            .find(|(c, l)| *c == document.trim() || *l == document.trim())
            .map(|(c, _)| *c);
        if code.is_none() {
            wrong.push(("document", "書類を一覧から選んでください".to_owned()));
        }
        let day = date_or_today(
            &mut wrong,
            "received_on",
            "受付日",
            received_on,
            today_in_japan(),
        );
        let (Some(code), Some(day)) = (code, day) else {
            return Err(AppError::Fields(wrong));
        };
        let result = self
            .store
            .add_relief_document(tenant, case_id, code, &day.to_string(), &actor.actor)
            .await;
        self.relief_recorded(actor, function, &case.address_number, result)
            .await
    }

    /// Records the case's next step (relief.case): refused out of order, before the previous
    /// step's day, in the future, or a 進達 with documents missing.
    pub async fn add_relief_step(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        case_id: i64,
        form: &StepForm,
    ) -> Result<ReliefRow, AppError> {
        let function = "relief.step";
        self.relief_allowed(
            actor,
            tenant,
            function,
            json!({"case": case_id, "step": form.step}),
        )
        .await?;
        let case = self.existing_relief(tenant, case_id).await?;
        let step = checked_step(&case, form, today_in_japan())?;
        let result = self
            .store
            .add_relief_step(tenant, case_id, &case.status, &step, &actor.actor)
            .await;
        self.relief_recorded(actor, function, &case.address_number, result)
            .await
    }

    async fn existing_relief(
        &self,
        tenant: MunicipalityCode,
        case_id: i64,
    ) -> Result<ReliefCase, AppError> {
        self.store
            .relief_case(tenant, case_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("救済の案件 {case_id}")))
    }

    async fn relief_recorded(
        &self,
        actor: &Actor,
        function: &str,
        person: &str,
        result: Result<ReliefCase, sesshu_store::StoreError>,
    ) -> Result<ReliefRow, AppError> {
        let case = self
            .recorded_for_person(actor, function, person, result, |c| {
                json!({"case": c.case_id, "status": c.status, "benefit": c.benefit,
                       "documents": c.documents.len()})
            })
            .await?;
        Ok(ReliefRow::new(case, today_in_japan()))
    }

    /// One case with its documents and steps (relief.case; audited naming the person).
    pub async fn relief_case(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        case_id: i64,
    ) -> Result<ReliefRow, AppError> {
        self.relief_allowed(actor, tenant, "relief.read", json!({"case": case_id}))
            .await?;
        let case = self.existing_relief(tenant, case_id).await?;
        self.record(
            actor,
            "relief.read",
            Outcome::Ok,
            vec![],
            vec![case.address_number.clone()],
            json!({"case": case_id}),
        )
        .await?;
        Ok(ReliefRow::new(case, today_in_japan()))
    }

    /// Every case, newest first, the overdue marked (relief.case; every person listed is in
    /// the entry).
    pub async fn relief_cases(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<ReliefRow>, AppError> {
        self.relief_allowed(actor, tenant, "relief.read", json!({}))
            .await?;
        let cases = self.store.relief_cases(tenant).await?;
        let mut shown: Vec<String> = cases.iter().map(|c| c.address_number.clone()).collect();
        shown.sort_unstable();
        shown.dedup();
        self.record(
            actor,
            "relief.read",
            Outcome::Ok,
            vec![],
            shown,
            json!({"cases": cases.len()}),
        )
        .await?;
        let today = today_in_japan();
        Ok(cases
            .into_iter()
            .map(|c| ReliefRow::new(c, today))
            .collect())
    }

    /// A letter of the case as a PDF (relief.case): refused before the case has reached the
    /// step the letter tells of. Its digest is audited.
    pub async fn relief_letter(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        case_id: i64,
        letter: &str,
    ) -> Result<Vec<u8>, AppError> {
        let function = "relief.letter";
        self.relief_allowed(
            actor,
            tenant,
            function,
            json!({"case": case_id, "letter": letter}),
        )
        .await?;
        let Some((code, title, needs)) = LETTERS.iter().find(|(c, _, _)| *c == letter) else {
            let codes: Vec<&str> = LETTERS.iter().map(|(c, _, _)| *c).collect();
            return Err(AppError::Field(
                "letter",
                format!("通知の種類を選んでください ({})", codes.join(", ")),
            ));
        };
        let case = self.existing_relief(tenant, case_id).await?;
        let Some(step) = case
            .steps
            .iter()
            .rev()
            .find(|s| needs.contains(&s.step.as_str()))
        else {
            return Err(AppError::Invalid(format!(
                "{title}は、案件が{}に進んでから作れます",
                needs
                    .iter()
                    .map(|s| label_of(&STEPS, s))
                    .collect::<Vec<_>>()
                    .join("か")
            )));
        };
        let a = address(&case.address_number)?;
        let person = self
            .store
            .person(tenant, &a)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("宛名番号 {a} の人")))?;
        let printing = self.printing(tenant).await?;
        let municipality = printing.letterhead.municipality_name.clone();
        let row = ReliefRow::new(case.clone(), today_in_japan());
        let letter = relief_letter_text(
            &row,
            code,
            title,
            step,
            &person.person.name.to_string(),
            tenant,
            &municipality,
        );
        let data = serde_json::to_value(Batch {
            letterhead: &printing.letterhead,
            records: std::slice::from_ref(&letter),
        })?;
        let rendered = printing.render(DocumentKind::ReliefLetter, data).await?;
        self.record(
            actor,
            function,
            Outcome::Ok,
            vec![],
            vec![a.as_str().to_owned()],
            json!({"case": case_id, "letter": code,
                   "pdf_sha256": crate::printing::sha256_of(&rendered.pdf)}),
        )
        .await?;
        Ok(rendered.pdf)
    }
}

fn yen(n: i64) -> String {
    format!("{} 円", sesshu_domain::digits::grouped(n))
}

/// The words of a letter: who it is to, what it says, and the case's facts it repeats.
fn relief_letter_text(
    row: &ReliefRow,
    code: &str,
    title: &str,
    step: &sesshu_store::ReliefStep,
    person_name: &str,
    tenant: MunicipalityCode,
    municipality: &str,
) -> ReliefLetter {
    let c = &row.case;
    let applicant = format!("{} 様", c.applicant_name);
    let mut facts = vec![
        ("案件番号".to_owned(), c.case_id.to_string()),
        ("接種を受けた者".to_owned(), person_name.to_owned()),
        ("接種の区分".to_owned(), row.regime_label.clone()),
        ("請求の給付".to_owned(), row.benefit_label.clone()),
        ("健康被害の内容".to_owned(), c.harm.clone()),
        ("発症日".to_owned(), c.onset_on.clone()),
        ("受付日".to_owned(), c.received_on.clone()),
    ];
    let (addressee, paragraphs) = match code {
        "receipt" => (
            applicant,
            vec![format!(
                "{} 付けで請求のあった予防接種による健康被害の救済について、下記のとおり受け付けましたので通知します。審査の結果は、決定しだいお知らせします。",
                c.received_on
            )],
        ),
        "forwarding" => {
            let prefecture = sesshu_domain::prefecture::prefecture_of(tenant).unwrap_or("都道府県");
            facts.push((
                "添付書類".to_owned(),
                c.documents
                    .iter()
                    .map(|d| ReliefRow::document_label(&d.document))
                    .collect::<Vec<_>>()
                    .join("、"),
            ));
            (
                format!("{prefecture}知事 様"),
                vec![format!(
                    "予防接種法に基づく健康被害の救済について、{municipality}において下記の請求を受け付け、調査を行いましたので、関係書類を添えて進達します。厚生労働大臣への進達をお願いします。"
                )],
            )
        }
        "decision" if step.step == "approved" => (
            applicant,
            vec![format!(
                "{} 付けで請求のあった健康被害の救済について、{} 付けで認定されましたので通知します。給付の支給については、別途お知らせします。",
                c.received_on, step.done_on
            )],
        ),
        "decision" => {
            facts.push(("理由".to_owned(), step.note.clone()));
            (
                applicant,
                vec![
                    format!(
                        "{} 付けで請求のあった健康被害の救済について、{} 付けで認定されませんでしたので通知します。",
                        c.received_on, step.done_on
                    ),
                    "この決定に不服がある場合は、この通知を受け取った日の翌日から起算して3か月以内に、審査請求をすることができます。".to_owned(),
                ],
            )
        }
        _ => {
            facts.push((
                "支給額".to_owned(),
                step.amount_yen.map(yen).unwrap_or_default(),
            ));
            facts.push(("支給日".to_owned(), step.done_on.clone()));
            facts.push((
                "振込先".to_owned(),
                if c.pay_to == "public_account" {
                    "公金受取口座 (請求者が登録した口座)".to_owned()
                } else {
                    c.account_note.clone()
                },
            ));
            (
                applicant,
                vec![format!(
                    "健康被害の救済に係る給付 ({}) を、下記のとおり支給することに決定しましたので通知します。",
                    row.benefit_label
                )],
            )
        }
    };
    ReliefLetter {
        reference: format!("救済第{}号", c.case_id),
        issued_on: today_in_japan().to_string(),
        addressee,
        title: title.to_owned(),
        paragraphs,
        facts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_benefit_has_a_regime_and_known_documents() {
        for b in BENEFITS {
            assert!(!b.regimes.is_empty(), "{}", b.code);
            for d in b.documents {
                assert!(
                    DOCUMENTS.iter().any(|(c, _)| c == d),
                    "{} needs {d}",
                    b.code
                );
            }
            assert!(required_documents(b.code).starts_with(&COMMON_DOCUMENTS));
        }
    }
}
