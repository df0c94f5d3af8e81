//! 予防接種済証 (and, with passport data, the travel 予防接種証明書): issued at the counter from
//! the person's recorded doses as a signed PDF, re-issued (the old one revoked), revoked on its
//! own, and verified by file, by ID or offline by the token in its QR code.

use std::path::PathBuf;

use serde_json::json;
use sesshu_crypto::certificate::{CertificatePublicKey, CertificateSigner, open_token};
use sesshu_documents::DocumentKind;
use sesshu_documents::model::{Batch, CertificateDose, CertificateRecord, Travel};
use sesshu_domain::access::Permission;
use sesshu_domain::{AddressNumber, DoseJudgement, MunicipalityCode, format_wareki};
use sesshu_store::Outcome;

use crate::printing::{sha256_of, write_atomically};
use crate::{Actor, App, AppError, today_in_japan};

/// A certificate to issue.
#[derive(Debug, Clone, Default)]
pub struct IssueRequest {
    pub address_number: String,
    /// The travel version, with the passport's data.
    pub travel: Option<TravelForm>,
    /// 再発行: the certificate this one replaces (it is revoked).
    pub reissue_of: Option<String>,
}

/// The passport data of a travel certificate, as typed.
#[derive(Debug, Clone, Default)]
pub struct TravelForm {
    pub romanised_name: String,
    pub nationality: String,
    pub passport_number: String,
}

impl TravelForm {
    fn checked(&self) -> Result<Travel, AppError> {
        let field = |v: &str, what: &str| {
            let v = v.trim().to_uppercase();
            if v.is_empty() {
                return Err(AppError::Invalid(format!("渡航用には{what}が必要です")));
            }
            if !v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | ',' | '-' | '.'))
            {
                return Err(AppError::Invalid(format!(
                    "{what}は旅券のとおり半角英数字で入力してください"
                )));
            }
            Ok(v)
        };
        Ok(Travel {
            romanised_name: field(&self.romanised_name, "ローマ字氏名")?,
            nationality: field(&self.nationality, "国籍")?,
            passport_number: field(&self.passport_number, "旅券番号")?,
        })
    }
}

/// An issued certificate.
#[derive(Debug, Clone)]
pub struct Issued {
    pub certificate_id: String,
    pub doses: usize,
    pub key_id: String,
    pub pdf: Vec<u8>,
    /// Where the server keeps its copy, for handing out again.
    pub path: PathBuf,
}

/// What a verification found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verification {
    pub genuine: bool,
    /// Why not, when it is not.
    pub reason: Option<String>,
    /// What the signature vouches for (short keys, as in the QR code).
    pub certificate: Option<serde_json::Value>,
    /// The issue record, when one was found.
    #[serde(skip)]
    pub record: Option<sesshu_store::CertificateRecord>,
}

impl Verification {
    fn not_genuine(
        reason: impl Into<String>,
        record: Option<sesshu_store::CertificateRecord>,
    ) -> Self {
        Self {
            genuine: false,
            reason: Some(reason.into()),
            certificate: None,
            record,
        }
    }
}

/// What to verify.
#[derive(Debug, Clone)]
pub enum VerifyTarget {
    /// A PDF as handed out: genuine only if byte for byte one that was issued.
    Pdf(Vec<u8>),
    Id(String),
    /// The token read from a QR code.
    Token(String),
}

/// Checks a token against published keys, without any database: what an office abroad or an
/// airline can do with the city's public key file.
pub fn verify_token(token: &str, keys: &[CertificatePublicKey], id: Option<&str>) -> Verification {
    match open_token(token, keys) {
        Ok(payload) => {
            let content: serde_json::Value =
                serde_json::from_slice(&payload).unwrap_or(serde_json::Value::Null);
            if id.is_some_and(|id| content["id"].as_str() != Some(id)) {
                return Verification::not_genuine("署名された内容の ID が記録と一致しません", None);
            }
            Verification {
                genuine: true,
                reason: None,
                certificate: Some(content),
                record: None,
            }
        }
        Err(e) => Verification::not_genuine(e.to_string(), None),
    }
}

impl App {
    /// The municipality's public keys, as published text lines parsed.
    pub async fn certificate_public_keys(
        &self,
        tenant: MunicipalityCode,
    ) -> Result<Vec<CertificatePublicKey>, AppError> {
        let mut keys = Vec::new();
        for text in self.store.certificate_keys(tenant).await? {
            keys.push(CertificatePublicKey::parse(&text)?);
        }
        Ok(keys)
    }

    /// Issues a certificate from the person's recorded vaccinations (deferrals and antibody
    /// tests are not vaccinations), signs what it certifies, lays it out as a PDF and records
    /// it; a re-issue revokes the one it replaces.
    pub async fn issue_certificate(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        req: &IssueRequest,
    ) -> Result<Issued, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::CertificateIssue,
            "certificate.issue",
            json!({"person": req.address_number}),
        )
        .await?;
        let address = AddressNumber::parse(req.address_number.trim())
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let travel = req.travel.as_ref().map(TravelForm::checked).transpose()?;
        let reissue_of = req
            .reissue_of
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let person = self
            .store
            .person(tenant, &address)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("宛名番号 {}", address.as_str())))?
            .person;
        if let Some(old) = &reissue_of {
            let previous = self
                .store
                .certificate(tenant, old)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("証明書 {old}")))?;
            if previous.address_number != address.as_str() {
                return Err(AppError::Invalid(format!(
                    "証明書 {old} は別の人のものです"
                )));
            }
            if previous.revoked_at.is_some() {
                return Err(AppError::Invalid(format!(
                    "証明書 {old} はすでに無効です: 有効な証明書を再発行してください"
                )));
            }
        }
        let signer =
            CertificateSigner::current(&*self.certificate_keyring()?, &tenant.as_string())?;
        self.store
            .register_certificate_key(tenant, signer.key_id(), &signer.public_key().to_text())
            .await?;
        let rules = self.engine.rules();
        let mut doses: Vec<CertificateDose> = Vec::new();
        let mut signed_doses = Vec::new();
        for row in self.store.doses_of(tenant, address.as_str()).await? {
            let d = &row.dose;
            if d.judgement == DoseJudgement::Deferred
                || rules.product(&d.product).is_some_and(|p| p.test)
            {
                continue;
            }
            let vaccine = rules
                .product(&d.product)
                .map(|p| p.name.clone())
                .unwrap_or_else(|| d.product.clone());
            let stage = row
                .stage
                .clone()
                .unwrap_or_else(|| format!("{}回目", d.ordinal));
            let lot = d.lot.clone().unwrap_or_default();
            signed_doses.push(json!([d.product, d.ordinal, d.given_on, lot]));
            doses.push(CertificateDose {
                vaccine,
                stage,
                date: format_wareki(d.given_on),
                date_iso: d.given_on.to_string(),
                lot,
                clinic: d.institution_name.clone().unwrap_or_default(),
            });
        }
        if doses.is_empty() {
            return Err(AppError::Invalid(format!(
                "宛名番号 {} には証明できる接種の記録がありません",
                address.as_str()
            )));
        }
        let today = today_in_japan();
        let certificate_id = self
            .store
            .next_certificate_id(tenant, chrono::Datelike::year(&today))
            .await?;
        // What the QR code vouches for: short keys, because every byte enlarges the code.
        let mut payload = json!({
            "v": 1,
            "id": certificate_id,
            "m": tenant.as_string(),
            "n": person.name.to_string(),
            "b": person.birth_date,
            "s": person.sex.label(),
            "i": today,
            "d": signed_doses,
        });
        if let Some(t) = &travel {
            payload["r"] = json!(t.romanised_name);
            payload["c"] = json!(t.nationality);
            payload["p"] = json!(t.passport_number);
        }
        let token = signer.sign(serde_json::to_string(&payload)?.as_bytes());
        let printing = self.printing(tenant).await?;
        let count = doses.len();
        let record = CertificateRecord {
            certificate_id: certificate_id.clone(),
            issued_on: format_wareki(today),
            issued_on_iso: today.to_string(),
            person_name: person.name.to_string(),
            person_kana: person.kana.to_string(),
            birth_date: format_wareki(person.birth_date),
            birth_date_iso: person.birth_date.to_string(),
            sex: person.sex.label().into(),
            travel: travel.clone(),
            doses,
            qr_svg: sesshu_documents::qr::svg(&token)?,
            key_id: signer.key_id().to_owned(),
            reissue: reissue_of.is_some(),
        };
        let data = serde_json::to_value(Batch {
            letterhead: &printing.letterhead,
            records: std::slice::from_ref(&record),
        })?;
        let rendered = printing.render(DocumentKind::Certificate, data).await?;
        let path = self.certificate_path(tenant, &certificate_id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| AppError::file(dir, e))?;
        }
        write_atomically(&path, &rendered.pdf)?;
        self.store
            .record_certificate(
                tenant,
                &sesshu_store::CertificateRecord {
                    certificate_id: certificate_id.clone(),
                    address_number: address.as_str().to_owned(),
                    travel: travel.is_some(),
                    issued_on: today.to_string(),
                    issued_by: actor.actor.clone(),
                    issued_at: chrono::Utc::now().to_rfc3339(),
                    token,
                    key_id: signer.key_id().to_owned(),
                    pdf_sha256: sha256_of(&rendered.pdf),
                    reissue_of: reissue_of.clone(),
                    revoked_at: None,
                    revoked_reason: None,
                },
            )
            .await?;
        self.record(
            actor,
            "certificate.issue",
            Outcome::Ok,
            vec![address.as_str().to_owned()],
            vec![],
            json!({"certificate_id": certificate_id, "travel": travel.is_some(),
                   "reissue_of": reissue_of, "doses": count}),
        )
        .await?;
        Ok(Issued {
            certificate_id,
            doses: count,
            key_id: signer.key_id().to_owned(),
            pdf: rendered.pdf,
            path,
        })
    }

    fn certificate_path(&self, tenant: MunicipalityCode, certificate_id: &str) -> PathBuf {
        self.output_dir(tenant)
            .join("certificates")
            .join(format!("{certificate_id}.pdf"))
    }

    /// Revokes a certificate (lost, issued in error): it no longer verifies, and says why.
    pub async fn revoke_certificate(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        certificate_id: &str,
        reason: &str,
    ) -> Result<(), AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::CertificateIssue,
            "certificate.revoke",
            json!({"certificate_id": certificate_id}),
        )
        .await?;
        let reason = reason.trim();
        if reason.chars().count() < 2 {
            return Err(AppError::Invalid("無効にする理由を入力してください".into()));
        }
        let id = certificate_id.trim();
        let record = self
            .store
            .certificate(tenant, id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("証明書 {id}")))?;
        let revoked = self
            .store
            .revoke_certificate(tenant, id, &actor.actor, reason)
            .await
            .map_err(AppError::from);
        let (outcome, detail) = match &revoked {
            Ok(()) => (Outcome::Ok, json!({"certificate_id": id, "reason": reason})),
            Err(e) => (
                Outcome::Refused,
                json!({"certificate_id": id, "refused": e.to_string()}),
            ),
        };
        self.record(
            actor,
            "certificate.revoke",
            outcome,
            vec![record.address_number],
            vec![],
            detail,
        )
        .await?;
        revoked
    }

    /// An issued certificate's PDF as handed out, for printing again (the holder is audited
    /// as shown). Refused if the kept copy is not byte for byte the one issued.
    pub async fn certificate_pdf(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        certificate_id: &str,
    ) -> Result<Vec<u8>, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::CertificateIssue,
            "certificate.download",
            json!({"certificate_id": certificate_id}),
        )
        .await?;
        let record = self
            .store
            .certificate(tenant, certificate_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("証明書 {certificate_id}")))?;
        let path = self.certificate_path(tenant, certificate_id);
        let bytes = std::fs::read(&path).map_err(|_| {
            AppError::NotFound(format!(
                "証明書 {certificate_id} の PDF (この画面から発行したものだけを保管しています)"
            ))
        })?;
        if sha256_of(&bytes) != record.pdf_sha256 {
            return Err(AppError::Invalid(format!(
                "証明書 {certificate_id} の保管ファイルが発行時と違います"
            )));
        }
        self.record(
            actor,
            "certificate.download",
            Outcome::Ok,
            vec![],
            vec![record.address_number],
            json!({"certificate_id": certificate_id}),
        )
        .await?;
        Ok(bytes)
    }

    /// Whether a certificate is genuine, unaltered and not revoked. The holder of a certificate
    /// found is audited as shown (the answer names them).
    pub async fn verify_certificate(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        target: &VerifyTarget,
    ) -> Result<Verification, AppError> {
        self.authorize(actor, tenant, Permission::DoseRead, "certificate.verify")
            .await?;
        let keys = self.certificate_public_keys(tenant).await?;
        let record = match target {
            VerifyTarget::Token(token) => {
                // A genuine signature of a certificate since revoked is not genuine any more.
                let v = verify_token(token, &keys, None);
                match v.certificate.as_ref().and_then(|c| c["id"].as_str()) {
                    Some(id) if v.genuine => self.store.certificate(tenant, id).await?,
                    _ => {
                        self.record(
                            actor,
                            "certificate.verify",
                            Outcome::Ok,
                            vec![],
                            vec![],
                            json!({"by": "token", "genuine": v.genuine}),
                        )
                        .await?;
                        return Ok(v);
                    }
                }
            }
            VerifyTarget::Pdf(bytes) => {
                self.store
                    .certificate_by_pdf(tenant, &sha256_of(bytes))
                    .await?
            }
            VerifyTarget::Id(id) => self.store.certificate(tenant, id.trim()).await?,
        };
        let verification = match &record {
            None => Verification::not_genuine(
                match target {
                    VerifyTarget::Pdf(_) => {
                        "このファイルは発行された証明書と一致しません (改変されているか、発行記録がありません)"
                    }
                    VerifyTarget::Token(_) => "署名は正しいものの、この団体の発行記録にありません",
                    VerifyTarget::Id(_) => "この証明書 ID の発行記録はありません",
                },
                None,
            ),
            Some(r) => {
                let mut v = verify_token(&r.token, &keys, Some(&r.certificate_id));
                if v.genuine && r.revoked_at.is_some() {
                    let why = r
                        .revoked_reason
                        .clone()
                        .unwrap_or_else(|| "再発行".to_owned());
                    v.genuine = false;
                    v.reason = Some(format!(
                        "証明書 {} は無効です ({}、{})",
                        r.certificate_id,
                        why,
                        r.revoked_at
                            .as_deref()
                            .unwrap_or("")
                            .chars()
                            .take(10)
                            .collect::<String>()
                    ));
                }
                v.record = Some(r.clone());
                v
            }
        };
        self.record(
            actor,
            "certificate.verify",
            Outcome::Ok,
            vec![],
            record
                .as_ref()
                .map(|r| vec![r.address_number.clone()])
                .unwrap_or_default(),
            json!({"certificate_id": record.as_ref().map(|r| r.certificate_id.clone()),
                   "genuine": verification.genuine}),
        )
        .await?;
        Ok(verification)
    }

    /// The certificates issued to a person, newest first.
    pub async fn certificates_of_person(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<Vec<sesshu_store::CertificateRecord>, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::DoseRead,
            "certificate.list",
            json!({"person": address_number}),
        )
        .await?;
        Ok(self
            .store
            .certificates_of_person(tenant, address_number)
            .await?)
    }
}

impl App {
    /// One issued certificate's record (its holder audited as shown).
    pub async fn certificate(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        certificate_id: &str,
    ) -> Result<sesshu_store::CertificateRecord, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::CertificateIssue,
            "certificate.read",
            json!({"certificate_id": certificate_id}),
        )
        .await?;
        let record = self
            .store
            .certificate(tenant, certificate_id.trim())
            .await?
            .ok_or_else(|| AppError::NotFound(format!("証明書 {certificate_id}")))?;
        self.record(
            actor,
            "certificate.read",
            Outcome::Ok,
            vec![],
            vec![record.address_number.clone()],
            json!({"certificate_id": record.certificate_id}),
        )
        .await?;
        Ok(record)
    }
}

/// Everything issued to a person: notices, tickets and certificates.
#[derive(Debug, Clone)]
pub struct IssuedToPerson {
    pub notices: Vec<sesshu_store::Notice>,
    pub tickets: Vec<sesshu_store::Ticket>,
    pub certificates: Vec<sesshu_store::CertificateRecord>,
}

impl App {
    /// What was issued to a person (dose.read), for the person's page: to this record and to
    /// the records linked into it.
    pub async fn issued_to(
        &self,
        actor: &Actor,
        tenant: MunicipalityCode,
        address_number: &str,
    ) -> Result<IssuedToPerson, AppError> {
        self.authorize_for(
            actor,
            tenant,
            Permission::DoseRead,
            "person.read",
            json!({"person": address_number}),
        )
        .await?;
        // What was issued to records linked into this one follows it (記録の統合).
        let mut records = vec![address_number.to_owned()];
        if let Ok(a) = sesshu_domain::AddressNumber::parse(address_number) {
            records.extend(
                self.store
                    .links_of_person(tenant, &a)
                    .await?
                    .into_iter()
                    .filter(|l| l.in_force() && l.primary_address == address_number)
                    .map(|l| l.secondary_address),
            );
        }
        let mut issued = IssuedToPerson {
            notices: Vec::new(),
            tickets: Vec::new(),
            certificates: Vec::new(),
        };
        for a in &records {
            issued
                .notices
                .extend(self.store.notices_of_person(tenant, a).await?);
            issued
                .tickets
                .extend(self.store.tickets_of_person(tenant, a).await?);
            issued
                .certificates
                .extend(self.store.certificates_of_person(tenant, a).await?);
        }
        Ok(issued)
    }
}
