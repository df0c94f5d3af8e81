//! Search and the person page: what staff open a hundred times a day at the counter and on the
//! phone. Every person listed or opened is recorded in the audit log as shown.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sesshu_domain::access::Permission;

use super::{Chrome, FieldErrors, PageError, Staff, both_calendars, field, filters, render};
use crate::state::AppState;
use sesshu_app::AppError;
use sesshu_app::persons::{PAGE_ROWS, PersonSearch, PersonSearchPage};
use sesshu_app::view::PersonDetail;
use sesshu_store::PersonSort;

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    chrome: Chrome,
    form: SearchForm,
    results: Option<PersonSearchPage>,
    error: Option<String>,
    errors: FieldErrors,
    can_my_number: bool,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub(crate) struct SearchForm {
    #[serde(default)]
    csrf: String,
    pub address_number: Option<String>,
    pub name: Option<String>,
    pub kana: Option<String>,
    pub birth_date: Option<String>,
    pub household: Option<String>,
    #[serde(default)]
    pub sort: PersonSort,
    pub cursor: Option<String>,
}

impl SearchForm {
    fn sort_is(&self, key: &str) -> bool {
        self.sort_key() == key
    }

    fn sort_key(&self) -> &'static str {
        match self.sort {
            PersonSort::Kana => "kana",
            PersonSort::BirthDate => "birth_date",
            PersonSort::Address => "address",
        }
    }
}

async fn search_page(
    state: &AppState,
    staff: &Staff,
    form: SearchForm,
    results: Option<PersonSearchPage>,
    error: Option<String>,
    errors: FieldErrors,
) -> Response {
    let page = SearchPage {
        chrome: staff.chrome(state, "検索").await,
        form,
        results,
        error,
        errors,
        can_my_number: staff.can(Permission::MyNumberUse),
    };
    render(&page)
}

pub(crate) async fn search_form(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::PersonRead, "person.search")
        .await?;
    Ok(search_page(
        &state,
        &staff,
        SearchForm::default(),
        None,
        None,
        FieldErrors::none(),
    )
    .await)
}

/// Conditions come in the POST body, so no name or birth date is left in a URL or history;
/// the pages beside a result re-post them with the page's cursor.
pub(crate) async fn search(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<SearchForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::PersonRead, "person.search")
        .await?;
    staff.check_csrf(&state, &form.csrf).await?;
    if let Some(a) = field(&form.address_number) {
        return match sesshu_domain::AddressNumber::parse(a) {
            // What passes as a My Number may be one typed into the wrong box: it must not go
            // into a URL (history, proxies, the Referer). If it is someone's 宛名番号 the page
            // is answered here; if not, the field says so and the value is not shown again.
            Ok(a) if sesshu_domain::my_number::mentions_my_number(a.as_str()) => {
                match person_page(&state, &staff, a.as_str(), None, None, None).await {
                    Err(PageError::NotFound) => {
                        let mut form = form.clone();
                        form.address_number = None;
                        let errors = FieldErrors::new(BTreeMap::from([(
                            "address_number",
                            "この宛名番号の人は登録されていません。個人番号のようです: 個人番号で探すときは下の「個人番号で検索」を使ってください (権限が必要です)".to_owned(),
                        )]));
                        Ok(search_page(&state, &staff, form, None, None, errors).await)
                    }
                    other => other,
                }
            }
            Ok(a) => Ok(Redirect::to(&format!("/persons/{}", a.as_str())).into_response()),
            Err(e) => {
                let errors = FieldErrors::new(BTreeMap::from([("address_number", e.to_string())]));
                Ok(search_page(&state, &staff, form.clone(), None, None, errors).await)
            }
        };
    }
    let params = PersonSearch {
        name: field(&form.name).map(str::to_owned),
        kana: field(&form.kana).map(str::to_owned),
        birth_date: field(&form.birth_date).map(str::to_owned),
        household: field(&form.household).map(str::to_owned),
        sort: form.sort,
        cursor: field(&form.cursor).map(str::to_owned),
        limit: Some(PAGE_ROWS),
    };
    match state
        .app
        .search_persons(&staff.caller, staff.tenant, &params)
        .await
    {
        Ok(page) => {
            Ok(search_page(&state, &staff, form, Some(page), None, FieldErrors::none()).await)
        }
        Err(AppError::Invalid(m)) => {
            Ok(search_page(&state, &staff, form, None, Some(m), FieldErrors::none()).await)
        }
        Err(AppError::Field(f, m)) => {
            let errors = FieldErrors::new(BTreeMap::from([(f, m)]));
            Ok(search_page(&state, &staff, form, None, None, errors).await)
        }
        Err(AppError::Fields(list)) => {
            let errors = FieldErrors::new(list.into_iter().collect());
            Ok(search_page(&state, &staff, form, None, None, errors).await)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct MyNumberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    my_number: String,
    purpose: Option<String>,
}

/// Search by My Number: mynumber.use and a stated purpose; the number travels in the body only.
pub(crate) async fn search_by_my_number(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<MyNumberForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::MyNumberUse, "mynumber.search")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let found = state
        .app
        .find_by_my_number(&staff.caller, staff.tenant, f.my_number.trim(), f.purpose)
        .await;
    match found {
        Ok(list) => match list.as_slice() {
            [one] => Ok(Redirect::to(&format!("/persons/{one}")).into_response()),
            _ => Ok(search_page(
                &state,
                &staff,
                SearchForm::default(),
                None,
                Some(format!("個人番号で該当する方が{}件です。", list.len())),
                FieldErrors::none(),
            )
            .await),
        },
        Err(sesshu_app::AppError::Invalid(m)) => Ok(search_page(
            &state,
            &staff,
            SearchForm::default(),
            None,
            Some(m),
            FieldErrors::none(),
        )
        .await),
        Err(e) => Err(e.into()),
    }
}

/// One series on the person page.
pub(crate) struct SeriesRow {
    pub key: String,
    pub name: String,
    /// `complete`, `due`, `later`, `out` — the CSS class and the order of urgency.
    pub status: &'static str,
    pub label: String,
    pub window: String,
    pub reason: String,
}

fn series_rows(state: &AppState, detail: &PersonDetail) -> Vec<SeriesRow> {
    let today = crate::today_in_japan();
    let age = detail
        .person
        .birth_date
        .parse()
        .ok()
        .and_then(|b| sesshu_domain::age_on(b, today));
    let mut rows: Vec<SeriesRow> =
        sesshu_app::view::listed_series(&state.app.engine, &detail.schedule, age)
            .into_iter()
            .map(|(rule, f)| {
                let (key, name) = (&rule.key, rule.name.clone());
                let next = f
                    .next_stage
                    .clone()
                    .or_else(|| f.next_dose.map(|n| format!("{n}回目")))
                    .unwrap_or_default();
                let (status, label) = if !f.in_target {
                    ("out", "対象外".to_owned())
                } else if f.next_dose.is_none() && f.next_stage.is_none() {
                    ("complete", "完了".to_owned())
                } else if f.eligible {
                    ("due", format!("{next} 接種できます"))
                } else if let Some(d) = f.earliest_date {
                    ("later", format!("{next} {} から", both_calendars(d)))
                } else {
                    ("out", format!("{next} 定期接種の期間外"))
                };
                let window = f
                    .window
                    .map(|[a, b]| format!("{a} 〜 {b}"))
                    .unwrap_or_default();
                SeriesRow {
                    key: key.clone(),
                    name,
                    status,
                    label,
                    window,
                    reason: f.reason.clone(),
                }
            })
            .collect();
    let rank = |s: &str| match s {
        "due" => 0,
        "later" => 1,
        "complete" => 2,
        _ => 3,
    };
    rows.sort_by_key(|r| rank(r.status));
    rows
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    chrome: Chrome,
    d: PersonDetail,
    birth: String,
    series: Vec<SeriesRow>,
    /// The series the person is not a target of, folded away below the others.
    series_out: Vec<SeriesRow>,
    can_dose_read: bool,
    can_dose_write: bool,
    can_my_number: bool,
    can_person_write: bool,
    can_certificate: bool,
    can_notice: bool,
    revealed: Option<String>,
    error: Option<String>,
    notice: Option<String>,
    issued: Vec<IssuedRow>,
    /// The person's reminder-mail subscriptions, newest first (with notice.run).
    reminders: Vec<sesshu_store::Subscription>,
    channels: &'static [&'static str],
    /// Next to the 利用停止 form's date and reason fields.
    suspension_date_error: Option<String>,
    suspension_error: Option<String>,
    suspension_confirm_error: Option<String>,
    /// Next to the 記録の統合 form's fields, and the undo form's reason.
    link_secondary_error: Option<String>,
    link_reason_error: Option<String>,
    unlink_error: Option<String>,
}

/// A notice, ticket or certificate issued to the person.
struct IssuedRow {
    kind: &'static str,
    number: String,
    what: String,
    date: String,
    /// Empty while valid; 無効 (再発行) otherwise.
    state: String,
    /// A certificate's own page.
    link: Option<String>,
    /// A valid ticket, which can be re-issued when lost.
    reissuable: bool,
}

/// Everything issued to a person, newest first within each kind.
async fn issued_rows(
    state: &AppState,
    staff: &Staff,
    address: &str,
) -> Result<Vec<IssuedRow>, PageError> {
    let issued = state
        .app
        .issued_to(&staff.caller, staff.tenant, address)
        .await?;
    let name = |key: &str| {
        state
            .app
            .engine
            .rules()
            .series(key)
            .map(|s| s.name.clone())
            .unwrap_or_else(|| key.to_owned())
    };
    // Issued to a record linked into this one: said so, with that record's number.
    let to = |a: &str| {
        if a == address {
            String::new()
        } else {
            format!(" (統合した記録 {a} 宛て)")
        }
    };
    let mut rows = Vec::new();
    for n in issued.notices {
        rows.push(IssuedRow {
            kind: "勧奨通知",
            what: format!(
                "{} {}{}",
                name(&n.series_key),
                n.stage,
                to(&n.address_number)
            ),
            date: n
                .issued_at
                .as_deref()
                .map(|d| sesshu_domain::japan_minutes(d).chars().take(10).collect())
                .unwrap_or_else(|| "発行中".into()),
            number: n.notice_number,
            state: String::new(),
            link: None,
            reissuable: false,
        });
    }
    for t in issued.tickets {
        rows.push(IssuedRow {
            kind: "接種券",
            what: format!(
                "{} {}回目 ({} 〜 {}){}",
                name(&t.series_key),
                t.dose,
                t.valid_from,
                t.valid_until,
                to(&t.address_number)
            ),
            date: sesshu_domain::japan_minutes(&t.issued_at)
                .chars()
                .take(10)
                .collect(),
            state: if t.invalidated_at.is_some() {
                "無効 (再発行済み)".into()
            } else if t.reissue_of.is_some() {
                "再発行".into()
            } else {
                String::new()
            },
            reissuable: t.invalidated_at.is_none(),
            link: None,
            number: t.ticket_number,
        });
    }
    for c in issued.certificates {
        rows.push(IssuedRow {
            kind: if c.travel {
                "接種証明書 (渡航用)"
            } else {
                "予防接種済証"
            },
            what: to(&c.address_number).trim().to_owned(),
            date: c.issued_on,
            state: match (&c.revoked_at, &c.revoked_reason) {
                (Some(_), Some(r)) => format!("無効 ({r})"),
                (Some(_), None) => "無効 (再発行済み)".into(),
                (None, _) => String::new(),
            },
            link: Some(format!("/certificates/{}", c.certificate_id)),
            reissuable: false,
            number: c.certificate_id,
        });
    }
    Ok(rows)
}

impl PersonPage {
    /// A date's 和暦 (令和8年4月1日), as staff read it beside the 西暦.
    pub fn wareki(&self, iso: &str) -> String {
        sesshu_domain::parse_date(iso)
            .map(sesshu_domain::format_wareki)
            .unwrap_or_default()
    }
}

/// The person's page with a message from an action taken elsewhere (the certificate form).
pub(crate) async fn person_with_message(
    state: &AppState,
    staff: &Staff,
    address: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    person_page(state, staff, address, None, error, notice).await
}

async fn person_page(
    state: &AppState,
    staff: &Staff,
    address: &str,
    revealed: Option<String>,
    error: Option<String>,
    notice: Option<String>,
) -> Result<Response, PageError> {
    person_page_with(
        state,
        staff,
        address,
        revealed,
        error,
        notice,
        FormErrors::default(),
    )
    .await
}

/// Errors of the person page's forms, each shown next to its field.
#[derive(Debug, Default)]
struct FormErrors {
    /// 利用停止: the request's date, its reason, the confirmation.
    date: Option<String>,
    reason: Option<String>,
    confirm: Option<String>,
    /// 記録の統合: the record to link, the reason; undoing a link: its reason.
    link_secondary: Option<String>,
    link_reason: Option<String>,
    unlink_reason: Option<String>,
}

async fn person_page_with(
    state: &AppState,
    staff: &Staff,
    address: &str,
    revealed: Option<String>,
    error: Option<String>,
    notice: Option<String>,
    errors: FormErrors,
) -> Result<Response, PageError> {
    staff
        .require(state, Permission::PersonRead, "person.read")
        .await?;
    let d = state
        .app
        .read_person(&staff.caller, staff.tenant, address)
        .await?;
    let issued = if staff.can(Permission::DoseRead) {
        issued_rows(state, staff, d.person.address_number.as_str()).await?
    } else {
        Vec::new()
    };
    let reminders = if staff.can(Permission::NoticeRun) {
        state
            .app
            .reminder_subscriptions(
                &staff.caller,
                staff.tenant,
                d.person.address_number.as_str(),
            )
            .await?
    } else {
        Vec::new()
    };
    let (series, series_out): (Vec<SeriesRow>, Vec<SeriesRow>) = series_rows(state, &d)
        .into_iter()
        .partition(|r| r.status != "out");
    let page = PersonPage {
        issued,
        reminders,
        channels: &sesshu_app::reminders::CHANNELS,
        chrome: staff
            .chrome(state, &format!("{} さん", d.person.name))
            .await,
        birth: format!("{} ({})", d.person.birth_date, d.person.birth_date_wareki),
        series,
        series_out,
        can_dose_read: staff.can(Permission::DoseRead),
        can_dose_write: staff.can(Permission::DoseWrite),
        can_my_number: staff.can(Permission::MyNumberUse),
        can_person_write: staff.can(Permission::PersonWrite),
        can_certificate: staff.can(Permission::CertificateIssue),
        can_notice: staff.can(Permission::NoticeRun),
        d,
        revealed,
        error,
        notice,
        suspension_date_error: errors.date,
        suspension_error: errors.reason,
        suspension_confirm_error: errors.confirm,
        link_secondary_error: errors.link_secondary,
        link_reason_error: errors.link_reason,
        unlink_error: errors.unlink_reason,
    };
    Ok(render(&page))
}

#[derive(Debug, Deserialize)]
pub(crate) struct Recorded {
    recorded: Option<i64>,
    deleted: Option<i64>,
}

pub(crate) async fn person(
    State(state): State<AppState>,
    staff: Staff,
    Path(address): Path<String>,
    Query(r): Query<Recorded>,
) -> Result<Response, PageError> {
    let notice = match (r.recorded, r.deleted) {
        (Some(id), _) => Some(format!(
            "接種記録 {id} を登録しました。接種予定に反映しました。"
        )),
        (None, Some(id)) => Some(format!(
            "接種記録 {id} を削除しました (以前の版は記録に残ります)。接種予定に反映しました。"
        )),
        (None, None) => None,
    };
    person_page(&state, &staff, &address, None, None, notice).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct RevealForm {
    #[serde(default)]
    csrf: String,
    purpose: Option<String>,
}

/// Shows the My Number on this one response (never stored in the page's URL or cache).
pub(crate) async fn reveal_my_number(
    State(state): State<AppState>,
    staff: Staff,
    Path(address): Path<String>,
    Form(f): Form<RevealForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::MyNumberUse, "mynumber.reveal")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    match state
        .app
        .reveal_my_number(&staff.caller, staff.tenant, &address, f.purpose)
        .await
    {
        Ok(n) => {
            let shown = n.unwrap_or_else(|| "(登録なし)".into());
            person_page(&state, &staff, &address, Some(shown), None, None).await
        }
        Err(sesshu_app::AppError::Invalid(m)) => {
            person_page(&state, &staff, &address, None, Some(m), None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct SuspensionForm {
    #[serde(default)]
    csrf: String,
    requested_on: Option<String>,
    reason: Option<String>,
    /// `1` when the clerk ticked that notices and tickets to this person stop.
    confirm: Option<String>,
}

/// Records a resident's 利用停止 request taken at the counter.
pub(crate) async fn suspend(
    State(state): State<AppState>,
    staff: Staff,
    Path(address): Path<String>,
    Form(f): Form<SuspensionForm>,
) -> Result<Response, PageError> {
    suspension_action(&state, &staff, &address, f, true).await
}

/// Ends the 利用停止 in force.
pub(crate) async fn lift_suspension(
    State(state): State<AppState>,
    staff: Staff,
    Path(address): Path<String>,
    Form(f): Form<SuspensionForm>,
) -> Result<Response, PageError> {
    suspension_action(&state, &staff, &address, f, false).await
}

async fn suspension_action(
    state: &AppState,
    staff: &Staff,
    address: &str,
    f: SuspensionForm,
    suspend: bool,
) -> Result<Response, PageError> {
    let function = if suspend {
        "person.suspend"
    } else {
        "person.lift_suspension"
    };
    staff
        .require(state, Permission::PersonWrite, function)
        .await?;
    staff.check_csrf(state, &f.csrf).await?;
    if suspend && f.confirm.as_deref() != Some("1") {
        let errors = FormErrors {
            confirm: Some("送付を止めることを確認し、チェックを入れてください".into()),
            ..FormErrors::default()
        };
        return person_page_with(state, staff, address, None, None, None, errors).await;
    }
    let reason = f.reason.as_deref().unwrap_or_default();
    let result = if suspend {
        state
            .app
            .suspend_use(
                &staff.caller,
                staff.tenant,
                address,
                f.requested_on.as_deref(),
                reason,
            )
            .await
    } else {
        state
            .app
            .lift_suspension(&staff.caller, staff.tenant, address, reason)
            .await
    };
    let mut errors = FormErrors::default();
    let mut place = |field: &str, m: String| match field {
        "requested_on" => errors.date = Some(m),
        _ => errors.reason = Some(m),
    };
    let s = match result {
        Ok(s) => s,
        Err(AppError::Fields(all)) => {
            for (field, m) in all {
                place(field, m);
            }
            return person_page_with(state, staff, address, None, None, None, errors).await;
        }
        Err(AppError::Field(field, m)) => {
            place(field, m);
            return person_page_with(state, staff, address, None, None, None, errors).await;
        }
        Err(AppError::Invalid(m)) => {
            place("reason", m);
            return person_page_with(state, staff, address, None, None, None, errors).await;
        }
        Err(e) => return Err(e.into()),
    };
    let notice = if suspend {
        format!(
            "利用停止の請求 ({}) を記録しました。以後の通知・接種券の対象から除かれます。",
            s.requested_on
        )
    } else {
        "利用停止を解除しました。".to_owned()
    };
    person_page(state, staff, address, None, None, Some(notice)).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct LinkForm {
    #[serde(default)]
    csrf: String,
    /// The record linked into this one (blank when undoing).
    #[serde(default)]
    secondary: String,
    #[serde(default)]
    reason: String,
}

/// Links another record (a 住登外 record, one entered twice) into this person's.
pub(crate) async fn link(
    State(state): State<AppState>,
    staff: Staff,
    Path(address): Path<String>,
    Form(f): Form<LinkForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::PersonWrite, "person.link")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    let result = state
        .app
        .link_persons(
            &staff.caller,
            staff.tenant,
            &address,
            &f.secondary,
            &f.reason,
        )
        .await;
    let mut errors = FormErrors::default();
    match result {
        Ok(l) => {
            let notice = format!(
                "宛名番号 {} をこの記録に統合しました (統合番号 {}): 接種記録 {} 件を移し、同じ記録 {} 件は重複として削除しました。",
                l.secondary_address, l.link_id, l.doses_moved, l.doses_duplicate
            );
            return person_page(&state, &staff, &address, None, None, Some(notice)).await;
        }
        Err(AppError::Field("reason", m)) => errors.link_reason = Some(m),
        Err(AppError::Field(_, m) | AppError::Invalid(m) | AppError::NotFound(m)) => {
            errors.link_secondary = Some(m)
        }
        Err(e) => return Err(e.into()),
    }
    person_page_with(&state, &staff, &address, None, None, None, errors).await
}

/// Undoes a link shown on the person's page.
pub(crate) async fn unlink(
    State(state): State<AppState>,
    staff: Staff,
    Path((address, link_id)): Path<(String, i64)>,
    Form(f): Form<LinkForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::PersonWrite, "person.unlink")
        .await?;
    staff.check_csrf(&state, &f.csrf).await?;
    match state
        .app
        .unlink_persons(&staff.caller, staff.tenant, link_id, &f.reason)
        .await
    {
        Ok(l) => {
            let notice = format!(
                "統合番号 {} を解除しました: 移した接種記録は宛名番号 {} に戻りました。",
                l.link_id, l.secondary_address
            );
            person_page(&state, &staff, &address, None, None, Some(notice)).await
        }
        Err(AppError::Field(_, m) | AppError::Invalid(m)) => {
            let errors = FormErrors {
                unlink_reason: Some(m),
                ..FormErrors::default()
            };
            person_page_with(&state, &staff, &address, None, None, None, errors).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "duplicates.html")]
struct DuplicatesPage {
    chrome: Chrome,
    groups: Vec<sesshu_app::persons::DuplicateGroup>,
}

/// Records that may be one person (the same kana, birth date and sex), for a clerk to check.
pub(crate) async fn duplicates(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    let groups = state
        .app
        .duplicate_candidates(&staff.caller, staff.tenant)
        .await?;
    let page = DuplicatesPage {
        chrome: staff.chrome(&state, "重複の可能性がある宛名").await,
        groups,
    };
    Ok(render(&page))
}
