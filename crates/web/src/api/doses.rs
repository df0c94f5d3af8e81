//! Doses through the API: record, read, correct and delete one (the page's operations, with the
//! same permission, checks and audit), and the worklist of flagged doses with its review.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use sesshu_app::doses::{DoseChange, DoseInput, Written};
use sesshu_app::flagged::FlaggedRequest;
use sesshu_app::view::DoseView;
use sesshu_store::ReviewState;

use super::{ApiError, AppState, tenant};
use crate::problem::{ApiJson, ApiQuery, Problem};
use crate::session::Caller;

/// A dose as a program sends it. `confirm` records a dose the schedule engine finds outside
/// the routine rules (it is then flagged 要確認); without it such a dose is refused with the
/// engine's reason and nothing is written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DoseBody {
    given_on: String,
    product: String,
    ordinal: u32,
    lot: Option<String>,
    amount_ml: Option<String>,
    institution_code: Option<String>,
    institution_name: Option<String>,
    doctor: Option<String>,
    ticket_number: Option<String>,
    notes: Option<String>,
    #[serde(default)]
    given_elsewhere: bool,
    #[serde(default)]
    deferred: bool,
    #[serde(default)]
    confirm: bool,
    /// Why a recorded dose is corrected (required by a correction).
    reason: Option<String>,
}

impl DoseBody {
    fn input(&self) -> DoseInput {
        DoseInput {
            given_on: Some(self.given_on.clone()),
            product: Some(self.product.clone()),
            ordinal: Some(self.ordinal.to_string()),
            lot: self.lot.clone(),
            amount: self.amount_ml.clone(),
            institution_code: self.institution_code.clone(),
            institution_name: self.institution_name.clone(),
            doctor: self.doctor.clone(),
            ticket: self.ticket_number.clone(),
            notes: self.notes.clone(),
            elsewhere: self.given_elsewhere,
            deferred: self.deferred,
        }
    }
}

/// The application layer names a field as the page's form does; the API's body names some
/// differently.
fn body_field(field: &str) -> &str {
    match field {
        "amount" => "amount_ml",
        "ticket" => "ticket_number",
        "elsewhere" => "given_elsewhere",
        other => other,
    }
}

fn refused(e: ApiError) -> ApiError {
    match e {
        ApiError::Fields(v) => ApiError::Fields(
            v.into_iter()
                .map(|(f, m)| (body_field(&f).to_owned(), m))
                .collect(),
        ),
        other => other,
    }
}

fn dose_id(s: &str) -> Result<i64, ApiError> {
    s.parse().map_err(|_| ApiError::NotFound)
}

fn dose_url(code: &str, id: i64) -> String {
    format!("/api/v1/municipalities/{code}/doses/{id}")
}

/// What a write answers: the dose's number and version and how the engine judged it, or the
/// rule it breaks when it was not confirmed.
fn written(code: &str, w: Written, created: bool) -> Result<Response, ApiError> {
    match w {
        Written::Recorded {
            dose_id,
            version,
            judged,
        } => {
            let url = dose_url(code, dose_id);
            let body = Json(json!({
                "dose_id": dose_id,
                "version": version,
                "routine": judged.routine,
                "evaluation": judged.evaluation,
                "stage": judged.stage,
                "links": {"self": url},
            }));
            let mut r = if created {
                (StatusCode::CREATED, body).into_response()
            } else {
                body.into_response()
            };
            if let Ok(v) = HeaderValue::from_str(&url) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
        Written::NeedsConfirmation(reason) => Err(ApiError::NeedsConfirmation(
            reason.unwrap_or_else(|| "定期接種の規則に合いません".into()),
        )),
    }
}

/// `POST …/persons/{address_number}/doses` (dose.write).
pub(crate) async fn record(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((code, address_number)): Path<(String, String)>,
    ApiJson(body): ApiJson<DoseBody>,
) -> Result<Response, ApiError> {
    let w = state
        .app
        .add_dose_as_given(
            &caller,
            tenant(&code)?,
            &address_number,
            &body.input(),
            body.confirm,
        )
        .await
        .map_err(|e| refused(e.into()))?;
    written(&code, w, true)
}

/// `GET …/doses/{id}` (dose.read): the dose as recorded now and its earlier versions.
pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((code, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = dose_id(&id)?;
    let (current, versions) = state.app.dose(&caller, tenant(&code)?, id).await?;
    let engine = &state.app.engine;
    Ok(Json(json!({
        "address_number": current.address_number,
        "current": DoseView::as_recorded(&current, engine),
        "versions": versions
            .iter()
            .map(|v| json!({
                "dose": DoseView::as_recorded(&v.row, engine),
                "superseded_at": v.superseded_at,
                "superseded_by": v.superseded_by,
            }))
            .collect::<Vec<_>>(),
    }))
    .into_response())
}

/// `PUT …/doses/{id}` (dose.write): the corrected content in full, with the reason.
pub(crate) async fn correct(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((code, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<DoseBody>,
) -> Result<Response, ApiError> {
    let id = dose_id(&id)?;
    let tenant = tenant(&code)?;
    let input = body.input();
    let rules = state.app.engine.rules();
    let w = state
        .app
        .correct_dose(
            &caller,
            tenant,
            id,
            body.reason.as_deref().unwrap_or(""),
            |current| {
                Ok(DoseChange {
                    dose: input.dose(rules, Some(current))?,
                    confirmed: body.confirm,
                })
            },
        )
        .await
        .map_err(|e| refused(e.into()))?;
    written(&code, w, false)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeleteBody {
    reason: String,
}

/// `DELETE …/doses/{id}` (dose.write) with `{"reason": …}`: a new version marked deleted.
pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((code, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<DeleteBody>,
) -> Result<Response, ApiError> {
    let id = dose_id(&id)?;
    let row = state
        .app
        .delete_dose(&caller, tenant(&code)?, id, &body.reason)
        .await
        .map_err(|e| match ApiError::from(e) {
            ApiError::Fields(_) => ApiError::Fields(vec![(
                "reason".into(),
                "削除の理由を入力してください".into(),
            )]),
            other => other,
        })?;
    Ok(Json(json!({
        "dose_id": id,
        "version": row.version,
        "deleted": true,
        "links": {"self": dose_url(&code, id)},
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct FlaggedQuery {
    import: Option<String>,
    clinic: Option<String>,
    reason: Option<String>,
    /// `open` (default), `done` or `all`.
    state: Option<String>,
    page: Option<usize>,
}

/// `GET …/doses/flagged` (dose.read): the 要確認 worklist, a page of 100 with the total, the
/// filters' values with their counts and the next page's link.
pub(crate) async fn flagged(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(code): Path<String>,
    ApiQuery(q): ApiQuery<FlaggedQuery>,
) -> Result<Response, ApiError> {
    let review = match q.state.as_deref().unwrap_or("open") {
        "open" => ReviewState::Open,
        "done" => ReviewState::Done,
        "all" => ReviewState::All,
        other => {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                "state は open, done, all のどれかです",
            )
            .detail(format!("state={other}"))
            .into());
        }
    };
    let page = q.page.unwrap_or(1).max(1);
    let request = FlaggedRequest {
        import: q.import.clone(),
        clinic: q.clinic.clone(),
        reason: q.reason.clone(),
        state: review,
        page,
    };
    let result = state
        .app
        .flagged_doses(&caller, tenant(&code)?, &request)
        .await?;
    let next = (result.page < result.pages).then(|| {
        let mut u = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("import", &q.import),
            ("clinic", &q.clinic),
            ("reason", &q.reason),
            ("state", &q.state),
        ] {
            if let Some(v) = v {
                u.append_pair(k, v);
            }
        }
        u.append_pair("page", &(result.page + 1).to_string());
        format!("/api/v1/municipalities/{code}/doses/flagged?{}", u.finish())
    });
    let mut body = serde_json::to_value(&result).map_err(|e| ApiError::Failed(e.into()))?;
    body["links"] = json!({"next": next});
    Ok(Json(body).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReviewBody {
    /// `confirmed`, `corrected` or `voluntary`.
    action: String,
    #[serde(default)]
    note: String,
}

/// `POST …/doses/{id}/review` (dose.write): what was done about a flagged dose.
pub(crate) async fn review(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((code, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReviewBody>,
) -> Result<Response, ApiError> {
    let id = dose_id(&id)?;
    let done = state
        .app
        .review_dose(&caller, tenant(&code)?, id, &body.action, &body.note)
        .await?;
    Ok(Json(done).into_response())
}
