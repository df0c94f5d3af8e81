//! Key rotation: every stored My Number (the register's and its history's) and every account's
//! second-factor key re-sealed under the current key version, batch by batch, while the register
//! stays in use. Each batch commits on its own, so an interrupted rotation resumes where it
//! stopped; readers open either version meanwhile (the keyring holds both). Once nothing is
//! sealed under an old version any more, it can be retired (`Keyring::retire`).

use sesshu_crypto::{Keyring, TenantCrypto, signing};
use sesshu_domain::MunicipalityCode;
use sqlx::Row;

use crate::person::{content_hash, corrupt, my_number_aad, person_from_row};
use crate::{Store, StoreError};

/// What a rotation pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Rows re-sealed in this pass.
    pub resealed: u64,
    /// Rows still on an older version (0 when the rotation is complete).
    pub remaining: u64,
}

/// The two tables that hold sealed My Numbers.
#[derive(Clone, Copy)]
enum Held {
    Person,
    History,
}

impl Held {
    fn table(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::History => "person_history",
        }
    }
}

impl Store {
    /// Re-seals the municipality's My Numbers — the register's and its history's — that are
    /// under an older key version than `crypto`'s current one, `batch` rows per transaction, at
    /// most `limit` rows in this call. The blind index and the register's content hash move with
    /// them, so the next import sees no change; history changes in nothing else (its trigger
    /// allows only this).
    pub async fn rotate_my_numbers(
        &self,
        tenant: MunicipalityCode,
        crypto: &TenantCrypto,
        batch: u32,
        limit: Option<u64>,
    ) -> Result<Rotation, StoreError> {
        let mut out = Rotation::default();
        for held in [Held::Person, Held::History] {
            let left = limit.map(|l| l - out.resealed);
            out.resealed += self.reseal_rows(held, tenant, crypto, batch, left).await?;
        }
        out.remaining = self
            .sealed_under(tenant, 0..crypto.current_version())
            .await?;
        Ok(out)
    }

    async fn reseal_rows(
        &self,
        held: Held,
        tenant: MunicipalityCode,
        crypto: &TenantCrypto,
        batch: u32,
        limit: Option<u64>,
    ) -> Result<u64, StoreError> {
        let code = tenant.as_string();
        let current = i64::from(crypto.current_version());
        let table = held.table();
        let mut resealed = 0;
        loop {
            let want = limit.map_or(u64::from(batch), |l| (l - resealed).min(u64::from(batch)));
            if want == 0 {
                break;
            }
            let mut db = self.begin_write().await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM {table} WHERE municipality_code = $1 AND my_number_key_version < $2 \
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
                // History rows carry the register row's ciphertext as it was, bound to the same
                // address number.
                let number = crypto.open(&sealed, my_number_aad(address))?;
                let resealed_number = crypto.seal(&number, my_number_aad(address))?;
                let index = crypto.blind_index(&number)?.0.to_vec();
                // Only if nobody changed the row since it was read (an import in between).
                let q = match held {
                    Held::Person => sqlx::query(
                        "UPDATE person SET my_number_sealed = $1, my_number_key_version = $2, \
                         my_number_index = $3, content_hash = $4 \
                         WHERE municipality_code = $5 AND address_number = $6 AND my_number_key_version = $7",
                    )
                    .bind(resealed_number.bytes)
                    .bind(i64::from(resealed_number.key_version))
                    .bind(index.clone())
                    .bind(content_hash(&person, Some(&index)))
                    .bind(&code)
                    .bind(address)
                    .bind(i64::from(sealed.key_version)),
                    Held::History => sqlx::query(
                        "UPDATE person_history SET my_number_sealed = $1, my_number_key_version = $2, \
                         my_number_index = $3 \
                         WHERE municipality_code = $4 AND address_number = $5 AND version = $6 \
                         AND my_number_key_version = $7",
                    )
                    .bind(resealed_number.bytes)
                    .bind(i64::from(resealed_number.key_version))
                    .bind(index)
                    .bind(&code)
                    .bind(address)
                    .bind(r.try_get::<i64, _>("version")?)
                    .bind(i64::from(sealed.key_version)),
                };
                q.execute(&mut *db).await?;
                resealed += 1;
            }
            db.commit().await?;
        }
        Ok(resealed)
    }

    /// How many of the municipality's My Numbers (register and history) are sealed under a key
    /// version in `versions`: what a rotation still has to do (`0..current`), or what stops a
    /// version from being retired (`v..v + 1`).
    pub async fn sealed_under(
        &self,
        tenant: MunicipalityCode,
        versions: std::ops::Range<u32>,
    ) -> Result<u64, StoreError> {
        let mut n = 0;
        for held in [Held::Person, Held::History] {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) AS n FROM {} WHERE municipality_code = $1 \
                 AND my_number_key_version >= $2 AND my_number_key_version < $3",
                held.table()
            )))
            .bind(tenant.as_string())
            .bind(i64::from(versions.start))
            .bind(i64::from(versions.end))
            .fetch_one(self.pool())
            .await?;
            n += u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
        }
        Ok(n)
    }

    /// Re-seals every account's second-factor key that is under an older key version than the
    /// keyring's current one; returns how many. Accounts of every municipality: the account keys
    /// are the deployment's, not a tenant's.
    pub async fn reseal_account_secrets(&self, keyring: &Keyring) -> Result<u64, StoreError> {
        let current = keyring.current_version();
        let rows = sqlx::query(
            "SELECT municipality_code, login, totp_secret FROM account WHERE totp_secret IS NOT NULL",
        )
        .fetch_all(self.pool())
        .await?;
        let mut n = 0;
        for r in rows {
            let sealed: String = r.try_get("totp_secret")?;
            if signing::account_secret_version(&sealed).is_some_and(|v| v >= current) {
                continue;
            }
            let code: String = r.try_get("municipality_code")?;
            let login: String = r.try_get("login")?;
            let tenant =
                MunicipalityCode::parse(&code).map_err(|_| corrupt("account.municipality_code"))?;
            let secret = signing::open_account_secret(keyring, tenant, &login, &sealed)?;
            let resealed = signing::seal_account_secret(keyring, tenant, &login, &secret)?;
            // Only if the account did not enrol afresh meanwhile.
            n += sqlx::query(
                "UPDATE account SET totp_secret = $1 \
                 WHERE municipality_code = $2 AND login = $3 AND totp_secret = $4",
            )
            .bind(resealed)
            .bind(&code)
            .bind(&login)
            .bind(&sealed)
            .execute(self.pool())
            .await?
            .rows_affected();
        }
        Ok(n)
    }

    /// How many accounts' second-factor keys are sealed under `version`.
    pub async fn account_secrets_under(&self, version: u32) -> Result<u64, StoreError> {
        let rows = sqlx::query("SELECT totp_secret FROM account WHERE totp_secret IS NOT NULL")
            .fetch_all(self.pool())
            .await?;
        let mut n = 0;
        for r in rows {
            let sealed: String = r.try_get("totp_secret")?;
            if signing::account_secret_version(&sealed) == Some(version) {
                n += 1;
            }
        }
        Ok(n)
    }
}
