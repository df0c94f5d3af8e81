//! 医療機関向け接種前確認 (issue 21): before the needle, a clinic's account reads the ticket's
//! 18-digit number line (or the QR that holds it) or 宛名番号 with the birth date, and learns what
//! it needs — the person's name and birth date, which doses are due, and whether a dose of a
//! given product today would be routine, and if not why, in one line. Never the address, the
//! household, another person or the My Number. Every check, found or not, is audited under the
//! institution the account speaks for.

use serde::Serialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::digits::normalize_digits;
use sesshu_domain::{
    AddressNumber, CivilDate, MunicipalityCode, ResidentStatus, age_on, format_wareki, parse_date,
};
use sesshu_schedule::EvalRequest;
use sesshu_store::Outcome;

use crate::view::listed_series;
use crate::{Actor, App, AppError, today_in_japan};

const FUNCTION: &str = "clinic.check";

const NO_INSTITUTION: &str =
    "この利用者は医療機関に結び付いていません。市の管理者に医療機関コードの登録を依頼してください";
const VOID_TICKET: &str =
    "この接種券は再発行により無効です。新しい接種券か、宛名番号と生年月日で確認してください";
const NOT_RESIDENT: &str =
    "この方は現在この市の住民として登録されていません。市の予防接種担当へお問い合わせください";
const PAUSED: &str = "該当する方が見つからない確認が続いたため、この利用者の確認を一時停止しています。時間をおくか、市の予防接種担当へお問い合わせください";
const NOT_FOUND: &str = "該当する方が見つかりません。番号と生年月日をお確かめのうえ、市の予防接種担当へお問い合わせください";

/// Checks that found nobody, per account, over the last [`Misses::WINDOW`]: a clinic's account
/// that keeps missing is guessing (birth dates for a 宛名番号, numbers for a birth date), and is
/// paused until its misses age out. Kept in the process, like the login throttle.
#[derive(Debug, Default)]
pub struct Misses {
    recent: std::sync::Mutex<std::collections::HashMap<String, Vec<std::time::Instant>>>,
}

impl Misses {
    /// Misses an account may have in [`Misses::WINDOW`] before it is paused.
    pub const LIMIT: usize = 10;
    pub const WINDOW: std::time::Duration = std::time::Duration::from_secs(3600);

    fn key(actor: &Actor) -> String {
        format!(
            "{}|{}",
            actor.tenant.map(|t| t.as_string()).unwrap_or_default(),
            actor.actor
        )
    }

    fn paused(&self, actor: &Actor) -> bool {
        let Ok(mut map) = self.recent.lock() else {
            return true;
        };
        let now = std::time::Instant::now();
        let recent = map.entry(Self::key(actor)).or_default();
        recent.retain(|t| now.duration_since(*t) < Self::WINDOW);
        recent.len() >= Self::LIMIT
    }

    fn record(&self, actor: &Actor) {
        if let Ok(mut map) = self.recent.lock() {
            if map.len() > 100_000 {
                map.clear();
            }
            map.entry(Self::key(actor))
                .or_default()
                .push(std::time::Instant::now());
        }
    }
}

/// Whom the clinic asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClinicKey {
    /// The 18-digit number line printed on the ticket, or the text of its QR code.
    Ticket(String),
    /// 宛名番号 and the birth date, as the person or the guardian states them.
    Person {
        address_number: String,
        birth_date: String,
    },
}

/// A clinic's question: who, and (optionally) which product it is about to give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinicQuestion {
    pub key: ClinicKey,
    pub product: Option<String>,
}

/// The ticket presented, as far as the clinic needs it.
#[derive(Debug, Clone, Serialize)]
pub struct TicketState {
    pub series: String,
    pub dose: u32,
    pub valid_from: CivilDate,
    pub valid_until: CivilDate,
    /// Usable today: within its period (a re-issued ticket is refused before this).
    pub valid: bool,
    pub line: String,
}

/// One dose the person is in target for.
#[derive(Debug, Clone, Serialize)]
pub struct DueDose {
    pub series_key: String,
    pub series: String,
    pub dose: Option<u32>,
    pub stage: Option<String>,
    /// Can be given today as a routine dose.
    pub now: bool,
    pub earliest: Option<CivilDate>,
    pub until: Option<CivilDate>,
    pub line: String,
}

/// What a dose of the product given today would be.
#[derive(Debug, Clone, Serialize)]
pub struct ProductCheck {
    pub product: String,
    pub product_name: String,
    /// `None` for an antibody test, which is not a dose.
    pub routine: Option<bool>,
    pub series: Option<String>,
    pub stage: Option<String>,
    /// One line of Japanese: why it is routine, or why not (interval, age, product, spacing).
    pub line: String,
}

/// The answer: only what the clinic needs before the dose.
#[derive(Debug, Clone, Serialize)]
pub struct ClinicAnswer {
    pub as_of: CivilDate,
    pub institution: String,
    pub name: String,
    pub kana: String,
    pub birth_date: CivilDate,
    pub birth_date_wareki: String,
    pub age: Option<u32>,
    pub ticket: Option<TicketState>,
    pub due: Vec<DueDose>,
    pub product: Option<ProductCheck>,
}

/// A ticket's number line, read as a clinic's scanner or keyboard gives it: full-width digits,
/// spaces and hyphens are allowed; 18 digits must remain.
fn number_line(input: &str) -> Result<String, AppError> {
    let digits: String = normalize_digits(input)
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | 'ー' | '‐'))
        .collect();
    if digits.len() == 18 && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(digits)
    } else {
        Err(AppError::Field(
            "ticket",
            "接種券の番号は18桁の数字です (券の番号欄かQRコードを読み取ってください)".into(),
        ))
    }
}

impl App {
    /// Records a refused check; the error to answer with, or the audit's own failure.
    async fn refuse_check(
        &self,
        actor: &Actor,
        detail: serde_json::Value,
        error: AppError,
    ) -> AppError {
        match self
            .record(actor, FUNCTION, Outcome::Refused, vec![], vec![], detail)
            .await
        {
            Ok(()) => error,
            Err(e) => e,
        }
    }

    /// The check before a dose (clinic.check). The account must speak for an institution. A
    /// ticket, 宛名番号 or birth date that finds nobody is refused in the same words whatever the
    /// reason, so that the check cannot be used to learn who lives in the city.
    pub async fn clinic_check(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        question: &ClinicQuestion,
    ) -> Result<ClinicAnswer, AppError> {
        let via = match &question.key {
            ClinicKey::Ticket(_) => "ticket",
            ClinicKey::Person { .. } => "address",
        };
        self.authorize_for(
            actor,
            tenant,
            Permission::ClinicCheck,
            FUNCTION,
            json!({"via": via}),
        )
        .await?;
        let Some(institution) = actor.institution.clone() else {
            return Err(self
                .refuse_check(
                    actor,
                    json!({"reason": "no institution", "via": via}),
                    AppError::Invalid(NO_INSTITUTION.into()),
                )
                .await);
        };
        if self.clinic_misses.paused(actor) {
            return Err(self
                .refuse_check(
                    actor,
                    json!({"institution": institution, "via": via, "reason": "paused after misses"}),
                    AppError::Invalid(PAUSED.into()),
                )
                .await);
        }
        let today = today_in_japan();
        let product = match question.product.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(code) => Some(self.engine.rules().product(code).cloned().ok_or_else(|| {
                AppError::Field("product", format!("ワクチン「{code}」は登録されていません"))
            })?),
        };
        let refused = |reason: &str, extra: serde_json::Value| {
            let mut detail = json!({"institution": institution, "via": via, "reason": reason});
            if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
                d.extend(e.clone());
            }
            detail
        };
        let not_found = || {
            self.clinic_misses.record(actor);
            AppError::NotFound(NOT_FOUND.into())
        };
        // Who: the ticket's person, or the person whose 宛名番号 and birth date both match.
        let (address_number, ticket, stated_birth) = match &question.key {
            ClinicKey::Ticket(text) => {
                let line = number_line(text)?;
                let code = tenant.as_string();
                if line.get(2..8) != Some(code.as_str()) {
                    return Err(AppError::Field(
                        "ticket",
                        format!(
                            "市町村コード {} の接種券です。この市 ({code}) の接種券ではありません",
                            line.get(2..8).unwrap_or("")
                        ),
                    ));
                }
                let found = self
                    .store
                    .ticket(tenant, line.get(8..).unwrap_or(""))
                    .await?
                    .filter(|t| t.number_line == line);
                let Some(t) = found else {
                    return Err(self
                        .refuse_check(actor, refused("not found", json!({})), not_found())
                        .await);
                };
                if t.invalidated_at.is_some() {
                    return Err(self
                        .refuse_check(
                            actor,
                            refused("ticket invalidated", json!({"ticket": t.ticket_number})),
                            AppError::Invalid(VOID_TICKET.into()),
                        )
                        .await);
                }
                let a = AddressNumber::parse(&t.address_number)
                    .map_err(|_| AppError::Internal("接種券の宛名番号が壊れています".into()))?;
                (a, Some(t), None)
            }
            ClinicKey::Person {
                address_number,
                birth_date,
            } => {
                let a = AddressNumber::parse(address_number.trim())
                    .map_err(|e| AppError::Field("address_number", e.to_string()))?;
                let b = parse_date(birth_date)
                    .map_err(|e| AppError::Field("birth_date", e.to_string()))?;
                (a, None, Some(b))
            }
        };
        let row = self.store.person(tenant, &address_number).await?;
        let row = match row {
            Some(r) if stated_birth.is_none_or(|b| b == r.person.birth_date) => r,
            other => {
                let reason = if other.is_some() {
                    "birth date differs"
                } else {
                    "not found"
                };
                return Err(self
                    .refuse_check(actor, refused(reason, json!({})), not_found())
                    .await);
            }
        };
        let person = &row.person;
        if person.status != ResidentStatus::Resident {
            return Err(self
                .refuse_check(
                    actor,
                    refused("not resident", json!({})),
                    AppError::Invalid(NOT_RESIDENT.into()),
                )
                .await);
        }
        let doses: Vec<_> = self
            .store
            .doses_of(tenant, address_number.as_str())
            .await?
            .into_iter()
            .map(|r| r.dose)
            .collect();
        let request = EvalRequest::for_person(person.birth_date, person.sex, &doses, today);
        let forecast = self.engine.evaluate(&request);
        let age = age_on(person.birth_date, today);
        let due = listed_series(&self.engine, &forecast.series, age)
            .into_iter()
            .filter(|(_, f)| f.in_target && f.next_dose.is_some())
            .map(|(s, f)| DueDose {
                series_key: s.key.clone(),
                series: s.name.clone(),
                dose: f.next_dose,
                stage: f.next_stage.clone(),
                now: f.eligible,
                earliest: f.earliest_date,
                until: f.window.map(|w| w[1]),
                line: f.reason.clone(),
            })
            .collect();
        let series_name = |key: &str| {
            self.engine
                .rules()
                .series
                .iter()
                .find(|s| s.key == key)
                .map_or_else(|| key.to_owned(), |s| s.name.clone())
        };
        let product = product.map(|p| {
            let j = self.engine.check_dose(&request, &p.code);
            ProductCheck {
                line: match j.routine {
                    Some(true) => format!("定期接種として接種できます: {}", j.reason),
                    Some(false) => format!("定期接種になりません: {}", j.reason),
                    None => format!("接種ではありません (抗体検査): {}", j.reason),
                },
                routine: j.routine,
                series: j.series.as_deref().map(series_name),
                stage: j.stage,
                product: p.code,
                product_name: p.name,
            }
        });
        let ticket = ticket.map(|t| {
            let valid = t.valid_from <= today && today <= t.valid_until;
            let name = series_name(&t.series_key);
            TicketState {
                line: if valid {
                    format!("{name} 第{}回の接種券です (有効期間内)", t.dose)
                } else {
                    format!(
                        "{name} 第{}回の接種券ですが、有効期間 ({} 〜 {}) の外です",
                        t.dose, t.valid_from, t.valid_until
                    )
                },
                series: name,
                dose: t.dose,
                valid_from: t.valid_from,
                valid_until: t.valid_until,
                valid,
            }
        });
        self.record(
            actor,
            FUNCTION,
            Outcome::Ok,
            vec![],
            vec![address_number.as_str().to_owned()],
            json!({
                "institution": institution,
                "via": via,
                "ticket": ticket.as_ref().map(|t| json!({"series": t.series, "dose": t.dose, "valid": t.valid})),
                "product": product.as_ref().map(|p| p.product.clone()),
                "routine": product.as_ref().and_then(|p| p.routine),
            }),
        )
        .await?;
        Ok(ClinicAnswer {
            as_of: today,
            institution,
            name: person.name.to_string(),
            kana: sesshu_domain::full_width_kana(&person.kana.to_string()),
            birth_date: person.birth_date,
            birth_date_wareki: format_wareki(person.birth_date),
            age,
            ticket,
            due,
            product,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_line_is_read_as_a_scanner_or_a_keyboard_gives_it() {
        assert_eq!(
            number_line("41 132098 0000000042").unwrap(),
            "411320980000000042"
        );
        assert_eq!(
            number_line("４１-１３２０９８-００００００００４２").unwrap(),
            "411320980000000042"
        );
        for wrong in [
            "",
            "4113209800000000",
            "41132098000000004x",
            "4113209800000000421",
        ] {
            assert!(
                matches!(number_line(wrong), Err(AppError::Field("ticket", _))),
                "{wrong}"
            );
        }
    }
}
