//! Reminder mails (F3): guardians' subscriptions — opted in and out with date, channel and who
//! recorded it, never deleted — and every mail sent or tried with the doses it reminded of.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sesshu_domain::MunicipalityCode;
use sqlx::Row;

use crate::{Store, StoreError, now_utc, random_hex};

/// A guardian's subscription as recorded.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Subscription {
    pub subscription_id: String,
    pub address_number: String,
    pub email: String,
    pub opted_in_at: String,
    pub opted_in_channel: String,
    pub opted_in_by: String,
    pub opted_out_at: Option<String>,
    pub opted_out_channel: Option<String>,
    pub opted_out_by: Option<String>,
}

impl Subscription {
    pub fn active(&self) -> bool {
        self.opted_out_at.is_none()
    }
}

/// One dose a mail reminded of: (child's 宛名番号, series, dose).
pub type Reminded = (String, String, u32);

/// How a mail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailStatus {
    Sent,
    Failed,
}

impl MailStatus {
    fn code(self) -> &'static str {
        match self {
            MailStatus::Sent => "sent",
            MailStatus::Failed => "failed",
        }
    }
}

/// A mail as it went: to whom, about what, and how it ended.
#[derive(Debug, Clone, Copy)]
pub struct MailAttempt<'a> {
    pub subscription_id: &'a str,
    pub items: &'a [Reminded],
    pub status: MailStatus,
    pub attempts: u32,
    pub error: Option<&'a str>,
    pub at: DateTime<Utc>,
}

fn subscription(r: &sqlx::any::AnyRow) -> Result<Subscription, StoreError> {
    Ok(Subscription {
        subscription_id: r.try_get("subscription_id")?,
        address_number: r.try_get("address_number")?,
        email: r.try_get("email")?,
        opted_in_at: r.try_get("opted_in_at")?,
        opted_in_channel: r.try_get("opted_in_channel")?,
        opted_in_by: r.try_get("opted_in_by")?,
        opted_out_at: r.try_get("opted_out_at")?,
        opted_out_channel: r.try_get("opted_out_channel")?,
        opted_out_by: r.try_get("opted_out_by")?,
    })
}

impl Store {
    /// Opts a guardian in at `email`. A subscription already in force ends, as changed.
    pub async fn subscribe(
        &self,
        tenant: MunicipalityCode,
        address_number: &str,
        email: &str,
        channel: &str,
        by: &str,
    ) -> Result<Subscription, StoreError> {
        let code = tenant.as_string();
        let id = random_hex(8);
        let now = now_utc();
        let mut db = self.begin_write().await?;
        sqlx::query(
            "UPDATE mail_subscription SET opted_out_at = $1, opted_out_channel = $2, opted_out_by = $3 \
             WHERE municipality_code = $4 AND address_number = $5 AND opted_out_at IS NULL",
        )
        .bind(&now)
        .bind("変更")
        .bind(by)
        .bind(&code)
        .bind(address_number)
        .execute(&mut *db)
        .await?;
        sqlx::query(
            "INSERT INTO mail_subscription (municipality_code, subscription_id, address_number, email, \
             opted_in_at, opted_in_channel, opted_in_by) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(&code)
        .bind(&id)
        .bind(address_number)
        .bind(email)
        .bind(&now)
        .bind(channel)
        .bind(by)
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        let s = Subscription {
            subscription_id: id,
            address_number: address_number.to_owned(),
            email: email.to_owned(),
            opted_in_at: now,
            opted_in_channel: channel.to_owned(),
            opted_in_by: by.to_owned(),
            opted_out_at: None,
            opted_out_channel: None,
            opted_out_by: None,
        };
        Ok(s)
    }

    /// Ends the guardian's subscription in force; `false` when there was none.
    pub async fn unsubscribe(
        &self,
        tenant: MunicipalityCode,
        address_number: &str,
        channel: &str,
        by: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE mail_subscription SET opted_out_at = $1, opted_out_channel = $2, opted_out_by = $3 \
             WHERE municipality_code = $4 AND address_number = $5 AND opted_out_at IS NULL",
        )
        .bind(now_utc())
        .bind(channel)
        .bind(by)
        .bind(tenant.as_string())
        .bind(address_number)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// One subscription, in force or not.
    pub async fn subscription(
        &self,
        tenant: MunicipalityCode,
        subscription_id: &str,
    ) -> Result<Option<Subscription>, StoreError> {
        let row = sqlx::query(
            "SELECT * FROM mail_subscription WHERE municipality_code = $1 AND subscription_id = $2",
        )
        .bind(tenant.as_string())
        .bind(subscription_id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(subscription).transpose()
    }

    /// Ends the subscription a link names (channel `リンク`); `false` when it had ended already.
    pub async fn unsubscribe_by_link(
        &self,
        tenant: MunicipalityCode,
        subscription_id: &str,
    ) -> Result<bool, StoreError> {
        let n = sqlx::query(
            "UPDATE mail_subscription SET opted_out_at = $1, opted_out_channel = 'リンク', \
             opted_out_by = 'link' WHERE municipality_code = $2 AND subscription_id = $3 \
             AND opted_out_at IS NULL",
        )
        .bind(now_utc())
        .bind(tenant.as_string())
        .bind(subscription_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// A guardian's subscriptions, newest first (the history of opting in and out).
    pub async fn subscriptions_of(
        &self,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<Vec<Subscription>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM mail_subscription WHERE municipality_code = $1 AND address_number = $2 \
             ORDER BY opted_in_at DESC, subscription_id",
        )
        .bind(tenant.as_string())
        .bind(address_number)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(subscription).collect()
    }

    /// Every subscription in force.
    pub async fn active_subscriptions(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Vec<Subscription>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM mail_subscription WHERE municipality_code = $1 AND opted_out_at IS NULL \
             ORDER BY address_number",
        )
        .bind(tenant.as_string())
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(subscription).collect()
    }

    /// What was already reminded of (in a sent mail), per subscription, and when each
    /// subscription last had a mail sent.
    pub async fn reminded(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<(HashMap<String, HashSet<Reminded>>, HashMap<String, String>), StoreError> {
        let code = tenant.as_string();
        let rows = sqlx::query(
            "SELECT s.subscription_id, i.child_address, i.series_key, i.dose FROM mail_sent s \
             JOIN mail_item i ON i.municipality_code = s.municipality_code AND i.mail_id = s.mail_id \
             WHERE s.municipality_code = $1 AND s.status = 'sent'",
        )
        .bind(&code)
        .fetch_all(self.pool())
        .await?;
        let mut items: HashMap<String, HashSet<Reminded>> = HashMap::new();
        for r in &rows {
            let dose = u32::try_from(r.try_get::<i64, _>("dose")?)
                .map_err(|_| StoreError::Corrupt("mail_item.dose".into()))?;
            items
                .entry(r.try_get("subscription_id")?)
                .or_default()
                .insert((r.try_get("child_address")?, r.try_get("series_key")?, dose));
        }
        let rows = sqlx::query(
            "SELECT subscription_id, MAX(attempted_at) AS last FROM mail_sent \
             WHERE municipality_code = $1 AND status = 'sent' GROUP BY subscription_id",
        )
        .bind(&code)
        .fetch_all(self.pool())
        .await?;
        let mut last = HashMap::new();
        for r in &rows {
            last.insert(r.try_get("subscription_id")?, r.try_get("last")?);
        }
        Ok((items, last))
    }

    /// Records a mail sent or given up on, with the doses it was about.
    pub async fn record_mail(
        &self,
        tenant: MunicipalityCode,
        mail: &MailAttempt<'_>,
    ) -> Result<String, StoreError> {
        let MailAttempt {
            subscription_id,
            items,
            status,
            attempts,
            error,
            at,
        } = *mail;
        let code = tenant.as_string();
        let id = random_hex(8);
        let mut db = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO mail_sent (municipality_code, mail_id, subscription_id, attempted_at, \
             attempts, status, error) VALUES ($1,$2,$3,$4,$5,$6,$7)",
        )
        .bind(&code)
        .bind(&id)
        .bind(subscription_id)
        .bind(at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .bind(i64::from(attempts))
        .bind(status.code())
        .bind(error)
        .execute(&mut *db)
        .await?;
        for (child, series, dose) in items {
            sqlx::query(
                "INSERT INTO mail_item (municipality_code, mail_id, child_address, series_key, dose) \
                 VALUES ($1,$2,$3,$4,$5)",
            )
            .bind(&code)
            .bind(&id)
            .bind(child)
            .bind(series)
            .bind(i64::from(*dose))
            .execute(&mut *db)
            .await?;
        }
        db.commit().await?;
        Ok(id)
    }
}
