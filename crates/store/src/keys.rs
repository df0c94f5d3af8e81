//! Key rotation: every stored My Number re-sealed under the current key version, batch by batch,
//! while the register stays in use. Each batch commits on its own, so an interrupted rotation
//! resumes where it stopped; readers open either version meanwhile (the keyring holds both).

use sesshu_crypto::TenantCrypto;
use sesshu_domain::MunicipalityCode;
use sqlx::Row;

use crate::person::{content_hash, my_number_aad, person_from_row};
use crate::{Store, StoreError};

/// What a rotation pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Rows re-sealed in this pass.
    pub resealed: u64,
    /// Rows still on an older version (0 when the rotation is complete).
    pub remaining: u64,
}

impl Store {
    /// Re-seals the municipality's My Numbers that are under an older key version than
    /// `crypto`'s current one, `batch` rows per transaction, at most `limit` rows in this call.
    /// The blind index and the content hash move with them, so the next import sees no change.
    pub async fn rotate_my_numbers(
        &self,
        tenant: MunicipalityCode,
        crypto: &TenantCrypto,
        batch: u32,
        limit: Option<u64>,
    ) -> Result<Rotation, StoreError> {
        let code = tenant.as_string();
        let current = i64::from(crypto.current_version());
        let mut out = Rotation::default();
        loop {
            let want = limit.map_or(u64::from(batch), |l| {
                (l - out.resealed).min(u64::from(batch))
            });
            if want == 0 {
                break;
            }
            let mut db = self.pool().begin().await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM person WHERE municipality_code = $1 AND my_number_key_version < $2 \
                 ORDER BY address_number LIMIT {want}"
            )))
            .bind(&code)
            .bind(current)
            .fetch_all(&mut *db)
            .await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let (person, sealed) = person_from_row(r)?;
                let Some(sealed) = sealed else { continue };
                let address = person.address_number.as_str();
                let number = crypto.open(&sealed, my_number_aad(address))?;
                let resealed = crypto.seal(&number, my_number_aad(address))?;
                let index = crypto.blind_index(&number)?.0.to_vec();
                let hash = content_hash(&person, Some(&index));
                // Only if nobody changed the row since it was read (an import in between).
                sqlx::query(
                    "UPDATE person SET my_number_sealed = $1, my_number_key_version = $2, \
                     my_number_index = $3, content_hash = $4 \
                     WHERE municipality_code = $5 AND address_number = $6 AND my_number_key_version = $7",
                )
                .bind(resealed.bytes)
                .bind(i64::from(resealed.key_version))
                .bind(index)
                .bind(hash)
                .bind(&code)
                .bind(address)
                .bind(i64::from(sealed.key_version))
                .execute(&mut *db)
                .await?;
                out.resealed += 1;
            }
            db.commit().await?;
        }
        let left = sqlx::query(
            "SELECT COUNT(*) AS n FROM person WHERE municipality_code = $1 AND my_number_key_version < $2",
        )
        .bind(&code)
        .bind(current)
        .fetch_one(self.pool())
        .await?;
        out.remaining = u64::try_from(left.try_get::<i64, _>("n")?).unwrap_or(0);
        Ok(out)
    }
}
