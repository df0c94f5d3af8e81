//! Certificates at the counter: issue a person's 予防接種済証 (or the travel 予防接種証明書) from
//! their page, download its PDF, re-issue it (the old one revoked) or revoke it, and check one by
//! its ID. Every step is an operation of `sesshu_app`.

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use sesshu_app::AppError;
use sesshu_app::certificates::{IssueRequest, TravelForm, Verification, VerifyTarget};
use sesshu_domain::access::Permission;

use super::notices::download;
use super::{Chrome, PageError, Staff, render};
use crate::state::AppState;

/// What the check found, as staff read it.
struct Verdict {
    genuine: bool,
    headline: String,
    lines: Vec<(String, String)>,
}

impl From<&Verification> for Verdict {
    fn from(v: &Verification) -> Self {
        let c = v.certificate.clone().unwrap_or_default();
        let text = |k: &str| c[k].as_str().unwrap_or("").to_owned();
        let mut lines = Vec::new();
        if !c.is_null() {
            lines = vec![
                ("証明書 ID".to_owned(), text("id")),
                ("氏名".to_owned(), text("n")),
                ("生年月日".to_owned(), text("b")),
                ("発行日".to_owned(), text("i")),
                (
                    "接種".to_owned(),
                    format!("{} 件", c["d"].as_array().map_or(0, Vec::len)),
                ),
            ];
            if let Some(r) = &v.record {
                lines.push(("署名鍵".to_owned(), r.key_id.clone()));
                if r.travel {
                    lines.push(("旅券番号".to_owned(), text("p")));
                }
            }
        }
        Self {
            genuine: v.genuine,
            headline: if v.genuine {
                "真正な証明書です。署名と発行記録が一致しました。".into()
            } else {
                format!("真正ではありません: {}", v.reason.as_deref().unwrap_or(""))
            },
            lines,
        }
    }
}

#[derive(Template)]
#[template(path = "certificate_verify.html")]
struct VerifyPage {
    chrome: Chrome,
    id: String,
    verdict: Option<Verdict>,
}

pub(crate) async fn form(
    State(state): State<AppState>,
    staff: Staff,
) -> Result<Response, PageError> {
    staff
        .require(&state, Permission::DoseRead, "certificate.verify")
        .await?;
    Ok(render(&VerifyPage {
        chrome: staff.chrome(&state, "証明書の確認").await,
        id: String::new(),
        verdict: None,
    }))
}

#[derive(Debug, Deserialize)]
pub(crate) struct VerifyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    id: String,
}

pub(crate) async fn verify(
    State(state): State<AppState>,
    staff: Staff,
    Form(f): Form<VerifyForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    let id = f.id.trim().to_owned();
    let v = state
        .app
        .verify_certificate(&staff.caller, staff.tenant, &VerifyTarget::Id(id.clone()))
        .await?;
    Ok(render(&VerifyPage {
        chrome: staff.chrome(&state, "証明書の確認").await,
        id,
        verdict: Some(Verdict::from(&v)),
    }))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct IssueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    travel: Option<String>,
    #[serde(default)]
    romanised_name: String,
    #[serde(default)]
    nationality: String,
    #[serde(default)]
    passport_number: String,
}

impl IssueForm {
    fn travel(&self) -> Option<TravelForm> {
        self.travel.as_ref().map(|_| TravelForm {
            romanised_name: self.romanised_name.clone(),
            nationality: self.nationality.clone(),
            passport_number: self.passport_number.clone(),
        })
    }
}

/// Issues a certificate from the person's page; its own page then offers the PDF.
pub(crate) async fn issue(
    State(state): State<AppState>,
    staff: Staff,
    Path(address): Path<String>,
    Form(f): Form<IssueForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    let req = IssueRequest {
        address_number: address.clone(),
        travel: f.travel(),
        reissue_of: None,
    };
    match issue_and_show(&state, &staff, &req).await? {
        Ok(shown) => Ok(shown),
        Err(m) => {
            super::register::person_with_message(&state, &staff, &address, None, Some(m)).await
        }
    }
}

/// Issues and leads to the new certificate's page; a refusal the user can act on is returned
/// as its message, for the page the form was on.
async fn issue_and_show(
    state: &AppState,
    staff: &Staff,
    req: &IssueRequest,
) -> Result<Result<Response, String>, PageError> {
    match state
        .app
        .issue_certificate(&staff.caller, staff.tenant, req)
        .await
    {
        Ok(i) => Ok(Ok(Redirect::to(&format!(
            "/certificates/{}?issued=1",
            i.certificate_id
        ))
        .into_response())),
        Err(AppError::Invalid(m)) => Ok(Err(m)),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "certificate.html")]
struct CertificatePage {
    chrome: Chrome,
    c: sesshu_store::CertificateRecord,
    kind: &'static str,
    state: String,
    valid: bool,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct ShowQuery {
    issued: Option<String>,
}

pub(crate) async fn show(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ShowQuery>,
) -> Result<Response, PageError> {
    let notice = q
        .issued
        .map(|_| format!("証明書 {id} を発行しました。PDF を開いて印刷し、お渡しください。"));
    certificate_page(&state, &staff, &id, notice, None).await
}

async fn certificate_page(
    state: &AppState,
    staff: &Staff,
    id: &str,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let c = state
        .app
        .certificate(&staff.caller, staff.tenant, id)
        .await?;
    Ok(render(&CertificatePage {
        chrome: staff.chrome(state, &format!("証明書 {id}")).await,
        kind: if c.travel {
            "予防接種証明書 (渡航用)"
        } else {
            "予防接種済証"
        },
        state: match (&c.revoked_at, &c.revoked_reason) {
            (Some(at), reason) => format!(
                "無効 ({}、{})",
                reason.as_deref().unwrap_or("再発行"),
                at.chars().take(10).collect::<String>()
            ),
            (None, _) => "有効".into(),
        },
        valid: c.revoked_at.is_none(),
        c,
        notice,
        error,
    }))
}

/// The certificate's PDF as issued, for printing (again).
pub(crate) async fn pdf(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let bytes = state
        .app
        .certificate_pdf(&staff.caller, staff.tenant, &id)
        .await?;
    Ok(download(bytes, "application/pdf", &format!("{id}.pdf")))
}

/// 再発行: a new certificate with the doses as recorded now; the old one stops verifying.
pub(crate) async fn reissue(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(f): Form<IssueForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    let old = state
        .app
        .certificate(&staff.caller, staff.tenant, &id)
        .await?;
    let req = IssueRequest {
        address_number: old.address_number.clone(),
        travel: f.travel(),
        reissue_of: Some(id.clone()),
    };
    match issue_and_show(&state, &staff, &req).await? {
        Ok(shown) => Ok(shown),
        Err(m) => certificate_page(&state, &staff, &id, None, Some(m)).await,
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

pub(crate) async fn revoke(
    State(state): State<AppState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(f): Form<RevokeForm>,
) -> Result<Response, PageError> {
    staff.check_csrf(&state, &f.csrf).await?;
    match state
        .app
        .revoke_certificate(&staff.caller, staff.tenant, &id, &f.reason)
        .await
    {
        Ok(()) => {
            let m = format!("証明書 {id} を無効にしました。");
            certificate_page(&state, &staff, &id, Some(m), None).await
        }
        Err(AppError::Invalid(m)) => certificate_page(&state, &staff, &id, None, Some(m)).await,
        Err(e) => Err(e.into()),
    }
}
