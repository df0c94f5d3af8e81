//! Reading the register: one person with everything around them, a search, and the My Number
//! revealed or searched by (with a stated purpose). Every person shown is audited.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{AddressNumber, HouseholdNumber, MunicipalityCode, parse_date};
use sesshu_store::{Outcome, PersonQuery, PersonSort, UseSuspension};

use crate::view::{PersonDetail, PersonSummaryView, person_detail};
use crate::{Actor, App, AppError, today_in_japan};

/// A search as typed (the page's form, the API's query, the command line's flags).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PersonSearch {
    /// 氏名 as written, a prefix (異体字 and width folded: 髙橋 finds 高橋).
    pub name: Option<String>,
    pub kana: Option<String>,
    pub birth_date: Option<String>,
    pub household: Option<String>,
    #[serde(default)]
    pub sort: PersonSort,
    /// Where the page starts, as the previous page's `next_cursor` gave it.
    pub cursor: Option<String>,
    pub limit: Option<u32>,
}

/// One page of a search: never fewer persons than match without saying so.
#[derive(Debug, Serialize)]
pub struct PersonSearchPage {
    /// How many persons match in all.
    pub total: u64,
    /// The place of the first and last row shown (1-based; 0 and 0 when nothing matches).
    pub first: u64,
    pub last: u64,
    pub rows: Vec<PersonSummaryView>,
    /// The cursor of the next page, if there are more rows.
    pub next_cursor: Option<String>,
    /// The cursor of the previous page, if this is not the first.
    pub previous_cursor: Option<String>,
}

/// The default and the largest page.
pub const PAGE_ROWS: u32 = 100;
const MAX_PAGE_ROWS: u32 = 500;

/// A cursor is the row offset; opaque to callers, who only hand back what a page gave them.
fn cursor_offset(cursor: Option<&str>) -> Result<u32, AppError> {
    match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(c) => c
            .strip_prefix('o')
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| {
                AppError::Field("cursor", "ページの指定 (cursor) が正しくありません".into())
            }),
    }
}

fn cursor_of(offset: u32) -> String {
    format!("o{offset}")
}

/// A character the kana field cannot take, said as what it is.
fn kana_field_error(kana: &str) -> Option<String> {
    // As the register's kana (`KanaName`), plus spaces and stand-alone voicing marks.
    let bad = kana.chars().find(|c| {
        !(c.is_whitespace()
            || sesshu_domain::name::is_kana_name_char(*c)
            || matches!(*c, '\u{309B}' | '\u{309C}'))
    })?;
    let what = match bad {
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{20000}'..='\u{3FFFF}'
        | '\u{F900}'..='\u{FAFF}'
        | '々' => "は漢字です。漢字の氏名は「氏名」欄で検索してください",
        c if c.is_alphanumeric() => "は英数字です。カナ氏名はカタカナ・ひらがなで入力してください",
        _ => "はカナではありません。カナ氏名はカタカナ・ひらがなで入力してください",
    };
    Some(format!("「{bad}」{what}"))
}

/// A stated purpose (利用目的) is required for every use of a My Number, and recorded with it.
fn purpose(p: Option<String>) -> Result<String, AppError> {
    p.map(|s| s.trim().to_owned())
        .filter(|s| s.chars().count() >= 2)
        .ok_or_else(|| AppError::Invalid("利用目的 (purpose) を入力してください".into()))
}

fn address(s: &str) -> Result<AddressNumber, AppError> {
    AddressNumber::parse(s.trim()).map_err(|e| AppError::Invalid(e.to_string()))
}

impl App {
    /// One person with guardians, history, doses and the forecast (doses and the forecast only
    /// with dose.read). The entry naming the persons shown (the person and the guardians) is
    /// written while the rest is read, and nothing is returned unless it was written.
    pub async fn read_person(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<PersonDetail, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::PersonRead,
            "person.read",
            json!({"person": address_number}),
        )
        .await?;
        let address_number = address(address_number)?;
        let crypto = self.crypto(tenant)?;
        let detail = person_detail(
            &self.store,
            &crypto,
            &self.engine,
            tenant,
            &address_number,
            today_in_japan(),
            |shown| self.record(actor, "person.read", Outcome::Ok, vec![], shown, json!({})),
        )
        .await?;
        let Some(mut detail) = detail else {
            self.record(
                actor,
                "person.read",
                Outcome::Refused,
                vec![],
                vec![],
                json!({"address_number": address_number.as_str(), "found": false}),
            )
            .await?;
            return Err(AppError::NotFound(format!(
                "宛名番号 {} の人は団体 {tenant} に登録されていません",
                as_typed(&address_number)
            )));
        };
        if !actor.can(Permission::DoseRead) {
            detail.doses.clear();
            detail.schedule.clear();
        }
        Ok(detail)
    }

    /// A search by name as written, kana (prefixes, width- and variant-insensitive), birth
    /// date or household, one page at a time with the total; every row shown is recorded.
    pub async fn search_persons(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        params: &PersonSearch,
    ) -> Result<PersonSearchPage, AppError> {
        self.authorize(actor, tenant, Permission::PersonRead, "person.search")
            .await?;
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let mut wrong: Vec<(&'static str, String)> = Vec::new();
        let birth_date = given(&params.birth_date).and_then(|s| {
            parse_date(&s)
                .map_err(|e| wrong.push(("birth_date", format!("生年月日: {e}"))))
                .ok()
        });
        let household = given(&params.household).and_then(|s| {
            HouseholdNumber::parse(&s)
                .map_err(|e| wrong.push(("household", format!("世帯番号: {e}"))))
                .ok()
        });
        let kana = given(&params.kana);
        if let Some(m) = kana.as_deref().and_then(kana_field_error) {
            wrong.push(("kana", m));
        } else if kana
            .as_deref()
            .is_some_and(|k| sesshu_domain::name::kana_key(k).is_empty())
        {
            // Only separators or marks (・, ー): as a prefix it would match everyone.
            wrong.push((
                "kana",
                "カナ氏名に検索できる文字がありません (記号だけでは検索しません)".into(),
            ));
        }
        let name = given(&params.name);
        let offset = cursor_offset(params.cursor.as_deref())?;
        if !wrong.is_empty() {
            return Err(AppError::Fields(wrong));
        }
        if name.is_none() && kana.is_none() && birth_date.is_none() && household.is_none() {
            return Err(AppError::Invalid(
                "氏名・カナ氏名・生年月日・世帯番号のいずれかを入力してください".into(),
            ));
        }
        let limit = params.limit.unwrap_or(PAGE_ROWS).clamp(1, MAX_PAGE_ROWS);
        let query = PersonQuery {
            name,
            kana,
            birth_date,
            household,
            sort: params.sort,
            offset,
            limit,
        };
        let hits = self.store.search_persons(tenant, &query).await?;
        let today = today_in_japan();
        let rows: Vec<PersonSummaryView> = hits
            .rows
            .iter()
            .map(|s| PersonSummaryView::new(s, today))
            .collect();
        let shown = rows.len() as u64;
        let end = u64::from(offset) + shown;
        let page = PersonSearchPage {
            total: hits.total,
            first: if shown == 0 { 0 } else { u64::from(offset) + 1 },
            last: end,
            next_cursor: (end < hits.total)
                .then(|| u32::try_from(end).ok().map(cursor_of))
                .flatten(),
            previous_cursor: (offset > 0).then(|| cursor_of(offset.saturating_sub(limit))),
            rows,
        };
        self.record(
            actor,
            "person.search",
            Outcome::Ok,
            vec![],
            page.rows.iter().map(|v| v.address_number.clone()).collect(),
            json!({
                "name": query.name,
                "kana": query.kana,
                "birth_date": query.birth_date.map(|d| d.to_string()),
                "household": query.household.as_ref().map(|h| h.as_str().to_owned()),
                "sort": query.sort,
                "offset": offset,
                "limit": limit,
                "rows": shown,
                "total": page.total,
            }),
        )
        .await?;
        Ok(page)
    }

    /// One person's My Number in clear (mynumber.use and a stated purpose); the entry names
    /// both, never the number.
    pub async fn reveal_my_number(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
        stated: Option<String>,
    ) -> Result<Option<String>, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::MyNumberUse,
            "mynumber.reveal",
            json!({"person": address_number}),
        )
        .await?;
        let purpose = purpose(stated)?;
        let address_number = address(address_number)?;
        let row = self
            .store
            .person(tenant, &address_number)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("宛名番号 {}", as_typed(&address_number))))?;
        let number = row.open_my_number(&self.crypto(tenant)?)?;
        self.record(
            actor,
            "mynumber.reveal",
            Outcome::Ok,
            vec![],
            vec![address_number.as_str().to_owned()],
            json!({"purpose": purpose, "has_number": number.is_some()}),
        )
        .await?;
        Ok(number.map(|n| n.expose().iter().map(|b| char::from(*b)).collect()))
    }

    /// The persons holding a My Number (mynumber.use and a stated purpose).
    pub async fn find_by_my_number(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        my_number: &str,
        stated: Option<String>,
    ) -> Result<Vec<String>, AppError> {
        self.authorize(actor, tenant, Permission::MyNumberUse, "mynumber.search")
            .await?;
        let purpose = purpose(stated)?;
        let number = sesshu_domain::MyNumber::parse(my_number)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let found = self
            .store
            .find_by_my_number(tenant, &self.crypto(tenant)?, &number)
            .await?;
        let shown: Vec<String> = found.iter().map(|a| a.as_str().to_owned()).collect();
        self.record(
            actor,
            "mynumber.search",
            Outcome::Ok,
            vec![],
            shown.clone(),
            json!({"purpose": purpose, "rows": shown.len()}),
        )
        .await?;
        Ok(shown)
    }
}

impl App {
    /// 利用停止: a resident's request to stop using their data, recorded with the day of the
    /// request and what was asked (person.write). While it is in force the person is in no
    /// recall and nothing is printed for them. A refusal (one already in force) is audited.
    pub async fn suspend_use(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
        requested_on: Option<&str>,
        reason: &str,
    ) -> Result<UseSuspension, AppError> {
        let function = "person.suspend";
        self.authorize_for(
            actor,
            tenant,
            Permission::PersonWrite,
            function,
            json!({"person": address_number}),
        )
        .await?;
        let a = address(address_number)?;
        let mut wrong = Vec::new();
        let requested_on = match requested_on.map(str::trim).filter(|s| !s.is_empty()) {
            None => today_in_japan(),
            Some(d) => parse_date(d).unwrap_or_else(|e| {
                wrong.push(("requested_on", format!("請求日が読めません: {e}")));
                today_in_japan()
            }),
        };
        if reason.trim().is_empty() {
            wrong.push(("reason", "請求の内容・理由を入力してください".to_owned()));
        }
        if !wrong.is_empty() {
            return Err(AppError::Fields(wrong));
        }
        let result = self
            .store
            .suspend_use(tenant, &a, requested_on, reason.trim(), &actor.actor)
            .await;
        self.suspension_recorded(actor, function, &a, result).await
    }

    /// Ends the 利用停止 in force, with the reason (person.write).
    pub async fn lift_suspension(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
        reason: &str,
    ) -> Result<UseSuspension, AppError> {
        let function = "person.lift_suspension";
        self.authorize_for(
            actor,
            tenant,
            Permission::PersonWrite,
            function,
            json!({"person": address_number}),
        )
        .await?;
        let a = address(address_number)?;
        if reason.trim().is_empty() {
            return Err(AppError::Field(
                "reason",
                "解除の理由を入力してください".into(),
            ));
        }
        let result = self
            .store
            .lift_suspension(tenant, &a, reason.trim(), &actor.actor)
            .await;
        self.suspension_recorded(actor, function, &a, result).await
    }

    async fn suspension_recorded(
        &self,
        actor: &Actor,
        function: &str,
        a: &AddressNumber,
        result: Result<UseSuspension, sesshu_store::StoreError>,
    ) -> Result<UseSuspension, AppError> {
        self.recorded_for_person(
            actor,
            function,
            a.as_str(),
            result,
            |s| json!({"suspension_id": s.suspension_id, "requested_on": s.requested_on}),
        )
        .await
    }
}

/// An address number as typed, for a message: one that passes as a My Number and named nobody
/// is not repeated (it may be the number typed into the wrong box).
pub fn as_typed(a: &AddressNumber) -> &str {
    if sesshu_domain::my_number::mentions_my_number(a.as_str()) {
        "(個人番号の可能性があるため表示しません)"
    } else {
        a.as_str()
    }
}

/// Records that may be one person: the same folded kana, birth date and sex.
#[derive(Debug, Serialize)]
pub struct DuplicateGroup {
    pub persons: Vec<PersonSummaryView>,
    /// A 住登外 record beside a resident one: the likeliest case (made before the person's
    /// resident record arrived), listed first.
    pub non_resident_beside_resident: bool,
}

impl App {
    /// Likely duplicates (F1), for a clerk to check and link: every group of records sharing
    /// the folded kana name, birth date and sex. Needs person.read; every person listed is in
    /// the entry.
    pub async fn duplicate_candidates(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
    ) -> Result<Vec<DuplicateGroup>, AppError> {
        self.authorize(actor, tenant, Permission::PersonRead, "person.duplicates")
            .await?;
        let today = today_in_japan();
        let linked = self.store.linked_secondaries(tenant).await?;
        let mut groups: Vec<DuplicateGroup> = self
            .store
            .duplicate_candidates(tenant)
            .await?
            .into_iter()
            // A group whose records are all linked into one is settled.
            .filter(|g| {
                g.iter()
                    .filter(|p| !linked.contains(p.address_number.as_str()))
                    .count()
                    > 1
            })
            .map(|g| {
                let non_resident = |p: &sesshu_store::PersonSummary| {
                    p.status == sesshu_domain::ResidentStatus::NonResident
                };
                DuplicateGroup {
                    non_resident_beside_resident: g.iter().any(non_resident)
                        && !g.iter().all(non_resident),
                    persons: g.iter().map(|p| PersonSummaryView::new(p, today)).collect(),
                }
            })
            .collect();
        // Stable: within each kind, the store's kana order stays.
        groups.sort_by_key(|g| !g.non_resident_beside_resident);
        let shown: Vec<String> = groups
            .iter()
            .flat_map(|g| g.persons.iter().map(|p| p.address_number.clone()))
            .collect();
        self.record(
            actor,
            "person.duplicates",
            Outcome::Ok,
            vec![],
            shown,
            json!({"groups": groups.len()}),
        )
        .await?;
        Ok(groups)
    }
}
