//! Certificates issued (予防接種済証 / 証明書) and the public keys that verify them.
//!
//! The signed token and the SHA-256 of the PDF as handed out are kept: a certificate ID can be
//! checked, and a PDF file is genuine only if it is byte for byte one that was issued.

use crate::columns::Columns;
use crate::sql::Value;
use sesshu_domain::MunicipalityCode;

use crate::notices::take_numbers;
use crate::{Store, StoreError, now_utc};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CertificateRecord {
    pub certificate_id: String,
    pub address_number: String,
    pub travel: bool,
    pub issued_on: String,
    pub issued_by: String,
    pub issued_at: String,
    pub token: String,
    pub key_id: String,
    pub pdf_sha256: String,
    pub reissue_of: Option<String>,
    pub revoked_at: Option<String>,
    /// Why it was revoked (a re-issue says so itself).
    pub revoked_reason: Option<String>,
}

fn from_row(r: &impl Columns) -> Result<CertificateRecord, StoreError> {
    Ok(CertificateRecord {
        certificate_id: r.try_get("certificate_id")?,
        address_number: r.try_get("address_number")?,
        travel: r.try_get::<i64>("travel")? != 0,
        issued_on: r.try_get("issued_on")?,
        issued_by: r.try_get("issued_by")?,
        issued_at: r.try_get("issued_at")?,
        token: r.try_get("token")?,
        key_id: r.try_get("key_id")?,
        pdf_sha256: r.try_get("pdf_sha256")?,
        reissue_of: r.try_get("reissue_of")?,
        revoked_at: r.try_get("revoked_at")?,
        revoked_reason: r.try_get("revoked_reason")?,
    })
}

impl Store {
    /// A new certificate ID: `<municipality>-<year>-<6-digit sequence>`.
    pub async fn next_certificate_id(
        &self,
        tenant: MunicipalityCode,
        year: i32,
    ) -> Result<String, StoreError> {
        let mut db = self.begin_write().await?;
        let n = take_numbers(&mut db, tenant, "certificate", 1).await?;
        db.commit().await?;
        Ok(format!("{}-{year}-{n:06}", tenant.as_string()))
    }

    /// Records an issued certificate; a re-issue revokes the one it replaces in the same
    /// transaction.
    pub async fn record_certificate(
        &self,
        tenant: MunicipalityCode,
        c: &CertificateRecord,
    ) -> Result<(), StoreError> {
        let code = tenant.as_string();
        let mut db = self.begin_write().await?;
        if let Some(old) = &c.reissue_of {
            sqlx::query(
                "UPDATE certificate SET revoked_at = $1, revoked_by = $2, revoked_reason = $3 \
                 WHERE municipality_code = $4 AND certificate_id = $5 AND revoked_at IS NULL",
            )
            .bind(now_utc())
            .bind(&c.issued_by)
            .bind(format!("再発行 ({})", c.certificate_id))
            .bind(&code)
            .bind(old)
            .execute(&mut *db)
            .await?;
        }
        sqlx::query(
            "INSERT INTO certificate (municipality_code, certificate_id, address_number, travel, \
             issued_on, issued_by, issued_at, token, key_id, pdf_sha256, reissue_of) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&code)
        .bind(&c.certificate_id)
        .bind(&c.address_number)
        .bind(i64::from(c.travel))
        .bind(&c.issued_on)
        .bind(&c.issued_by)
        .bind(&c.issued_at)
        .bind(&c.token)
        .bind(&c.key_id)
        .bind(&c.pdf_sha256)
        .bind(c.reissue_of.clone())
        .execute(&mut *db)
        .await?;
        db.commit().await?;
        Ok(())
    }

    pub async fn certificate(
        &self,
        tenant: MunicipalityCode,
        certificate_id: &str,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        sqlx::query(
            "SELECT * FROM certificate WHERE municipality_code = $1 AND certificate_id = $2",
        )
        .bind(tenant.as_string())
        .bind(certificate_id)
        .fetch_optional(self.pool())
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// The certificate whose PDF has this SHA-256, if one was issued.
    pub async fn certificate_by_pdf(
        &self,
        tenant: MunicipalityCode,
        sha256: &str,
    ) -> Result<Option<CertificateRecord>, StoreError> {
        sqlx::query("SELECT * FROM certificate WHERE municipality_code = $1 AND pdf_sha256 = $2")
            .bind(tenant.as_string())
            .bind(sha256)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    pub async fn certificates_of_person(
        &self,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        self.fetch_all(
            "SELECT * FROM certificate WHERE municipality_code = $1 AND address_number = $2 \
             ORDER BY issued_at DESC",
            &[Value::text(tenant.as_string()), Value::text(address_number)],
            |r| from_row(r),
        )
        .await
    }

    /// Revokes a certificate on its own (lost, issued in error): from now on it does not
    /// verify, and its verification gives `reason`. Refused for one already revoked.
    pub async fn revoke_certificate(
        &self,
        tenant: MunicipalityCode,
        certificate_id: &str,
        by: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        let changed = sqlx::query(
            "UPDATE certificate SET revoked_at = $1, revoked_by = $2, revoked_reason = $3 \
             WHERE municipality_code = $4 AND certificate_id = $5 AND revoked_at IS NULL",
        )
        .bind(now_utc())
        .bind(by)
        .bind(reason)
        .bind(tenant.as_string())
        .bind(certificate_id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed == 0 {
            return match self.certificate(tenant, certificate_id).await? {
                Some(_) => Err(StoreError::Invalid(format!(
                    "証明書 {certificate_id} はすでに無効です"
                ))),
                None => Err(StoreError::NotFound(format!("証明書 {certificate_id}"))),
            };
        }
        Ok(())
    }

    /// Keeps a public key (once), so certificates signed with it verify after rotation.
    pub async fn register_certificate_key(
        &self,
        tenant: MunicipalityCode,
        key_id: &str,
        public_key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO certificate_key (municipality_code, key_id, public_key, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (municipality_code, key_id) DO NOTHING",
        )
        .bind(tenant.as_string())
        .bind(key_id)
        .bind(public_key)
        .bind(now_utc())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every public key the municipality has signed with, as published text.
    pub async fn certificate_keys(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query(
            "SELECT public_key FROM certificate_key WHERE municipality_code = $1 ORDER BY created_at",
        )
        .bind(tenant.as_string())
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| r.try_get("public_key"))
        .collect()
    }
}
