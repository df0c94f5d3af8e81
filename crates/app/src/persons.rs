//! Reading the register: one person with everything around them, a search, and the My Number
//! revealed or searched by (with a stated purpose). Every person shown is audited.

use serde::Deserialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{AddressNumber, HouseholdNumber, MunicipalityCode, parse_date};
use sesshu_store::{Outcome, PersonQuery, UseSuspension};

use crate::view::{PersonDetail, PersonSummaryView, person_detail};
use crate::{Actor, App, AppError, today_in_japan};

/// A search as typed (the page's form, the API's query, the command line's flags).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PersonSearch {
    pub kana: Option<String>,
    pub birth_date: Option<String>,
    pub household: Option<String>,
    pub limit: Option<u32>,
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
        self.authorize(actor, tenant, Permission::PersonRead, "person.read")
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
                "宛名番号 {address_number} の人は団体 {tenant} に登録されていません"
            )));
        };
        if !actor.can(Permission::DoseRead) {
            detail.doses.clear();
            detail.schedule.clear();
        }
        Ok(detail)
    }

    /// A search by kana (prefix, width- and voicing-insensitive), birth date or household;
    /// every row of the result is recorded as shown.
    pub async fn search_persons(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        params: &PersonSearch,
    ) -> Result<Vec<PersonSummaryView>, AppError> {
        self.authorize(actor, tenant, Permission::PersonRead, "person.search")
            .await?;
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let birth_date = given(&params.birth_date)
            .map(|s| {
                parse_date(&s).map_err(|e| AppError::Invalid(format!("生年月日 (birth_date): {e}")))
            })
            .transpose()?;
        let household = given(&params.household)
            .map(|s| {
                HouseholdNumber::parse(&s)
                    .map_err(|e| AppError::Invalid(format!("世帯番号 (household): {e}")))
            })
            .transpose()?;
        let kana = given(&params.kana);
        if kana.is_none() && birth_date.is_none() && household.is_none() {
            return Err(AppError::Invalid(
                "カナ氏名 (kana)・生年月日 (birth_date)・世帯番号 (household) のいずれかを指定してください"
                    .into(),
            ));
        }
        let query = PersonQuery {
            kana,
            birth_date,
            household,
            limit: params.limit.unwrap_or(50).min(500),
        };
        let hits = self.store.search_persons(tenant, &query).await?;
        let out: Vec<PersonSummaryView> = hits.iter().map(PersonSummaryView::from).collect();
        self.record(
            actor,
            "person.search",
            Outcome::Ok,
            vec![],
            out.iter().map(|v| v.address_number.clone()).collect(),
            json!({
                "kana": query.kana,
                "birth_date": query.birth_date.map(|d| d.to_string()),
                "household": query.household.as_ref().map(|h| h.as_str().to_owned()),
                "limit": query.limit,
                "rows": out.len(),
            }),
        )
        .await?;
        Ok(out)
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
        self.authorize(actor, tenant, Permission::MyNumberUse, "mynumber.reveal")
            .await?;
        let purpose = purpose(stated)?;
        let address_number = address(address_number)?;
        let row = self
            .store
            .person(tenant, &address_number)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("宛名番号 {address_number}")))?;
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
        self.authorize(actor, tenant, Permission::PersonWrite, function)
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
        self.authorize(actor, tenant, Permission::PersonWrite, function)
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

    /// The entry of a 利用停止 or its lifting, done or refused; the person is named as acted on
    /// either way, so a search of the log by person finds it.
    async fn suspension_recorded(
        &self,
        actor: &Actor,
        function: &str,
        a: &AddressNumber,
        result: Result<UseSuspension, sesshu_store::StoreError>,
    ) -> Result<UseSuspension, AppError> {
        let (outcome, detail) = match &result {
            Ok(s) => (
                Outcome::Ok,
                json!({"suspension_id": s.suspension_id, "requested_on": s.requested_on}),
            ),
            Err(e) => (Outcome::Refused, json!({"refused": e.to_string()})),
        };
        self.record(
            actor,
            function,
            outcome,
            vec![a.as_str().to_owned()],
            vec![],
            detail,
        )
        .await?;
        Ok(result?)
    }
}
