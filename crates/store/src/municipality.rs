use sesshu_domain::MunicipalityCode;
use sqlx::Row;

use crate::{Store, StoreError, now_utc};

/// A municipality (tenant) of this deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Municipality {
    pub code: MunicipalityCode,
    pub name: String,
    pub created_at: String,
}

impl Store {
    pub async fn create_municipality(
        &self,
        code: MunicipalityCode,
        name: &str,
    ) -> Result<Municipality, StoreError> {
        if self.municipality(code).await?.is_some() {
            return Err(StoreError::MunicipalityExists(code));
        }
        let created_at = now_utc();
        sqlx::query(
            "INSERT INTO municipality (municipality_code, name, created_at) VALUES ($1, $2, $3)",
        )
        .bind(code.as_string())
        .bind(name)
        .bind(&created_at)
        .execute(self.pool())
        .await?;
        Ok(Municipality {
            code,
            name: name.to_owned(),
            created_at,
        })
    }

    pub async fn municipality(
        &self,
        code: MunicipalityCode,
    ) -> Result<Option<Municipality>, StoreError> {
        let row =
            sqlx::query("SELECT name, created_at FROM municipality WHERE municipality_code = $1")
                .bind(code.as_string())
                .fetch_optional(self.pool())
                .await?;
        row.map(|r| {
            Ok(Municipality {
                code,
                name: r.try_get("name")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    pub(crate) async fn require_municipality(
        &self,
        code: MunicipalityCode,
    ) -> Result<Municipality, StoreError> {
        self.municipality(code)
            .await?
            .ok_or(StoreError::UnknownMunicipality(code))
    }

    pub async fn municipalities(&self) -> Result<Vec<Municipality>, StoreError> {
        let rows = sqlx::query("SELECT municipality_code, name, created_at FROM municipality ORDER BY municipality_code")
            .fetch_all(self.pool())
            .await?;
        rows.into_iter()
            .map(|r| {
                let code: String = r.try_get("municipality_code")?;
                Ok(Municipality {
                    code: MunicipalityCode::parse(&code)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    name: r.try_get("name")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
