//! 実費徴収の免除 (F7): a person applies, the office checks the evidence (a welfare certificate,
//! the household's tax status) and decides, for one fiscal year, whether B類 doses are free to
//! them. The decision is what the payments read: a clinic is paid the whole price for an exempt
//! person's dose. Held under its own permission (exemption.decide), since it rests on tax and
//! welfare facts; every decision, revocation and reading is audited and names the person.

use serde::Serialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::age::FiscalYear;
use sesshu_domain::{CivilDate, MunicipalityCode, parse_date};
use sesshu_store::{CostExemption, NewExemption, Outcome};

use crate::doses::address;
use crate::spreadsheet::{BOM, push_row};
use crate::{Actor, App, AppError, today_in_japan};

/// The grounds for exemption a city's rules name (予防接種法施行令 第5条の2 and the city's
/// 実費徴収 rules): code, label. Kept as data; `other` asks for the reason in the notes.
pub const GROUNDS: [(&str, &str); 4] = [
    ("welfare", "生活保護受給者"),
    ("tax_exempt", "市町村民税非課税世帯"),
    ("china_returnee", "中国残留邦人等支援給付受給者"),
    ("other", "その他 (市長が特に認める者)"),
];

/// The fiscal year today is in: what the register and the form show unless another is asked for.
pub fn this_fiscal_year() -> i32 {
    FiscalYear::of(today_in_japan()).0
}

pub fn ground_label(code: &str) -> &str {
    GROUNDS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, l)| l)
}

/// A decision as typed on the form or the command line: every field a string, checked here.
#[derive(Debug, Clone, Default)]
pub struct ExemptionForm {
    pub fiscal_year: String,
    /// `exempt` (免除) or `not_exempt` (非該当).
    pub decision: String,
    pub ground: String,
    pub evidence: String,
    pub applied_on: String,
    /// Blank: today.
    pub decided_on: String,
    /// Blank: the fiscal year's first day, or the day applied if later.
    pub valid_from: String,
    /// Blank: the fiscal year's last day.
    pub valid_to: String,
    pub notes: String,
}

/// A decision with the labels a page or a file shows.
#[derive(Debug, Clone, Serialize)]
pub struct ExemptionRow {
    #[serde(flatten)]
    pub decision: CostExemption,
    pub ground_label: String,
}

impl From<CostExemption> for ExemptionRow {
    fn from(decision: CostExemption) -> Self {
        Self {
            ground_label: ground_label(&decision.ground).to_owned(),
            decision,
        }
    }
}

fn date_field(
    wrong: &mut Vec<(&'static str, String)>,
    field: &'static str,
    what: &str,
    value: &str,
) -> Option<CivilDate> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    match parse_date(value) {
        Ok(d) => Some(d),
        Err(e) => {
            wrong.push((field, format!("{what}が読めません: {e}")));
            None
        }
    }
}

/// The form checked field by field; every wrong field is reported at once.
fn checked(form: &ExemptionForm, today: CivilDate) -> Result<NewExemption, AppError> {
    let mut wrong: Vec<(&'static str, String)> = Vec::new();
    let year = match form.fiscal_year.trim().parse::<i32>() {
        Ok(y) => FiscalYear(y)
            .first_day()
            .zip(FiscalYear(y).last_day())
            .map(|days| (y, days)),
        Err(_) => None,
    };
    if year.is_none() {
        wrong.push((
            "fiscal_year",
            "年度を数字で入力してください (例: 2026)".into(),
        ));
    }
    let exempt = match form.decision.trim() {
        "exempt" | "免除" => Some(true),
        "not_exempt" | "非該当" => Some(false),
        _ => {
            wrong.push(("decision", "決定 (免除 / 非該当) を選んでください".into()));
            None
        }
    };
    let ground = form.ground.trim();
    if !GROUNDS.iter().any(|(c, _)| *c == ground) {
        let codes: Vec<&str> = GROUNDS.iter().map(|(c, _)| *c).collect();
        wrong.push((
            "ground",
            format!("免除の事由を選んでください ({})", codes.join(", ")),
        ));
    }
    if form.evidence.trim().is_empty() {
        wrong.push((
            "evidence",
            "確認した書類 (受給証明書、課税台帳の確認など) を入力してください".into(),
        ));
    }
    if ground == "other" && form.notes.trim().is_empty() {
        wrong.push((
            "notes",
            "「その他」の事由は備考に内容を書いてください".into(),
        ));
    }
    let applied_on = date_field(&mut wrong, "applied_on", "申請日", &form.applied_on);
    if applied_on.is_none() && form.applied_on.trim().is_empty() {
        wrong.push(("applied_on", "申請日を入力してください".into()));
    }
    let decided_on = date_field(&mut wrong, "decided_on", "決定日", &form.decided_on)
        .or_else(|| form.decided_on.trim().is_empty().then_some(today));
    let valid_from = date_field(&mut wrong, "valid_from", "適用開始日", &form.valid_from);
    let valid_to = date_field(&mut wrong, "valid_to", "適用終了日", &form.valid_to);
    for (field, what, d) in [
        ("applied_on", "申請日", applied_on),
        ("decided_on", "決定日", decided_on),
    ] {
        if let Some(d) = d
            && d > today
        {
            wrong.push((field, format!("{what} {d} は未来の日付です")));
        }
    }
    if let (Some(a), Some(d)) = (applied_on, decided_on)
        && d < a
    {
        wrong.push(("decided_on", format!("決定日 {d} が申請日 {a} より前です")));
    }
    let mut validity = None;
    if let Some((_, (first, last))) = year {
        let from = valid_from.unwrap_or_else(|| applied_on.map_or(first, |a| a.max(first)));
        let to = valid_to.unwrap_or(last);
        if from < first || from > last {
            wrong.push((
                "valid_from",
                format!("適用開始日 {from} が年度 ({first} 〜 {last}) の外です"),
            ));
        } else if to < first || to > last {
            wrong.push((
                "valid_to",
                format!("適用終了日 {to} が年度 ({first} 〜 {last}) の外です"),
            ));
        } else if to < from {
            wrong.push(("valid_to", "適用終了日が適用開始日より前です".into()));
        } else {
            validity = Some((from, to));
        }
    }
    match (year, exempt, applied_on, decided_on, validity) {
        (Some((y, _)), Some(exempt), Some(applied), Some(decided), Some((from, to)))
            if wrong.is_empty() =>
        {
            Ok(NewExemption {
                fiscal_year: y,
                exempt,
                ground: ground.to_owned(),
                evidence: form.evidence.trim().to_owned(),
                applied_on: applied.to_string(),
                decided_on: decided.to_string(),
                valid_from: from.to_string(),
                valid_to: to.to_string(),
                notes: form.notes.trim().to_owned(),
            })
        }
        _ => Err(AppError::Fields(wrong)),
    }
}

impl App {
    /// Records a decision for a person and fiscal year (exemption.decide). A person not in the
    /// register, or a year already decided, is refused — and the refusal is audited.
    pub async fn record_exemption(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
        form: &ExemptionForm,
    ) -> Result<ExemptionRow, AppError> {
        let function = "exemption.record";
        self.authorize_for(
            actor,
            tenant,
            Permission::CostExemption,
            function,
            json!({"person": address_number}),
        )
        .await?;
        let a = address(address_number)?;
        let new = checked(form, today_in_japan())?;
        let result = self
            .store
            .record_exemption(tenant, &a, &new, &actor.actor)
            .await;
        self.exemption_recorded(actor, function, a.as_str(), result)
            .await
    }

    /// Revokes a decision in force, with the reason (exemption.decide).
    pub async fn revoke_exemption(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        exemption_id: i64,
        reason: &str,
    ) -> Result<ExemptionRow, AppError> {
        let function = "exemption.revoke";
        self.authorize_for(
            actor,
            tenant,
            Permission::CostExemption,
            function,
            json!({"exemption": exemption_id}),
        )
        .await?;
        if reason.trim().is_empty() {
            return Err(AppError::Field(
                "reason",
                "取消の理由を入力してください".into(),
            ));
        }
        let Some(current) = self.store.exemption(tenant, exemption_id).await? else {
            return Err(AppError::NotFound(format!("免除決定 {exemption_id}")));
        };
        let result = self
            .store
            .revoke_exemption(tenant, exemption_id, reason.trim(), &actor.actor)
            .await;
        self.exemption_recorded(actor, function, &current.address_number, result)
            .await
    }

    async fn exemption_recorded(
        &self,
        actor: &Actor,
        function: &str,
        person: &str,
        result: Result<CostExemption, sesshu_store::StoreError>,
    ) -> Result<ExemptionRow, AppError> {
        let e = self
            .recorded_for_person(actor, function, person, result, |e| {
                json!({"exemption": e.exemption_id, "fiscal_year": e.fiscal_year,
                       "exempt": e.exempt, "ground": e.ground})
            })
            .await?;
        Ok(e.into())
    }

    /// Every decision of a person, newest year first (exemption.decide; audited).
    pub async fn exemptions_of_person(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<Vec<ExemptionRow>, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::CostExemption,
            "exemption.read",
            json!({"person": address_number}),
        )
        .await?;
        let a = address(address_number)?;
        if self.store.person(tenant, &a).await?.is_none() {
            return Err(AppError::NotFound(format!("宛名番号 {a} の人")));
        }
        let rows = self.store.exemptions_of_person(tenant, a.as_str()).await?;
        self.record(
            actor,
            "exemption.read",
            Outcome::Ok,
            vec![],
            vec![a.as_str().to_owned()],
            json!({"person": a.as_str(), "rows": rows.len()}),
        )
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The fiscal year's register of decisions (免除決定簿), every person it names shown in the
    /// entry (exemption.decide).
    pub async fn exemptions_of_year(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        fiscal_year: i32,
    ) -> Result<Vec<ExemptionRow>, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::CostExemption,
            "exemption.read",
            json!({"fiscal_year": fiscal_year}),
        )
        .await?;
        let rows = self.store.exemptions_of_year(tenant, fiscal_year).await?;
        let mut shown: Vec<String> = rows.iter().map(|r| r.address_number.clone()).collect();
        shown.sort_unstable();
        shown.dedup();
        self.record(
            actor,
            "exemption.read",
            Outcome::Ok,
            vec![],
            shown,
            json!({"fiscal_year": fiscal_year, "rows": rows.len()}),
        )
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}

/// The register as a spreadsheet (UTF-8 with BOM, cells defused).
pub fn exemptions_csv(rows: &[ExemptionRow]) -> String {
    let mut out = String::from(BOM);
    push_row(
        &mut out,
        &[
            "決定番号",
            "宛名番号",
            "年度",
            "決定",
            "事由",
            "確認書類",
            "申請日",
            "決定日",
            "適用開始日",
            "適用終了日",
            "備考",
            "登録者",
            "状態",
        ],
    );
    for r in rows {
        let d = &r.decision;
        let state = d
            .revoked
            .as_ref()
            .map_or_else(String::new, |x| format!("取消 ({})", x.reason));
        push_row(
            &mut out,
            &[
                &d.exemption_id.to_string(),
                &d.address_number,
                &d.fiscal_year.to_string(),
                if d.exempt { "免除" } else { "非該当" },
                &r.ground_label,
                &d.evidence,
                &d.applied_on,
                &d.decided_on,
                &d.valid_from,
                &d.valid_to,
                &d.notes,
                &d.recorded_by,
                &state,
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ExemptionForm {
        ExemptionForm {
            fiscal_year: "2026".into(),
            decision: "exempt".into(),
            ground: "welfare".into(),
            evidence: "保護受給証明書".into(),
            applied_on: "2026-10-01".into(),
            ..ExemptionForm::default()
        }
    }

    fn today() -> CivilDate {
        parse_date("2026-12-07").unwrap_or_else(|e| unreachable!("{e}"))
    }

    fn fields(e: AppError) -> Vec<&'static str> {
        match e {
            AppError::Fields(f) => f.into_iter().map(|(k, _)| k).collect(),
            other => panic!("not field errors: {other}"),
        }
    }

    #[test]
    fn validity_defaults_to_the_day_applied_through_the_year_end() {
        let new = checked(&form(), today()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(new.valid_from, "2026-10-01");
        assert_eq!(new.valid_to, "2027-03-31");
        assert_eq!(new.decided_on, "2026-12-07");
        let earlier = ExemptionForm {
            applied_on: "2026-03-20".into(),
            ..form()
        };
        let new = checked(&earlier, today()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(new.valid_from, "2026-04-01", "not before the year starts");
    }

    #[test]
    fn every_wrong_field_is_named() {
        let bad = ExemptionForm {
            fiscal_year: "来年".into(),
            decision: "maybe".into(),
            ground: "rich".into(),
            evidence: " ".into(),
            applied_on: "2027-01-10".into(),
            ..ExemptionForm::default()
        };
        let f = fields(checked(&bad, today()).expect_err("refused"));
        for field in [
            "fiscal_year",
            "decision",
            "ground",
            "evidence",
            "applied_on",
        ] {
            assert!(f.contains(&field), "{field} not named in {f:?}");
        }
    }

    #[test]
    fn a_future_decision_or_a_validity_outside_the_year_is_refused() {
        let future = ExemptionForm {
            decided_on: "2026-12-31".into(),
            ..form()
        };
        assert_eq!(
            fields(checked(&future, today()).expect_err("future")),
            ["decided_on"]
        );
        let outside = ExemptionForm {
            valid_to: "2027-04-01".into(),
            ..form()
        };
        assert_eq!(
            fields(checked(&outside, today()).expect_err("outside")),
            ["valid_to"]
        );
        let other = ExemptionForm {
            ground: "other".into(),
            ..form()
        };
        assert_eq!(
            fields(checked(&other, today()).expect_err("no notes")),
            ["notes"]
        );
    }
}
