//! `/certificates/verify`: whether a certificate ID was issued by this municipality, is signed
//! by one of its keys and has not been replaced by a re-issue.

use askama::Template;
use axum::extract::{Form, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use sesshu_crypto::certificate::{CertificatePublicKey, open_token};
use sesshu_domain::access::Permission;
use sesshu_store::Outcome;

use super::{Chrome, PageError, Staff, render};
use crate::AppState;

/// What the check found, as staff read it.
struct Verdict {
    genuine: bool,
    headline: String,
    lines: Vec<(String, String)>,
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
    staff
        .require(&state, Permission::DoseRead, "certificate.verify")
        .await?;
    staff.check_csrf(&f.csrf)?;
    let id = f.id.trim().to_owned();
    let record = state.store.certificate(staff.tenant, &id).await?;
    let keys: Vec<CertificatePublicKey> = state
        .store
        .certificate_keys(staff.tenant)
        .await?
        .iter()
        .filter_map(|k| CertificatePublicKey::parse(k).ok())
        .collect();
    let verdict = match &record {
        None => Verdict {
            genuine: false,
            headline: "この証明書 ID の発行記録はありません。".into(),
            lines: vec![],
        },
        Some(r) => match open_token(&r.token, &keys) {
            Err(e) => Verdict {
                genuine: false,
                headline: format!("署名を確認できません: {e}"),
                lines: vec![],
            },
            Ok(payload) => {
                let c: serde_json::Value =
                    serde_json::from_slice(&payload).unwrap_or(serde_json::Value::Null);
                let text = |k: &str| c[k].as_str().unwrap_or("").to_owned();
                let mut lines = vec![
                    ("証明書 ID".to_owned(), text("id")),
                    ("氏名".to_owned(), text("n")),
                    ("生年月日".to_owned(), text("b")),
                    ("発行日".to_owned(), text("i")),
                    (
                        "接種".to_owned(),
                        format!("{} 件", c["d"].as_array().map_or(0, Vec::len)),
                    ),
                    ("署名鍵".to_owned(), r.key_id.clone()),
                ];
                if r.travel {
                    lines.push(("旅券番号".to_owned(), text("p")));
                }
                if let Some(at) = &r.revoked_at {
                    Verdict {
                        genuine: false,
                        headline: format!(
                            "この証明書は再発行により無効です ({} に無効化)。",
                            at.chars().take(10).collect::<String>()
                        ),
                        lines,
                    }
                } else {
                    Verdict {
                        genuine: true,
                        headline: "真正な証明書です。署名と発行記録が一致しました。".into(),
                        lines,
                    }
                }
            }
        },
    };
    crate::api::audit(
        &state,
        &staff.caller,
        "certificate.verify",
        Outcome::Ok,
        record
            .as_ref()
            .map(|r| vec![r.address_number.clone()])
            .unwrap_or_default(),
        json!({"certificate_id": id, "genuine": verdict.genuine, "via": "page"}),
    )
    .await?;
    Ok(render(&VerifyPage {
        chrome: staff.chrome(&state, "証明書の確認").await,
        id,
        verdict: Some(verdict),
    }))
}
