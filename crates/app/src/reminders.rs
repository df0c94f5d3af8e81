//! Reminder mails to guardians who asked for them (F3). A guardian is opted in and out at the
//! counter (notice.run) with the date and the channel, and can opt out without logging in by the
//! link every mail carries — the subscription's id signed with the key file's signing key, so no
//! secret of it is stored. A run reminds a guardian when a child of the household becomes due
//! for a dose (from the forecast, not the birth date), once per dose, at most one mail a week,
//! and says no more than that a vaccination is due: no child's name, no vaccine.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lettre::Message;
use lettre::message::Body;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use serde::Serialize;
use serde_json::json;
use sesshu_domain::access::Permission;
use sesshu_domain::{AddressNumber, CivilDate, MunicipalityCode, ResidentStatus, infer_guardians};
use sesshu_schedule::EvalRequest;
use sesshu_schedule::rules::Class;
use sesshu_store::{MailAttempt, MailStatus, Outcome, Reminded, Subscription};

use crate::mail::Mailer;
use crate::{Actor, App, AppError, today_in_japan};

/// How staff heard a guardian ask (the opt-out by link records `リンク`, a change `変更`).
pub const CHANNELS: [&str; 4] = ["窓口", "電話", "申請書", "電子申請"];

/// At most one mail per guardian in this many days.
pub const MIN_DAYS_BETWEEN: i64 = 7;

/// One dose a mail is about (for the staff's dry run; the mail itself names none).
#[derive(Debug, Clone, Serialize)]
pub struct DueItem {
    pub child: String,
    pub series_key: String,
    pub series: String,
    pub dose: u32,
}

/// A guardian a run would mail, or holds back.
#[derive(Debug, Clone, Serialize)]
pub struct ReminderMail {
    pub subscription_id: String,
    pub guardian: String,
    pub email: String,
    pub items: Vec<DueItem>,
    /// Why it is not sent now (the weekly limit), if so.
    pub held: Option<String>,
    /// After a real run: `sent` or `failed`, with the tries and the error.
    pub status: Option<String>,
    pub attempts: u32,
    pub error: Option<String>,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Serialize)]
pub struct ReminderRun {
    pub as_of: CivilDate,
    pub dry_run: bool,
    pub mails: Vec<ReminderMail>,
    pub sent: u32,
    pub failed: u32,
    pub held: u32,
}

/// What an unsubscribe link leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// In force: the address, masked (`ya****@example.jp`).
    Active(String),
    Stopped,
    Unknown,
}

/// `ya****@example.jp`: enough for a guardian to recognise, not to harvest.
pub fn masked_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let shown: String = local.chars().take(2).collect();
            format!("{shown}****@{domain}")
        }
        None => "****".into(),
    }
}

fn link_message(tenant: MunicipalityCode, subscription_id: &str) -> String {
    format!("unsubscribe|{}|{subscription_id}", tenant.as_string())
}

impl App {
    /// The unsubscribe link's last path segment: `<municipality>.<subscription>.<signature>`.
    pub fn unsubscribe_token(
        &self,
        tenant: MunicipalityCode,
        subscription_id: &str,
    ) -> Result<String, AppError> {
        let signature = sesshu_crypto::signing::sign(
            &*self.keyring()?,
            &link_message(tenant, subscription_id),
        )?;
        Ok(format!(
            "{}.{subscription_id}.{}",
            tenant.as_string(),
            signature.replacen(':', "-", 1)
        ))
    }

    /// The subscription a link names, when its signature holds.
    async fn linked(
        &self,
        token: &str,
    ) -> Result<Option<(MunicipalityCode, Subscription)>, AppError> {
        let mut parts = token.trim().splitn(3, '.');
        let (Some(code), Some(id), Some(signature)) = (parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        let Ok(tenant) = MunicipalityCode::parse(code) else {
            return Ok(None);
        };
        let signature = signature.replacen('-', ":", 1);
        if !sesshu_crypto::signing::verify(&*self.keyring()?, &link_message(tenant, id), &signature)
        {
            return Ok(None);
        }
        Ok(self
            .store
            .subscription(tenant, id)
            .await?
            .map(|s| (tenant, s)))
    }

    /// What the unsubscribe page shows for a link (nobody logged in).
    pub async fn reminder_link(&self, token: &str) -> Result<LinkState, AppError> {
        Ok(match self.linked(token).await? {
            Some((_, s)) if s.active() => LinkState::Active(masked_email(&s.email)),
            Some(_) => LinkState::Stopped,
            None => LinkState::Unknown,
        })
    }

    /// Stops the mails a link names, without logging in; recorded in its municipality's chain.
    /// `false` for a link that names nothing in force.
    pub async fn stop_reminders_by_link(
        &self,
        token: &str,
        source: &str,
    ) -> Result<bool, AppError> {
        let Some((tenant, s)) = self.linked(token).await? else {
            return Ok(false);
        };
        let stopped = self
            .store
            .unsubscribe_by_link(tenant, &s.subscription_id)
            .await?;
        if stopped {
            let who = Actor {
                tenant: Some(tenant),
                prefecture: None,
                actor: "link:unsubscribe".into(),
                kind: "link",
                permissions: Default::default(),
                source: source.to_owned(),
                institution: None,
            };
            self.record(
                &who,
                "reminder.optout",
                Outcome::Ok,
                vec![s.address_number.clone()],
                vec![],
                json!({"channel": "リンク", "subscription": s.subscription_id}),
            )
            .await?;
        }
        Ok(stopped)
    }

    /// Opts a guardian in (notice.run): `channel` is how the guardian asked.
    pub async fn subscribe_reminders(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
        email: &str,
        channel: &str,
    ) -> Result<Subscription, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::NoticeRun,
            "reminder.optin",
            json!({"person": address_number}),
        )
        .await?;
        let email = email.trim();
        email
            .parse::<lettre::Address>()
            .map_err(|_| AppError::Field("email", "メールアドレスの形式ではありません".into()))?;
        if !CHANNELS.contains(&channel) {
            return Err(AppError::Field(
                "channel",
                format!("受付の方法は {} のいずれかです", CHANNELS.join("・")),
            ));
        }
        let person = self.guardian(tenant, address_number).await?;
        let s = self
            .store
            .subscribe(tenant, person.as_str(), email, channel, &actor.actor)
            .await?;
        self.record(
            actor,
            "reminder.optin",
            Outcome::Ok,
            vec![person.as_str().to_owned()],
            vec![],
            json!({"channel": channel, "subscription": s.subscription_id}),
        )
        .await?;
        Ok(s)
    }

    /// Opts a guardian out at the counter (notice.run); `false` when nothing was in force.
    pub async fn unsubscribe_reminders(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
        channel: &str,
    ) -> Result<bool, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::NoticeRun,
            "reminder.optout",
            json!({"person": address_number}),
        )
        .await?;
        if !CHANNELS.contains(&channel) {
            return Err(AppError::Field(
                "channel",
                format!("受付の方法は {} のいずれかです", CHANNELS.join("・")),
            ));
        }
        let person = self.guardian(tenant, address_number).await?;
        let stopped = self
            .store
            .unsubscribe(tenant, person.as_str(), channel, &actor.actor)
            .await?;
        if stopped {
            self.record(
                actor,
                "reminder.optout",
                Outcome::Ok,
                vec![person.as_str().to_owned()],
                vec![],
                json!({"channel": channel}),
            )
            .await?;
        }
        Ok(stopped)
    }

    /// A guardian's subscriptions, newest first (person.read).
    pub async fn reminder_subscriptions(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<Vec<Subscription>, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::PersonRead,
            "reminder.list",
            json!({"person": address_number}),
        )
        .await?;
        Ok(self
            .store
            .subscriptions_of(tenant, address_number.trim())
            .await?)
    }

    async fn guardian(
        &self,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<AddressNumber, AppError> {
        let a = AddressNumber::parse(address_number.trim())
            .map_err(|e| AppError::Field("address_number", e.to_string()))?;
        if self.store.person(tenant, &a).await?.is_none() {
            return Err(AppError::NotFound(format!("宛名番号 {a}")));
        }
        Ok(a)
    }

    /// The reminders due on `as_of` (notice.run): with `mailer` and not `dry_run`, sent and
    /// recorded; otherwise only listed. Audited with the guardians mailed or listed.
    pub async fn send_reminders(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        as_of: CivilDate,
        mailer: Option<&Mailer>,
        dry_run: bool,
    ) -> Result<ReminderRun, AppError> {
        let function = if dry_run {
            "reminder.plan"
        } else {
            "reminder.send"
        };
        self.authorize(actor, tenant, Permission::NoticeRun, function)
            .await?;
        if !dry_run && mailer.is_none() {
            return Err(AppError::Invalid(
                "メールの中継 ([mail] smtp_host) が設定されていません。確認のみ (dry run) なら対象だけを一覧できます"
                    .into(),
            ));
        }
        let now = Utc::now();
        let mut mails = self.plan_reminders(tenant, as_of, now).await?;
        let (mut sent, mut failed) = (0, 0);
        if let (false, Some(mailer)) = (dry_run, mailer) {
            let body = self.reminder_body(tenant).await?;
            for m in mails.iter_mut().filter(|m| m.held.is_none()) {
                let token = self.unsubscribe_token(tenant, &m.subscription_id)?;
                let message = reminder_message(mailer, &m.email, &body, &token)?;
                let (attempts, error) = mailer.send(&message).await;
                let status = if error.is_none() {
                    sent += 1;
                    MailStatus::Sent
                } else {
                    failed += 1;
                    MailStatus::Failed
                };
                let items: Vec<Reminded> = m
                    .items
                    .iter()
                    .map(|i| (i.child.clone(), i.series_key.clone(), i.dose))
                    .collect();
                self.store
                    .record_mail(
                        tenant,
                        &MailAttempt {
                            subscription_id: &m.subscription_id,
                            items: &items,
                            status,
                            attempts,
                            error: error.as_deref(),
                            at: Utc::now(),
                        },
                    )
                    .await?;
                m.status = Some(if error.is_none() { "sent" } else { "failed" }.into());
                m.attempts = attempts;
                m.error = error;
            }
        }
        let held = mails.iter().filter(|m| m.held.is_some()).count() as u32;
        let guardians: Vec<String> = mails.iter().map(|m| m.guardian.clone()).collect();
        let (acted, shown) = if dry_run {
            (vec![], guardians)
        } else {
            (
                mails
                    .iter()
                    .filter(|m| m.status.as_deref() == Some("sent"))
                    .map(|m| m.guardian.clone())
                    .collect(),
                vec![],
            )
        };
        self.record(
            actor,
            function,
            Outcome::Ok,
            acted,
            shown,
            json!({"as_of": as_of.to_string(), "mails": mails.len(), "sent": sent,
                   "failed": failed, "held": held}),
        )
        .await?;
        Ok(ReminderRun {
            as_of,
            dry_run,
            mails,
            sent,
            failed,
            held,
        })
    }

    /// Every guardian in force with the doses of the household's children that are due now and
    /// were not yet in a sent mail; held back when a mail went out in the last week.
    async fn plan_reminders(
        &self,
        tenant: MunicipalityCode,
        as_of: CivilDate,
        now: DateTime<Utc>,
    ) -> Result<Vec<ReminderMail>, AppError> {
        let (reminded, last_sent) = self.store.reminded(tenant).await?;
        let names: BTreeMap<&str, &str> = self
            .engine
            .rules()
            .series
            .iter()
            .map(|s| (s.key.as_str(), s.name.as_str()))
            .collect();
        let today = today_in_japan();
        let mut mails = Vec::new();
        for s in self.store.active_subscriptions(tenant).await? {
            let Ok(guardian) = AddressNumber::parse(&s.address_number) else {
                continue;
            };
            let Some(row) = self.store.person(tenant, &guardian).await? else {
                continue;
            };
            let Some(household) = &row.person.household_number else {
                continue;
            };
            if row.person.status != ResidentStatus::Resident {
                continue;
            }
            let members = self.store.household(tenant, household).await?;
            let done = reminded.get(&s.subscription_id);
            let mut items = Vec::new();
            for child in &members {
                let cared_for = child.status == ResidentStatus::Resident
                    && infer_guardians(child, &members, today)
                        .iter()
                        .any(|g| g.address_number == guardian);
                if !cared_for {
                    continue;
                }
                let doses: Vec<_> = self
                    .store
                    .doses_of(tenant, child.address_number.as_str())
                    .await?
                    .into_iter()
                    .map(|r| r.dose)
                    .collect();
                let request = EvalRequest::for_person(child.birth_date, child.sex, &doses, as_of);
                let forecast = self.engine.evaluate(&request);
                for rule in self
                    .engine
                    .rules()
                    .series
                    .iter()
                    .filter(|r| r.class == Class::A)
                {
                    let Some(f) = forecast.series.get(&rule.key) else {
                        continue;
                    };
                    let Some(dose) = f.next_dose.filter(|_| f.eligible && f.in_target) else {
                        continue;
                    };
                    let key = (
                        child.address_number.as_str().to_owned(),
                        rule.key.clone(),
                        dose,
                    );
                    if done.is_some_and(|d| d.contains(&key)) {
                        continue;
                    }
                    items.push(DueItem {
                        child: key.0,
                        series: names
                            .get(rule.key.as_str())
                            .map_or_else(|| rule.key.clone(), |n| (*n).to_owned()),
                        series_key: key.1,
                        dose,
                    });
                }
            }
            if items.is_empty() {
                continue;
            }
            let held = last_sent
                .get(&s.subscription_id)
                .filter(|t| {
                    DateTime::parse_from_rfc3339(t).is_ok_and(|t| {
                        now - t.with_timezone(&Utc) < chrono::Duration::days(MIN_DAYS_BETWEEN)
                    })
                })
                .map(|t| {
                    format!(
                        "週1通まで (前回 {} に送信)",
                        sesshu_domain::japan_minutes(t)
                    )
                });
            mails.push(ReminderMail {
                subscription_id: s.subscription_id,
                guardian: s.address_number,
                email: s.email,
                items,
                held,
                status: None,
                attempts: 0,
                error: None,
            });
        }
        Ok(mails)
    }

    /// The text every reminder says (the sender block of `[documents]`): that a vaccination is
    /// due, where to look and whom to call — nothing about the child or the vaccine.
    async fn reminder_body(&self, tenant: MunicipalityCode) -> Result<(String, String), AppError> {
        let name = self
            .store
            .municipalities()
            .await?
            .into_iter()
            .find(|m| m.code == tenant)
            .map(|m| m.name)
            .unwrap_or_default();
        let d = &self.documents;
        let office = [name.as_str(), d.department.as_deref().unwrap_or("")]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let phone = d
            .phone
            .as_deref()
            .map(|p| format!("電話 {p}\n"))
            .unwrap_or_default();
        let subject = format!("【{name}】予防接種のお知らせ");
        let body = format!(
            "{office}からのお知らせです。\n\n\
             お子さまの予防接種の時期になりました。\n\
             お送りしている通知 (予診票・接種券) をご確認いただくか、下記までお問い合わせください。\n\n\
             {office}\n{phone}\n\
             このメールは、配信を希望された方にお送りしています。返信はできません。\n"
        );
        Ok((subject, body))
    }
}

/// The mail itself, with the unsubscribe link in the text and as a one-click header (RFC 8058).
fn reminder_message(
    mailer: &Mailer,
    to: &str,
    (subject, body): &(String, String),
    token: &str,
) -> Result<Message, AppError> {
    let link = format!("{}/unsubscribe/{token}", mailer.public_url);
    let to = to
        .parse()
        .map_err(|_| AppError::Invalid("メールアドレスの形式ではありません".into()))?;
    Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(subject.as_str())
        .header(ContentType::TEXT_PLAIN)
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{link}>"),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".into(),
        ))
        .body(
            // Base64 always: Japanese text passes any relay unchanged, whatever it announces.
            Body::new_with_encoding(
                format!("{body}配信の停止: {link}\n"),
                ContentTransferEncoding::Base64,
            )
            .map_err(|_| AppError::Internal("メールの本文を符号化できません".into()))?,
        )
        .map_err(|e| AppError::Internal(format!("メールを組み立てられません: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_shown_masked() {
        assert_eq!(
            masked_email("yamada.hanako@example.jp"),
            "ya****@example.jp"
        );
        assert_eq!(masked_email("a@example.jp"), "a****@example.jp");
        assert_eq!(masked_email("nonsense"), "****");
    }
}
