//! `/doses/flagged`: the worklist of flagged (要確認) doses — filter by import, clinic and kind
//! of reason, page through, and record for each what was done (confirmed with the clinic,
//! corrected, left as voluntary).

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sesshu_app::AppError;
use sesshu_app::flagged::{FlaggedPage, FlaggedRequest};
use sesshu_domain::access::Permission;
use sesshu_domain::dose::ReviewAction;
use sesshu_store::ReviewState;

use super::{Chrome, PageError, Staff, filters, render};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    import: String,
    #[serde(default)]
    clinic: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    page: Option<usize>,
}

impl Filters {
    fn request(&self) -> FlaggedRequest {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        FlaggedRequest {
            import: some(&self.import),
            clinic: some(&self.clinic),
            reason: some(&self.reason),
            state: match self.state.as_str() {
                "done" => ReviewState::Done,
                "all" => ReviewState::All,
                _ => ReviewState::Open,
            },
            page: self.page.unwrap_or(1),
        }
    }

    /// The query string of these filters on another page.
    fn on_page(&self, page: usize) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("import", &self.import),
            ("clinic", &self.clinic),
            ("reason", &self.reason),
            ("state", &self.state),
        ] {
            if !v.is_empty() {
                q.append_pair(k, v);
            }
        }
        q.append_pair("page", &page.to_string());
        q.finish()
    }
}

#[derive(Template)]
#[template(path = "flagged.html")]
struct FlaggedView {
    chrome: Chrome,
    list: FlaggedPage,
    f: Filters,
    actions: Vec<(&'static str, &'static str)>,
    can_write: bool,
    previous: Option<String>,
    next: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

async fn page(
    state: &AppState,
    staff: &Staff,
    f: Filters,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    staff
        .require(state, Permission::DoseRead, "dose.flagged")
        .await?;
    let list = state
        .app
        .flagged_doses(&staff.caller, staff.tenant, &f.request())
        .await?;
    let previous = (list.page > 1).then(|| f.on_page(list.page - 1));
    let next = (list.page < list.pages).then(|| f.on_page(list.page + 1));
    let view = FlaggedView {
        chrome: staff.chrome(state, "要確認の接種記録").await,
        list,
        f,
        actions: ReviewAction::ALL
            .iter()
            .map(|a| (a.code(), a.label()))
            .collect(),
        can_write: staff.can(Permission::DoseWrite),
        previous,
        next,
        notice,
        error,
    };
    Ok((status, render(&view)).into_response())
}

pub(crate) async fn list(
    State(state): State<AppState>,
    staff: Staff,
    Query(f): Query<Filters>,
) -> Result<Response, PageError> {
    page(&state, &staff, f, StatusCode::OK, None, None).await
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReviewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    note: String,
    #[serde(flatten)]
    filters: Filters,
}

/// Records what was done about one flagged dose, then shows the list as it was filtered.
pub(crate) async fn review(
    State(state): State<AppState>,
    staff: Staff,
    Path(dose_id): Path<i64>,
    Form(form): Form<ReviewForm>,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::DoseWrite, "dose.review")
        .await?;
    staff.check_csrf(&state, &form.csrf).await?;
    match state
        .app
        .review_dose(
            &staff.caller,
            staff.tenant,
            dose_id,
            &form.action,
            &form.note,
        )
        .await
    {
        Ok(done) => {
            let said = format!(
                "接種記録 {} (宛名番号 {}) を「{}」として記録しました",
                done.dose_id, done.address_number, done.action
            );
            page(
                &state,
                &staff,
                form.filters,
                StatusCode::OK,
                Some(said),
                None,
            )
            .await
        }
        Err(e @ (AppError::Field(..) | AppError::NotFound(_))) => {
            let said = format!("接種記録 {dose_id}: {e}");
            page(
                &state,
                &staff,
                form.filters,
                StatusCode::BAD_REQUEST,
                None,
                Some(said),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
