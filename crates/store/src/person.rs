//! Persons: the row layout, reads, search and history.

use crate::columns::Columns;
use crate::sql::Value;
use sesshu_crypto::{MyNumberAad, Sealed, TenantCrypto};
use sesshu_domain::{
    AddressNumber, ChangeReason, HouseholdNumber, IntegratedAddressNumber, KanaName,
    MunicipalityCode, MyNumber, Person, PersonName, PostalCode, ResidentStatus, Sex,
};
use sha2::{Digest, Sha256};

use crate::sql::prefix_upper_bound;
use crate::{Store, StoreError};

/// The AAD row binding of a person's My Number: the person's key within the tenant.
pub(crate) fn my_number_aad(address_number: &str) -> MyNumberAad<'_> {
    MyNumberAad {
        table: "person",
        row_key: address_number,
    }
}

/// Columns of `person` in insert order (also the shared prefix of `person_history`).
pub(crate) const CONTENT_COLUMNS: &str = "integrated_address_number, my_number_sealed, my_number_key_version, \
    my_number_index, household_number, relationship, family_name, given_name, family_kana, given_kana, \
    kana_key, birth_date, sex, postal_code, address, address_detail, district_code, school_district, phone, \
    resident_status, change_reason, changed_on, notified_on, previous_address, next_address, protected, \
    content_hash";
/// Municipality and address number, the content, `name_key` (derived from the name, so not
/// content and not kept in history), version, time and import.
pub(crate) const PERSON_INSERT_COLUMNS: usize = 2 + 27 + 1 + 3;

/// A person as stored, with the sealed number still sealed.
#[derive(Debug, Clone)]
pub struct PersonRow {
    pub municipality: MunicipalityCode,
    /// `my_number` is always `None` here; open [`PersonRow::sealed_my_number`] when needed.
    pub person: Person,
    pub sealed_my_number: Option<Sealed>,
    pub version: i64,
    pub updated_at: String,
    pub import_id: Option<String>,
}

impl PersonRow {
    /// Opens the sealed My Number. Callers decide whether the user may see it.
    pub fn open_my_number(&self, crypto: &TenantCrypto) -> Result<Option<MyNumber>, StoreError> {
        self.sealed_my_number
            .as_ref()
            .map(|s| crypto.open(s, my_number_aad(self.person.address_number.as_str())))
            .transpose()
            .map_err(StoreError::from)
    }
}

/// A superseded version of a person.
#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub version: i64,
    pub person: Person,
    /// The My Number this version held, sealed (bound to the person's address number).
    pub sealed_my_number: Option<Sealed>,
    /// When this version became current, and when and by which import it was replaced.
    pub recorded_at: String,
    pub superseded_at: String,
    pub superseded_by_import: Option<String>,
}

/// One line of a search result: enough to pick the right person, nothing more.
#[derive(Debug, Clone)]
pub struct PersonSummary {
    pub address_number: AddressNumber,
    pub name: PersonName,
    pub kana: KanaName,
    pub birth_date: sesshu_domain::CivilDate,
    pub sex: Sex,
    pub status: ResidentStatus,
    /// `None` for protected persons: their address is never listed.
    pub address: Option<String>,
    pub protected: bool,
}

/// Search criteria; all given criteria must match.
#[derive(Debug, Clone, Default)]
pub struct PersonQuery {
    /// Matched as a prefix of the normalised kana key (width- and voicing-insensitive).
    pub kana: Option<String>,
    /// Matched as a prefix of the name's search key ([`sesshu_domain::name_key`]: 異体字 and
    /// width folded, spaces dropped).
    pub name: Option<String>,
    pub birth_date: Option<sesshu_domain::CivilDate>,
    pub household: Option<HouseholdNumber>,
    pub sort: PersonSort,
    /// Rows skipped before the page (the page's first row is `offset + 1`).
    pub offset: u32,
    pub limit: u32,
}

/// The order of a search's result lines; the address number breaks ties, so pages never
/// overlap or skip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonSort {
    #[default]
    Kana,
    BirthDate,
    /// Protected persons (支援措置) come last, whatever their address: their place in an
    /// address order would say where they live.
    Address,
}

impl PersonSort {
    fn order_by(self) -> &'static str {
        match self {
            Self::Kana => "kana_key, birth_date, address_number",
            Self::BirthDate => "birth_date, kana_key, address_number",
            Self::Address => "protected, address, address_detail, kana_key, address_number",
        }
    }
}

/// One page of a search and how many persons match in all.
#[derive(Debug, Clone)]
pub struct PersonHits {
    pub total: u64,
    pub rows: Vec<PersonSummary>,
}

pub(crate) fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn opt_date(s: Option<String>) -> Result<Option<sesshu_domain::CivilDate>, StoreError> {
    s.map(|d| d.parse().map_err(|_| corrupt("date")))
        .transpose()
}

fn name_from_row(r: &impl Columns) -> Result<PersonName, StoreError> {
    Ok(PersonName {
        family: r.try_get("family_name")?,
        given: r.try_get("given_name")?,
    })
}

fn kana_from_row(r: &impl Columns) -> Result<KanaName, StoreError> {
    Ok(KanaName {
        family: r.try_get("family_kana")?,
        given: r.try_get("given_kana")?,
    })
}

/// The columns of `person` a search result line needs.
const SUMMARY_COLUMNS: &str = "address_number, family_name, given_name, family_kana, given_kana, \
    birth_date, sex, resident_status, address, address_detail, protected";

fn summary_from_row(r: &impl Columns) -> Result<PersonSummary, StoreError> {
    let address_number: String = r.try_get("address_number")?;
    let birth: String = r.try_get("birth_date")?;
    let protected = r.try_get::<i64>("protected")? != 0;
    let address: Option<String> = r.try_get("address")?;
    let detail: Option<String> = r.try_get("address_detail")?;
    Ok(PersonSummary {
        address_number: AddressNumber::parse(&address_number)
            .map_err(|_| corrupt("address_number"))?,
        name: name_from_row(r)?,
        kana: kana_from_row(r)?,
        birth_date: birth.parse().map_err(|_| corrupt("birth_date"))?,
        sex: Sex::from_code(r.try_get("sex")?).ok_or_else(|| corrupt("sex"))?,
        status: ResidentStatus::from_code(r.try_get("resident_status")?)
            .ok_or_else(|| corrupt("resident_status"))?,
        // A protected person's address is never listed.
        address: if protected {
            None
        } else {
            address.map(|a| match detail {
                Some(d) => format!("{a} {d}"),
                None => a,
            })
        },
        protected,
    })
}

impl Store {
    /// Persons who share the folded kana name, the birth date and the sex with someone else in
    /// the municipality — likely one person registered twice (a 住登外 record made before the
    /// resident one arrived, or a typing slip) — in groups, ordered by kana and birth date.
    pub async fn duplicate_candidates(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Vec<Vec<PersonSummary>>, StoreError> {
        let columns = SUMMARY_COLUMNS
            .split(',')
            .map(|c| format!("p.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        let rows = self
            .fetch_all(
                &format!(
                    "SELECT {columns}, p.kana_key FROM person p JOIN (SELECT kana_key, birth_date, sex \
                     FROM person WHERE municipality_code = $1 GROUP BY kana_key, birth_date, sex \
                     HAVING COUNT(*) > 1) g ON g.kana_key = p.kana_key \
                     AND g.birth_date = p.birth_date AND g.sex = p.sex \
                     WHERE p.municipality_code = $1 \
                     ORDER BY p.kana_key, p.birth_date, p.sex, p.address_number"
                ),
                &[Value::text(tenant.as_string())],
                |r| Ok((r.try_get::<String>("kana_key")?, summary_from_row(r)?)),
            )
            .await?;
        let mut groups: Vec<Vec<PersonSummary>> = Vec::new();
        let mut last: Option<(String, sesshu_domain::CivilDate, Sex)> = None;
        for (key, p) in rows {
            let this = (key, p.birth_date, p.sex);
            match (&last, groups.last_mut()) {
                (Some(l), Some(g)) if *l == this => g.push(p),
                _ => groups.push(vec![p]),
            }
            last = Some(this);
        }
        Ok(groups)
    }
}

/// Decodes the content columns shared by `person` and `person_history`.
pub(crate) fn person_from_row(r: &impl Columns) -> Result<(Person, Option<Sealed>), StoreError> {
    let address_number: String = r.try_get("address_number")?;
    let integrated: Option<String> = r.try_get("integrated_address_number")?;
    let household: Option<String> = r.try_get("household_number")?;
    let postal: Option<String> = r.try_get("postal_code")?;
    let birth: String = r.try_get("birth_date")?;
    let sealed_bytes: Option<Vec<u8>> = r.try_get("my_number_sealed")?;
    let key_version: Option<i64> = r.try_get("my_number_key_version")?;
    let sealed = match (sealed_bytes, key_version) {
        (Some(bytes), Some(v)) => Some(Sealed {
            key_version: u32::try_from(v).map_err(|_| corrupt("key version"))?,
            bytes,
        }),
        _ => None,
    };
    let person = Person {
        address_number: AddressNumber::parse(&address_number)
            .map_err(|_| corrupt("address_number"))?,
        integrated_address_number: integrated
            .map(|s| {
                IntegratedAddressNumber::parse(&s).map_err(|_| corrupt("integrated_address_number"))
            })
            .transpose()?,
        my_number: None,
        household_number: household
            .map(|s| HouseholdNumber::parse(&s).map_err(|_| corrupt("household_number")))
            .transpose()?,
        relationship: r.try_get("relationship")?,
        name: name_from_row(r)?,
        kana: kana_from_row(r)?,
        birth_date: birth.parse().map_err(|_| corrupt("birth_date"))?,
        sex: Sex::from_code(r.try_get("sex")?).ok_or_else(|| corrupt("sex"))?,
        postal_code: postal
            .map(|s| PostalCode::parse(&s).map_err(|_| corrupt("postal_code")))
            .transpose()?,
        address: r.try_get("address")?,
        address_detail: r.try_get("address_detail")?,
        district_code: r.try_get("district_code")?,
        school_district: r.try_get("school_district")?,
        phone: r.try_get("phone")?,
        status: ResidentStatus::from_code(r.try_get("resident_status")?)
            .ok_or_else(|| corrupt("resident_status"))?,
        change_reason: r
            .try_get::<Option<i64>>("change_reason")?
            .map(|c| ChangeReason::from_code(c).ok_or_else(|| corrupt("change_reason")))
            .transpose()?,
        changed_on: opt_date(r.try_get("changed_on")?)?,
        notified_on: opt_date(r.try_get("notified_on")?)?,
        previous_address: r.try_get("previous_address")?,
        next_address: r.try_get("next_address")?,
        protected: r.try_get::<i64>("protected")? != 0,
    };
    Ok((person, sealed))
}

/// A digest of everything the feed says about a person, so that an unchanged row is recognised
/// without rewriting it. The My Number enters only as its keyed blind index: an unkeyed hash of
/// a 12-digit number could be reversed by trying them all.
pub(crate) fn content_hash(p: &Person, index: Option<&[u8]>) -> Vec<u8> {
    let mut h = Sha256::new();
    let mut field = |s: &[u8]| {
        h.update((s.len() as u32).to_le_bytes());
        h.update(s);
    };
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    field(p.address_number.as_str().as_bytes());
    field(
        p.integrated_address_number
            .as_ref()
            .map(|a| a.as_str())
            .unwrap_or("")
            .as_bytes(),
    );
    field(index.unwrap_or(b""));
    field(
        p.household_number
            .as_ref()
            .map(|a| a.as_str())
            .unwrap_or("")
            .as_bytes(),
    );
    field(opt(&p.relationship).as_bytes());
    field(p.name.family.as_bytes());
    field(p.name.given.as_bytes());
    field(p.kana.family.as_bytes());
    field(p.kana.given.as_bytes());
    field(p.birth_date.to_string().as_bytes());
    field(&[p.sex.code()]);
    field(
        p.postal_code
            .as_ref()
            .map(|c| c.digits())
            .unwrap_or("")
            .as_bytes(),
    );
    for s in [
        &p.address,
        &p.address_detail,
        &p.district_code,
        &p.school_district,
        &p.phone,
    ] {
        field(opt(s).as_bytes());
    }
    field(&[
        p.status.code(),
        p.change_reason.map_or(0, |r| r.code()),
        u8::from(p.protected),
    ]);
    field(
        p.changed_on
            .map(|d| d.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    field(
        p.notified_on
            .map(|d| d.to_string())
            .unwrap_or_default()
            .as_bytes(),
    );
    field(opt(&p.previous_address).as_bytes());
    field(opt(&p.next_address).as_bytes());
    h.finalize().to_vec()
}

impl Store {
    pub async fn person(
        &self,
        tenant: MunicipalityCode,
        address_number: &AddressNumber,
    ) -> Result<Option<PersonRow>, StoreError> {
        self.fetch_optional(
            "SELECT * FROM person WHERE municipality_code = $1 AND address_number = $2",
            &[
                Value::text(tenant.as_string()),
                Value::text(address_number.as_str()),
            ],
            |r| {
                let (person, sealed_my_number) = person_from_row(r)?;
                Ok(PersonRow {
                    municipality: tenant,
                    person,
                    sealed_my_number,
                    version: r.try_get("version")?,
                    updated_at: r.try_get("updated_at")?,
                    import_id: r.try_get("import_id")?,
                })
            },
        )
        .await
    }

    /// Superseded versions, newest first.
    pub async fn person_history(
        &self,
        tenant: MunicipalityCode,
        address_number: &AddressNumber,
    ) -> Result<Vec<HistoryEntry>, StoreError> {
        self.fetch_all(
            "SELECT * FROM person_history WHERE municipality_code = $1 AND address_number = $2 ORDER BY version DESC",
            &[Value::text(tenant.as_string()), Value::text(address_number.as_str())],
            |r| {
                let (person, sealed_my_number) = person_from_row(r)?;
                Ok(HistoryEntry {
                    version: r.try_get("version")?,
                    person,
                    sealed_my_number,
                    recorded_at: r.try_get("recorded_at")?,
                    superseded_at: r.try_get("superseded_at")?,
                    superseded_by_import: r.try_get("superseded_by_import")?,
                })
            },
        )
        .await
    }

    /// Members of a household, by address number.
    pub async fn household(
        &self,
        tenant: MunicipalityCode,
        household: &HouseholdNumber,
    ) -> Result<Vec<Person>, StoreError> {
        // Sorted here, not by ORDER BY: without statistics SQLite would rather walk the whole
        // municipality in primary-key order than sort a handful of rows from person_household.
        let mut members = self
            .fetch_all(
                "SELECT * FROM person WHERE municipality_code = $1 AND household_number = $2",
                &[
                    Value::text(tenant.as_string()),
                    Value::text(household.as_str()),
                ],
                |r| Ok(person_from_row(r)?.0),
            )
            .await?;
        members.sort_by(|a, b| a.address_number.as_str().cmp(b.address_number.as_str()));
        Ok(members)
    }

    /// Address numbers of persons holding this My Number (under any key version).
    pub async fn find_by_my_number(
        &self,
        tenant: MunicipalityCode,
        crypto: &TenantCrypto,
        number: &MyNumber,
    ) -> Result<Vec<AddressNumber>, StoreError> {
        let mut found = Vec::new();
        for (version, index) in crypto.blind_indexes(number)? {
            let rows = sqlx::query(
                "SELECT address_number FROM person WHERE municipality_code = $1 AND my_number_index = $2 \
                 AND my_number_key_version = $3",
            )
            .bind(tenant.as_string())
            .bind(index.0.to_vec())
            .bind(i64::from(version))
            .fetch_all(self.pool())
            .await?;
            for r in rows {
                let a: String = r.try_get("address_number")?;
                found.push(AddressNumber::parse(&a).map_err(|_| corrupt("address_number"))?);
            }
        }
        // Sorted here for the reason given in `household`.
        found.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        Ok(found)
    }

    /// One page of the persons matching `q`, and the number matching in all: a search never
    /// hides that there are more.
    pub async fn search_persons(
        &self,
        tenant: MunicipalityCode,
        q: &PersonQuery,
    ) -> Result<PersonHits, StoreError> {
        let mut filter = String::from("municipality_code = $1");
        let mut binds: Vec<String> = vec![tenant.as_string()];
        let mut push = |sql: &mut String, clause: &str, value: String| {
            binds.push(value);
            sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
        };
        let mut prefix = |sql: &mut String, column: &str, key: String| {
            if let Some(upper) = prefix_upper_bound(&key) {
                push(sql, &format!(" AND {column} < ?"), upper);
            }
            push(sql, &format!(" AND {column} >= ?"), key);
        };
        if let Some(kana) = q
            .kana
            .as_deref()
            .map(sesshu_domain::kana_key)
            .filter(|k| !k.is_empty())
        {
            prefix(&mut filter, "kana_key", kana);
        }
        if let Some(name) = q
            .name
            .as_deref()
            .map(sesshu_domain::name_key)
            .filter(|k| !k.is_empty())
        {
            prefix(&mut filter, "name_key", name);
        }
        if let Some(d) = q.birth_date {
            push(&mut filter, " AND birth_date = ?", d.to_string());
        }
        if let Some(h) = &q.household {
            push(
                &mut filter,
                " AND household_number = ?",
                h.as_str().to_owned(),
            );
        }
        let binds: Vec<Value> = binds.into_iter().map(Value::text).collect();
        let total = self
            .fetch_all(
                &format!("SELECT COUNT(*) AS n FROM person WHERE {filter}"),
                &binds,
                |r| r.try_get::<i64>("n"),
            )
            .await?
            .first()
            .copied()
            .unwrap_or(0);
        // Only what a result line shows: every column read is converted value by value.
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM person WHERE {filter} ORDER BY {} LIMIT {} OFFSET {}",
            q.sort.order_by(),
            q.limit.clamp(1, 500),
            q.offset
        );
        let rows = self
            .fetch_all(&sql, &binds, |r| summary_from_row(r))
            .await?;
        Ok(PersonHits {
            total: u64::try_from(total).unwrap_or(0),
            rows,
        })
    }

    /// Whether the municipality has anyone at all (cheap, unlike a count).
    pub async fn has_persons(&self, tenant: MunicipalityCode) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT address_number FROM person WHERE municipality_code = $1 LIMIT 1")
                .bind(tenant.as_string())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.is_some())
    }

    pub async fn count_persons(&self, tenant: MunicipalityCode) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM person WHERE municipality_code = $1")
            .bind(tenant.as_string())
            .fetch_one(self.pool())
            .await?;
        row.try_get("n")
    }
}
