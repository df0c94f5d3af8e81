//! What a recall (対象者抽出) is made of — its query, the persons it selects with the reason,
//! the exclusions, the cohorts and the second check's findings — as notice runs keep them. The
//! selection and the check themselves are decided in `sesshu-app` (`recall.rs`), which reads
//! through the bulk readers (`judge_persons_born`, `judge_persons_at`).

use std::collections::{BTreeMap, BTreeSet};

use sesshu_domain::{CivilDate, MunicipalityCode};

use crate::{Store, StoreError};

/// Which persons a period concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecallBasis {
    /// The window of the person's next dose opens within the period: the monthly or yearly
    /// cohort notice ("children who reach 2 months in January").
    Opens,
    /// The next dose can be given on some day of the period and is not given yet: catch-up
    /// and sweeps of the unvaccinated.
    Open,
}

impl RecallBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opens => "opens",
            Self::Open => "open",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "opens" => Some(Self::Opens),
            "open" => Some(Self::Open),
            _ => None,
        }
    }
}

/// What to extract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallQuery {
    pub series: String,
    /// Only persons whose next dose is this one.
    pub dose: Option<u32>,
    pub from: CivilDate,
    pub to: CivilDate,
    pub basis: RecallBasis,
    /// 再勧奨: only persons notified in this run whose dose is still not recorded.
    pub recall_of: Option<String>,
    /// The day the history is read on (today, or the period's start if later).
    pub as_of: CivilDate,
}

/// One person the run would notify.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RecallMember {
    pub address_number: String,
    pub birth_date: CivilDate,
    pub protected: bool,
    pub dose: u32,
    pub stage: String,
    pub window: [CivilDate; 2],
    pub standard_window: Option<[CivilDate; 2]>,
    /// The one line that says why this person is included.
    pub reason: String,
}

/// What the second check compares a listed person against: who, the dose and window they are
/// listed for, and whether their address is withheld.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed<'a> {
    pub address_number: &'a str,
    pub protected: bool,
    pub dose: u32,
    pub window: [CivilDate; 2],
}

impl RecallMember {
    pub fn listed(&self) -> Listed<'_> {
        Listed {
            address_number: &self.address_number,
            protected: self.protected,
            dose: self.dose,
            window: self.window,
        }
    }
}

/// Why someone examined is not included (the keys of [`Extraction::excluded`]).
pub mod exclusion {
    pub const MOVED_OUT: &str = "転出";
    pub const DECEASED: &str = "死亡";
    pub const NON_RESIDENT: &str = "住登外";
    pub const NOT_IN_TARGET: &str = "対象外";
    pub const COMPLETE: &str = "完了";
    pub const OTHER_DOSE: &str = "次は別の回";
    pub const OUTSIDE_PERIOD: &str = "期間外";
    pub const NOT_NOTIFIED: &str = "前回の通知なし";
    pub const OUTSIDE_AGES: &str = "対象年齢の範囲外";
    pub const SUSPENDED: &str = "利用停止";
    pub const LINKED: &str = "他の記録に統合";
}

/// Members of one birth month, against the window the rules give that cohort.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cohort {
    /// `YYYY-MM`
    pub born: String,
    pub count: u64,
    /// The earliest window start and latest window end among the cohort's members.
    pub window: [CivilDate; 2],
}

/// The dry run of a recall.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Extraction {
    pub series: String,
    pub series_name: String,
    /// Persons read from the register (those born in the range the series can concern).
    pub examined: u64,
    /// The birth dates the series can concern in the period, as the rules define it.
    pub born: Option<[CivilDate; 2]>,
    pub members: Vec<RecallMember>,
    pub excluded: BTreeMap<String, u64>,
    /// Exclusion of each examined person not included, for the difference from an earlier run.
    #[serde(skip)]
    pub exclusions: BTreeMap<String, &'static str>,
    pub cohorts: Vec<Cohort>,
}

/// A person on a list who should not be on it, found by the second check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckFailure {
    pub address_number: String,
    pub problem: String,
}

impl Store {
    /// The persons notified of `series` in run `run` (a 再勧奨 reads only them).
    pub async fn notified_in(
        &self,
        tenant: MunicipalityCode,
        run: &str,
        series: &str,
    ) -> Result<BTreeSet<String>, StoreError> {
        use sqlx::Row;
        let rows = sqlx::query(
            "SELECT address_number FROM notice WHERE municipality_code = $1 AND run_id = $2 \
             AND series_key = $3",
        )
        .bind(tenant.as_string())
        .bind(run)
        .bind(series)
        .fetch_all(self.pool())
        .await?;
        if rows.is_empty() {
            return Err(StoreError::Invalid(format!(
                "再勧奨の元になる通知 {run} ({series}) がありません"
            )));
        }
        rows.iter()
            .map(|r| r.try_get("address_number").map_err(StoreError::from))
            .collect()
    }
}
