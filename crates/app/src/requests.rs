//! 開示・訂正・利用停止の請求 (F13): the register of a person's requests about their own data,
//! each with its legal deadline (個人情報保護法: 30 days from receipt, extendable once by up to
//! 30 days with the reason), its answer, and — for a disclosure — the report of everything the
//! register holds about the person, as a PDF, without anyone else's data and without the My
//! Number itself. A correction is made where the data lives (a dose is corrected with its reason
//! and every version kept; resident data at the resident register) and answered here. Handled
//! under person.write, like 利用停止; every step is audited naming the person.

use chrono::Days;
use serde::Serialize;
use serde_json::json;
use sesshu_documents::DocumentKind;
use sesshu_documents::model::{Batch, DisclosureRecord, DisclosureSection};
use sesshu_domain::access::Permission;
use sesshu_domain::{CivilDate, MunicipalityCode, format_wareki, parse_date};
use sesshu_store::{Closing, NewRequest, Outcome, SubjectRequest};

use crate::doses::address;
use crate::{Actor, App, AppError, today_in_japan};

/// Codes with their labels.
pub type Labels = &'static [(&'static str, &'static str)];

/// A kind of request: code, label, and the outcomes an answer may give.
pub type Kind = (&'static str, &'static str, Labels);

/// The kinds of request.
pub const KINDS: [Kind; 3] = [
    (
        "disclosure",
        "開示請求",
        &[
            ("full", "全部開示"),
            ("partial", "一部開示"),
            ("refused", "不開示"),
        ],
    ),
    (
        "correction",
        "訂正請求",
        &[("corrected", "訂正した"), ("not_corrected", "訂正しない")],
    ),
    (
        "suspension",
        "利用停止請求",
        &[
            ("stopped", "利用停止した"),
            ("not_stopped", "利用停止しない"),
        ],
    ),
];

/// Who made the request.
pub const REQUESTERS: [(&str, &str); 3] = [
    ("self", "本人"),
    ("legal", "法定代理人"),
    ("agent", "任意代理人"),
];

/// Days from receipt to the answer, and the most an extension may add (個人情報保護法 第83条).
pub const DAYS_TO_ANSWER: u64 = 30;
pub const MOST_EXTENSION_DAYS: u64 = 30;

fn label<'a>(pairs: &'a [(&'a str, &'a str)], code: &'a str) -> &'a str {
    pairs.iter().find(|(c, _)| *c == code).map_or(code, |p| p.1)
}

fn kind_of(code: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.0 == code)
}

/// A request with what a page or a file shows beside it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRow {
    #[serde(flatten)]
    pub request: SubjectRequest,
    pub kind_label: String,
    pub requester_label: String,
    pub outcome_label: Option<String>,
    /// Open past its deadline.
    pub overdue: bool,
}

impl RequestRow {
    fn new(request: SubjectRequest, today: CivilDate) -> Self {
        let outcomes = kind_of(&request.kind).map_or(&[][..], |k| k.2);
        Self {
            kind_label: kind_of(&request.kind).map_or(request.kind.clone(), |k| k.1.to_owned()),
            requester_label: label(&REQUESTERS, &request.requester).to_owned(),
            outcome_label: request
                .outcome
                .as_deref()
                .map(|o| label(outcomes, o).to_owned()),
            overdue: request.is_open() && request.deadline() < today.to_string().as_str(),
            request,
        }
    }
}

/// A request as typed.
#[derive(Debug, Clone, Default)]
pub struct RequestForm {
    pub kind: String,
    pub received_on: String,
    pub requester: String,
    pub identity_checked: String,
    pub details: String,
}

fn day(
    wrong: &mut Vec<(&'static str, String)>,
    field: &'static str,
    what: &str,
    value: &str,
    today: CivilDate,
) -> Option<CivilDate> {
    let value = value.trim();
    if value.is_empty() {
        return Some(today);
    }
    match parse_date(value) {
        Ok(d) if d > today => {
            wrong.push((field, format!("{what} {d} は未来の日付です")));
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            wrong.push((field, format!("{what}が読めません: {e}")));
            None
        }
    }
}

fn checked(form: &RequestForm, today: CivilDate) -> Result<NewRequest, AppError> {
    let mut wrong = Vec::new();
    if kind_of(form.kind.trim()).is_none() {
        wrong.push(("kind", "請求の種類を選んでください".to_owned()));
    }
    if !REQUESTERS.iter().any(|(c, _)| *c == form.requester.trim()) {
        wrong.push((
            "requester",
            "請求者 (本人・代理人) を選んでください".to_owned(),
        ));
    }
    if form.identity_checked.trim().is_empty() {
        wrong.push((
            "identity_checked",
            "本人確認 (代理人は代理権の確認も) に用いた書類を入力してください".to_owned(),
        ));
    }
    if form.details.trim().is_empty() {
        wrong.push(("details", "請求の内容を入力してください".to_owned()));
    }
    let received = day(
        &mut wrong,
        "received_on",
        "受付日",
        &form.received_on,
        today,
    );
    match received {
        Some(received) if wrong.is_empty() => Ok(NewRequest {
            kind: form.kind.trim().to_owned(),
            received_on: received.to_string(),
            requester: form.requester.trim().to_owned(),
            identity_checked: form.identity_checked.trim().to_owned(),
            details: form.details.trim().to_owned(),
            due_on: (received + Days::new(DAYS_TO_ANSWER)).to_string(),
        }),
        _ => Err(AppError::Fields(wrong)),
    }
}

impl App {
    async fn requests_allowed(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        function: &str,
        asked: serde_json::Value,
    ) -> Result<(), AppError> {
        self.authorize_for(actor, tenant, Permission::PersonWrite, function, asked)
            .await
    }

    async fn request_recorded(
        &self,
        actor: &Actor,
        function: &str,
        person: &str,
        result: Result<SubjectRequest, sesshu_store::StoreError>,
    ) -> Result<RequestRow, AppError> {
        let r = self
            .recorded_for_person(actor, function, person, result, |r| {
                json!({"request": r.request_id, "kind": r.kind, "status": r.status,
                       "outcome": r.outcome, "deadline": r.deadline()})
            })
            .await?;
        Ok(RequestRow::new(r, today_in_japan()))
    }

    async fn existing_request(
        &self,
        tenant: MunicipalityCode,
        request_id: i64,
    ) -> Result<SubjectRequest, AppError> {
        self.store
            .subject_request(tenant, request_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("請求 {request_id}")))
    }

    /// Records a request received at the counter or by post, due 30 days later.
    pub async fn receive_request(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
        form: &RequestForm,
    ) -> Result<RequestRow, AppError> {
        let function = "request.receive";
        self.requests_allowed(actor, tenant, function, json!({"person": address_number}))
            .await?;
        let a = address(address_number)?;
        let new = checked(form, today_in_japan())?;
        let result = self
            .store
            .receive_request(tenant, &a, &new, &actor.actor)
            .await;
        self.request_recorded(actor, function, a.as_str(), result)
            .await
    }

    /// Extends an open request's deadline once, by at most 30 days, with the reason.
    pub async fn extend_request(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        request_id: i64,
        to: &str,
        reason: &str,
    ) -> Result<RequestRow, AppError> {
        let function = "request.extend";
        self.requests_allowed(actor, tenant, function, json!({"request": request_id}))
            .await?;
        let current = self.existing_request(tenant, request_id).await?;
        let mut wrong = Vec::new();
        let due = parse_date(&current.due_on)
            .map_err(|_| AppError::Internal("subject_request.due_on".into()))?;
        let latest = due + Days::new(MOST_EXTENSION_DAYS);
        match parse_date(to.trim()) {
            Ok(d) if d <= due => wrong.push((
                "extended_to",
                format!("延長後の期限 {d} が当初の期限 {due} 以前です"),
            )),
            Ok(d) if d > latest => wrong.push((
                "extended_to",
                format!("延長は {latest} まで (30日以内) です"),
            )),
            Ok(_) => {}
            Err(e) => wrong.push(("extended_to", format!("延長後の期限が読めません: {e}"))),
        }
        if reason.trim().is_empty() {
            wrong.push(("reason", "延長の理由を入力してください".into()));
        }
        if !wrong.is_empty() {
            return Err(AppError::Fields(wrong));
        }
        let result = self
            .store
            .extend_request(tenant, request_id, to.trim(), reason.trim())
            .await;
        self.request_recorded(actor, function, &current.address_number, result)
            .await
    }

    /// Answers an open request with its outcome (one the kind allows) and what was answered;
    /// `outcome` `withdrawn` records that the requester withdrew it.
    pub async fn answer_request(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        request_id: i64,
        outcome: &str,
        answer: &str,
        answered_on: &str,
    ) -> Result<RequestRow, AppError> {
        let function = "request.answer";
        self.requests_allowed(actor, tenant, function, json!({"request": request_id}))
            .await?;
        let current = self.existing_request(tenant, request_id).await?;
        let today = today_in_japan();
        let mut wrong = Vec::new();
        let withdrawn = outcome.trim() == "withdrawn";
        let allowed = kind_of(&current.kind).map_or(&[][..], |k| k.2);
        if !withdrawn && !allowed.iter().any(|(c, _)| *c == outcome.trim()) {
            let names: Vec<&str> = allowed.iter().map(|(_, l)| *l).collect();
            wrong.push((
                "outcome",
                format!("結果は {} または取下げです", names.join("・")),
            ));
        }
        if answer.trim().is_empty() {
            wrong.push((
                "answer",
                "回答の内容 (一部開示・不開示・訂正しない等はその理由) を入力してください".into(),
            ));
        }
        let on = day(&mut wrong, "answered_on", "回答日", answered_on, today);
        if let Some(on) = on
            && on.to_string() < current.received_on
        {
            wrong.push((
                "answered_on",
                format!("回答日 {on} が受付日 {} より前です", current.received_on),
            ));
        }
        let (Some(on), true) = (on, wrong.is_empty()) else {
            return Err(AppError::Fields(wrong));
        };
        let closing = Closing {
            status: if withdrawn { "withdrawn" } else { "answered" }.into(),
            outcome: outcome.trim().to_owned(),
            answer: answer.trim().to_owned(),
            answered_on: on.to_string(),
        };
        let result = self
            .store
            .close_request(tenant, request_id, &closing, &actor.actor)
            .await;
        self.request_recorded(actor, function, &current.address_number, result)
            .await
    }

    /// The register: open requests by deadline (overdue ones marked), and with `all` the
    /// closed ones; every person listed is in the entry.
    pub async fn request_register(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        all: bool,
    ) -> Result<Vec<RequestRow>, AppError> {
        self.requests_allowed(actor, tenant, "request.read", json!({"all": all}))
            .await?;
        let rows = self.store.subject_requests(tenant, all).await?;
        let mut shown: Vec<String> = rows.iter().map(|r| r.address_number.clone()).collect();
        shown.sort_unstable();
        shown.dedup();
        self.record(
            actor,
            "request.read",
            Outcome::Ok,
            vec![],
            shown,
            json!({"all": all, "rows": rows.len()}),
        )
        .await?;
        let today = today_in_japan();
        Ok(rows
            .into_iter()
            .map(|r| RequestRow::new(r, today))
            .collect())
    }

    /// The disclosure report of a disclosure request: everything the register holds about the
    /// person, as a PDF. Nobody else's data is in it (guardians are counted, not named) and the
    /// My Number is said to be held, never printed.
    pub async fn disclosure_report(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        request_id: i64,
    ) -> Result<Vec<u8>, AppError> {
        let function = "request.disclosure";
        self.requests_allowed(actor, tenant, function, json!({"request": request_id}))
            .await?;
        let request = self.existing_request(tenant, request_id).await?;
        if request.kind != "disclosure" {
            return Err(AppError::Invalid(format!(
                "請求 {request_id} は開示請求ではありません"
            )));
        }
        let a = address(&request.address_number)?;
        let record = self.disclosure_record(tenant, &a, &request).await?;
        let printing = self.printing(tenant).await?;
        let data = serde_json::to_value(Batch {
            letterhead: &printing.letterhead,
            records: std::slice::from_ref(&record),
        })?;
        let rendered = printing.render(DocumentKind::Disclosure, data).await?;
        let sections: Vec<serde_json::Value> = record
            .sections
            .iter()
            .map(|s| json!({"section": s.title, "rows": s.rows.len()}))
            .collect();
        self.record(
            actor,
            function,
            Outcome::Ok,
            vec![],
            vec![a.as_str().to_owned()],
            json!({"request": request_id, "sections": sections,
                   "pdf_sha256": crate::printing::sha256_of(&rendered.pdf)}),
        )
        .await?;
        Ok(rendered.pdf)
    }

    async fn disclosure_record(
        &self,
        tenant: MunicipalityCode,
        a: &sesshu_domain::AddressNumber,
        request: &SubjectRequest,
    ) -> Result<DisclosureRecord, AppError> {
        let store = &self.store;
        let Some(row) = store.person(tenant, a).await? else {
            return Err(AppError::NotFound(format!("宛名番号 {a} の人")));
        };
        let today = today_in_japan();
        let guardians = match &row.person.household_number {
            Some(h) => sesshu_domain::infer_guardians(
                &row.person,
                &store.household(tenant, h).await?,
                today,
            )
            .len(),
            None => 0,
        };
        let (person, sealed) = (row.person, row.sealed_my_number.is_some());
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let facts = vec![
            ("宛名番号".to_owned(), a.as_str().to_owned()),
            (
                "氏名".to_owned(),
                format!("{}（{}）", person.name, person.kana),
            ),
            ("生年月日".to_owned(), format_wareki(person.birth_date)),
            ("性別".to_owned(), person.sex.label().to_owned()),
            (
                "住所".to_owned(),
                format!("{} {}", opt(&person.address), opt(&person.address_detail))
                    .trim()
                    .to_owned(),
            ),
            ("住民区分".to_owned(), person.status.label().to_owned()),
            (
                "個人番号".to_owned(),
                if sealed {
                    "保有しています (この書面には記載しません)".to_owned()
                } else {
                    "保有していません".to_owned()
                },
            ),
            (
                "保護者".to_owned(),
                format!(
                    "{} 名の登録があります (本人以外の方の情報のため記載しません)",
                    guardians
                ),
            ),
        ];
        let mut sections = Vec::new();
        let section = |title: &str, columns: &[&str], rows: Vec<Vec<String>>, empty: &str| {
            DisclosureSection {
                title: title.to_owned(),
                columns: columns.iter().map(|c| (*c).to_owned()).collect(),
                rows,
                empty: empty.to_owned(),
            }
        };
        let history = store.person_history(tenant, a).await?;
        sections.push(section(
            "住民記録の変更履歴",
            &[
                "版",
                "記録日時",
                "置き換えた日時",
                "当時の氏名",
                "当時の住所",
                "住民区分",
            ],
            history
                .iter()
                .map(|h| {
                    vec![
                        h.version.to_string(),
                        sesshu_domain::japan_minutes(&h.recorded_at),
                        sesshu_domain::japan_minutes(&h.superseded_at),
                        h.person.name.to_string(),
                        opt(&h.person.address),
                        h.person.status.label().to_owned(),
                    ]
                })
                .collect(),
            "変更の履歴はありません。",
        ));
        let doses = store.doses_of_including_deleted(tenant, a.as_str()).await?;
        let name = |code: &str| {
            self.engine
                .rules()
                .product(code)
                .map_or_else(|| code.to_owned(), |p| p.name.clone())
        };
        let mut corrections = Vec::new();
        for d in &doses {
            let versions = store.dose_versions(tenant, d.dose_id).await?;
            // Each earlier version was replaced for the reason the next one records.
            let reasons = versions
                .iter()
                .skip(1)
                .map(|v| &v.row.change_reason)
                .chain(std::iter::once(&d.change_reason));
            for (v, reason) in versions.iter().zip(reasons) {
                corrections.push(vec![
                    v.row.dose_id.to_string(),
                    v.row.version.to_string(),
                    format!(
                        "{} 第{}回 {}",
                        name(&v.row.dose.product),
                        v.row.dose.ordinal,
                        v.row.dose.given_on
                    ),
                    sesshu_domain::japan_minutes(&v.superseded_at),
                    reason.clone().unwrap_or_default(),
                ]);
            }
        }
        sections.push(section(
            "接種記録",
            &[
                "番号",
                "ワクチン",
                "回",
                "接種日",
                "判定",
                "医療機関",
                "ロット",
                "記録",
            ],
            doses
                .iter()
                .map(|d| {
                    vec![
                        d.dose_id.to_string(),
                        name(&d.dose.product),
                        d.dose.ordinal.to_string(),
                        d.dose.given_on.to_string(),
                        d.dose.judgement.label().to_owned(),
                        opt(&d.dose.institution_name),
                        opt(&d.dose.lot),
                        if d.deleted {
                            "削除".to_owned()
                        } else {
                            String::new()
                        },
                    ]
                })
                .collect(),
            "接種記録はありません。",
        ));
        sections.push(section(
            "接種記録の訂正・削除の履歴 (以前の版)",
            &["番号", "版", "以前の内容", "訂正日時", "訂正の理由"],
            corrections,
            "訂正・削除はありません。",
        ));
        // The series as the person knows it (麻しん・風しん), not the register's key.
        let series = |key: &str| {
            self.engine
                .rules()
                .series(key)
                .map_or_else(|| key.to_owned(), |s| s.name.clone())
        };
        let notices = store.notices_of_person(tenant, a.as_str()).await?;
        let tickets = store.tickets_of_person(tenant, a.as_str()).await?;
        let certificates = store.certificates_of_person(tenant, a.as_str()).await?;
        let mut issued: Vec<Vec<String>> = Vec::new();
        for n in &notices {
            issued.push(vec![
                "勧奨通知".into(),
                n.notice_number.clone(),
                format!("{} {}", series(&n.series_key), n.stage),
                n.issued_at
                    .as_deref()
                    .map(sesshu_domain::japan_minutes)
                    .unwrap_or_default(),
            ]);
        }
        for t in &tickets {
            issued.push(vec![
                "接種券".into(),
                t.ticket_number.clone(),
                format!("{} {}回目", series(&t.series_key), t.dose),
                sesshu_domain::japan_minutes(&t.issued_at),
            ]);
        }
        for c in &certificates {
            issued.push(vec![
                "証明書".into(),
                c.certificate_id.clone(),
                if c.revoked_at.is_some() {
                    "失効".into()
                } else {
                    String::new()
                },
                c.issued_on.clone(),
            ]);
        }
        sections.push(section(
            "通知・接種券・証明書の発行",
            &["種類", "番号", "内容", "発行日"],
            issued,
            "発行したものはありません。",
        ));
        let mut own = Vec::new();
        for s in store.suspensions_of_person(tenant, a.as_str()).await? {
            own.push(vec![
                "利用停止".into(),
                s.requested_on.clone(),
                s.reason.clone(),
                s.lifted
                    .map(|l| format!("解除 ({})", l.reason))
                    .unwrap_or_else(|| "有効".into()),
            ]);
        }
        for e in store.exemptions_of_person(tenant, a.as_str()).await? {
            own.push(vec![
                format!("実費徴収 {}年度", e.fiscal_year),
                e.decided_on.clone(),
                format!(
                    "{} ({})",
                    if e.exempt { "免除" } else { "非該当" },
                    crate::exemption::ground_label(&e.ground)
                ),
                e.revoked
                    .map(|r| format!("取消 ({})", r.reason))
                    .unwrap_or_else(|| "有効".into()),
            ]);
        }
        for c in store.relief_cases_of_person(tenant, a.as_str()).await? {
            let row = crate::relief::ReliefRow::new(c, today_in_japan());
            own.push(vec![
                format!("健康被害救済 ({})", row.benefit_label),
                row.case.received_on.clone(),
                row.case.harm.clone(),
                row.status_label.clone(),
            ]);
        }
        for l in store.links_of_person(tenant, a).await? {
            let what = if l.primary_address == a.as_str() {
                format!("宛名番号 {} をこの記録に統合", l.secondary_address)
            } else {
                format!("この記録を宛名番号 {} に統合", l.primary_address)
            };
            own.push(vec![
                "記録の統合".into(),
                l.linked_at.get(..10).unwrap_or(&l.linked_at).to_owned(),
                format!("{what} ({})", l.reason),
                l.unlink_reason
                    .map(|r| format!("解除 ({r})"))
                    .unwrap_or_else(|| "有効".into()),
            ]);
        }
        for r in store.subject_requests_of_person(tenant, a.as_str()).await? {
            own.push(vec![
                kind_of(&r.kind).map_or(r.kind.clone(), |k| k.1.to_owned()),
                r.received_on.clone(),
                r.details.clone(),
                if r.is_open() {
                    "対応中".into()
                } else {
                    r.answered_on.clone().unwrap_or_default()
                },
            ]);
        }
        sections.push(section(
            "請求と決定 (利用停止・実費徴収の免除・開示等の請求)",
            &["種類", "日付", "内容", "状態"],
            own,
            "ありません。",
        ));
        sections.push(section(
            "他の市区町村との情報のやり取り",
            &["日付", "相手", "内容"],
            Vec::new(),
            "この台帳では、他の市区町村との接種記録の照会・提供を行っていません。",
        ));
        Ok(DisclosureRecord {
            request_id: request.request_id.to_string(),
            issued_on: format_wareki(today),
            preface: format!(
                "{} 付けで受け付けた保有個人情報の開示請求について、予防接種台帳が保有するあなたの情報を次のとおり開示します。",
                format_wareki(parse_date(&request.received_on).unwrap_or(today))
            ),
            facts,
            sections,
        })
    }
}
