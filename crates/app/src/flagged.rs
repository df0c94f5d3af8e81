//! Flagged doses (要確認) as work (dose.read to list, dose.write to act): every dose recorded
//! though a routine rule was broken, with the person, the reason and the clinic, filtered by
//! import, clinic and kind of reason; what staff did about each is recorded and audited.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;
use sesshu_domain::MunicipalityCode;
use sesshu_domain::access::Permission;
use sesshu_domain::dose::{ReviewAction, reason_kind};
use sesshu_store::{FlaggedDose, Outcome, ReviewState};

use crate::{Actor, App, AppError};

/// Rows per page of the worklist.
pub const PAGE_SIZE: usize = 100;

/// Which flagged doses to show.
#[derive(Debug, Clone, Default)]
pub struct FlaggedRequest {
    /// An import's ID.
    pub import: Option<String>,
    /// A clinic as [`FlaggedItem::clinic`] shows it.
    pub clinic: Option<String>,
    /// A kind of reason as [`reason_kind`] gives it.
    pub reason: Option<String>,
    pub state: ReviewState,
    /// 1-based.
    pub page: usize,
}

/// One value a filter can take, with how many flagged doses (of the chosen state) have it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Facet {
    pub value: String,
    pub label: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlaggedItem {
    pub dose_id: i64,
    pub address_number: String,
    pub person_name: String,
    pub product: String,
    pub product_name: String,
    pub ordinal: u32,
    pub given_on: String,
    pub clinic: String,
    pub reason: String,
    pub reason_kind: String,
    pub import_id: Option<String>,
    pub import_file: Option<String>,
    pub source_line: Option<i64>,
    /// What was done, in Japanese; `None` while open.
    pub action: Option<&'static str>,
    pub note: Option<String>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FlaggedPage {
    /// Matching all filters, over every page.
    pub total: usize,
    pub page: usize,
    pub pages: usize,
    /// 1-based positions of the first and last row shown (0 when none).
    pub first: usize,
    pub last: usize,
    pub rows: Vec<FlaggedItem>,
    pub imports: Vec<Facet>,
    pub clinics: Vec<Facet>,
    pub reasons: Vec<Facet>,
}

/// What [`App::review_dose`] recorded.
#[derive(Debug, Clone, Serialize)]
pub struct DoseReviewed {
    pub dose_id: i64,
    pub address_number: String,
    pub action: &'static str,
}

fn clinic_of(f: &FlaggedDose) -> String {
    sesshu_formats::dose::clinic_label(
        f.row.dose.institution_code.as_deref(),
        f.row.dose.institution_name.as_deref(),
    )
    .unwrap_or_else(|| "(医療機関なし)".to_owned())
}

fn facets(values: impl Iterator<Item = (String, String)>) -> Vec<Facet> {
    let mut counts: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (value, label) in values {
        counts.entry(value).or_insert((label, 0)).1 += 1;
    }
    let mut out: Vec<Facet> = counts
        .into_iter()
        .map(|(value, (label, count))| Facet {
            value,
            label,
            count,
        })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
    out
}

impl App {
    /// The worklist of flagged doses: filtered, counted and paged, with the values each filter
    /// can take. Audited as `dose.flagged` with the persons shown.
    pub async fn flagged_doses(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        request: &FlaggedRequest,
    ) -> Result<FlaggedPage, AppError> {
        self.authorize(actor, tenant, Permission::DoseRead, "dose.flagged")
            .await?;
        let all = self.store.flagged_doses(tenant, request.state).await?;
        let book = self.engine.rules();
        let items: Vec<FlaggedItem> = all
            .iter()
            .map(|f| {
                let reason = f.row.evaluation.clone().unwrap_or_default();
                let review = f.review.as_ref();
                FlaggedItem {
                    dose_id: f.row.dose_id,
                    address_number: f.row.address_number.clone(),
                    person_name: f.person_name.clone(),
                    product: f.row.dose.product.clone(),
                    product_name: book
                        .product(&f.row.dose.product)
                        .map_or_else(|| f.row.dose.product.clone(), |p| p.name.clone()),
                    ordinal: f.row.dose.ordinal,
                    given_on: f.row.dose.given_on.to_string(),
                    clinic: clinic_of(f),
                    reason_kind: reason_kind(&reason),
                    reason,
                    import_id: f.row.import_id.clone(),
                    import_file: f.import_file.clone(),
                    source_line: f.row.source_line,
                    action: review
                        .and_then(|r| ReviewAction::parse(&r.action))
                        .map(ReviewAction::label),
                    note: review.and_then(|r| r.note.clone()),
                    decided_by: review.map(|r| r.decided_by.clone()),
                    decided_at: review.map(|r| r.decided_at.clone()),
                }
            })
            .collect();
        let imports = facets(items.iter().filter_map(|i| {
            i.import_id.clone().map(|id| {
                let label = i.import_file.clone().unwrap_or_else(|| id.clone());
                (id, label)
            })
        }));
        let clinics = facets(items.iter().map(|i| (i.clinic.clone(), i.clinic.clone())));
        let reasons = facets(
            items
                .iter()
                .map(|i| (i.reason_kind.clone(), i.reason_kind.clone())),
        );
        let wanted = |filter: &Option<String>, value: Option<&str>| {
            filter
                .as_deref()
                .filter(|f| !f.is_empty())
                .is_none_or(|f| value == Some(f))
        };
        let matching: Vec<FlaggedItem> = items
            .into_iter()
            .filter(|i| {
                wanted(&request.import, i.import_id.as_deref())
                    && wanted(&request.clinic, Some(&i.clinic))
                    && wanted(&request.reason, Some(&i.reason_kind))
            })
            .collect();
        let total = matching.len();
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        let page = request.page.clamp(1, pages);
        let skip = (page - 1) * PAGE_SIZE;
        let rows: Vec<FlaggedItem> = matching.into_iter().skip(skip).take(PAGE_SIZE).collect();
        let (first, last) = if rows.is_empty() {
            (0, 0)
        } else {
            (skip + 1, skip + rows.len())
        };
        self.record(
            actor,
            "dose.flagged",
            Outcome::Ok,
            vec![],
            rows.iter().map(|r| r.address_number.clone()).collect(),
            json!({"import": request.import, "clinic": request.clinic,
                   "reason": request.reason, "total": total, "page": page}),
        )
        .await?;
        Ok(FlaggedPage {
            total,
            page,
            pages,
            first,
            last,
            rows,
            imports,
            clinics,
            reasons,
        })
    }

    /// Records what was done about a flagged dose (dose.write), audited as `dose.review` with
    /// the person.
    pub async fn review_dose(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        dose_id: i64,
        action: &str,
        note: &str,
    ) -> Result<DoseReviewed, AppError> {
        self.authorize(actor, tenant, Permission::DoseWrite, "dose.review")
            .await?;
        let Some(action) = ReviewAction::parse(action) else {
            return Err(AppError::Field(
                "action",
                "対応を選んでください (確認済み・訂正した・任意接種として扱う)".into(),
            ));
        };
        if note.chars().count() > 500 {
            return Err(AppError::Field("note", "メモは500文字までです".into()));
        }
        if sesshu_formats::contains_my_number(note) {
            return Err(AppError::Field(
                "note",
                "メモに個人番号と思われる数字があります。書かないでください".into(),
            ));
        }
        let row = self
            .store
            .review_dose(tenant, dose_id, action, Some(note), &actor.actor)
            .await?;
        self.record(
            actor,
            "dose.review",
            Outcome::Ok,
            vec![row.address_number.clone()],
            vec![],
            json!({"dose_id": dose_id, "action": action.code()}),
        )
        .await?;
        Ok(DoseReviewed {
            dose_id,
            address_number: row.address_number,
            action: action.label(),
        })
    }
}
