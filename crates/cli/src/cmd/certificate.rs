//! `sesshu certificate`: issue a person's 予防接種済証 (or, with passport data, the travel
//! 予防接種証明書) as a signed PDF, and verify one — by file, by ID, or offline by the token in
//! its QR code and the city's public key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::json;
use sesshu_crypto::certificate::{CertificatePublicKey, CertificateSigner, open_token};
use sesshu_documents::DocumentKind;
use sesshu_documents::model::{Batch, CertificateDose, CertificateRecord, Travel};
use sesshu_domain::{AddressNumber, DoseJudgement, MunicipalityCode, format_wareki};
use sesshu_schedule::Engine;
use sesshu_store::{Outcome, Store};

use crate::cmd::audit::cli_event;
use crate::cmd::documents::{Printing, sha256_of, write_atomically};
use crate::cmd::import::operator;
use crate::cmd::schedule::RulesArg;
use crate::config::{Config, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum CertificateCommand {
    /// Issue a certificate from the person's recorded doses; prints its ID
    Issue {
        address_number: String,
        #[arg(long)]
        out: PathBuf,
        /// The travel version: needs --romanised-name, --nationality and --passport
        #[arg(long)]
        travel: bool,
        #[arg(long, requires = "travel")]
        romanised_name: Option<String>,
        #[arg(long, requires = "travel")]
        nationality: Option<String>,
        #[arg(long, requires = "travel")]
        passport: Option<String>,
        /// 再発行: the certificate this one replaces (it is revoked)
        #[arg(long)]
        reissue_of: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Exit 0 only for a genuine, unaltered, unrevoked certificate: a PDF file, a certificate
    /// ID, or (offline, with --public-key) the token read from its QR code
    Verify {
        /// A PDF file or a certificate ID
        target: Option<String>,
        /// The token from the QR code
        #[arg(long, conflicts_with = "target")]
        token: Option<String>,
        /// The city's published public key file (for --token without the database)
        #[arg(long, requires = "token")]
        public_key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Print the public keys that verify this municipality's certificates, for publication
    PublicKey,
}

pub async fn run(global: &GlobalArgs, command: CertificateCommand) -> Result<ExitCode> {
    let config = Config::resolve(global)?;
    // Offline verification needs neither the database nor any key but the public one.
    if let CertificateCommand::Verify {
        token: Some(token),
        public_key: Some(path),
        json,
        ..
    } = &command
    {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{} を読めません", path.display()))?;
        let keys = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(CertificatePublicKey::parse)
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(report_token(token, &keys, None, *json));
    }
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    match command {
        CertificateCommand::Issue {
            address_number,
            out,
            travel,
            romanised_name,
            nationality,
            passport,
            reissue_of,
            json,
        } => {
            let travel = if travel {
                let (Some(r), Some(n), Some(p)) = (romanised_name, nationality, passport) else {
                    bail!("渡航用には --romanised-name, --nationality, --passport が必要です");
                };
                Some(Travel {
                    romanised_name: r.trim().to_uppercase(),
                    nationality: n.trim().to_uppercase(),
                    passport_number: p.trim().to_uppercase(),
                })
            } else {
                None
            };
            let address = AddressNumber::parse(&address_number)?;
            issue(
                &config, &store, tenant, &address, travel, reissue_of, &out, json,
            )
            .await
        }
        CertificateCommand::Verify {
            target,
            token,
            json,
            ..
        } => {
            let keys = published_keys(&store, tenant).await?;
            if let Some(token) = token {
                return Ok(report_token(&token, &keys, None, json));
            }
            let target = target.context("PDF ファイルか証明書 ID を指定してください")?;
            let path = PathBuf::from(&target);
            let record = if path.is_file() {
                let bytes = std::fs::read(&path)?;
                match store.certificate_by_pdf(tenant, &sha256_of(&bytes)).await? {
                    Some(r) => r,
                    None => {
                        return Ok(not_genuine(
                            json,
                            "このファイルは発行された証明書と一致しません (改変されているか、発行記録がありません)",
                        ));
                    }
                }
            } else {
                match store.certificate(tenant, &target).await? {
                    Some(r) => r,
                    None => return Ok(not_genuine(json, "この証明書 ID の発行記録はありません")),
                }
            };
            store
                .audit(
                    Some(tenant),
                    // The answer names the holder: they were shown.
                    cli_event(
                        "certificate.verify",
                        Outcome::Ok,
                        vec![],
                        vec![record.address_number.clone()],
                        json!({"certificate_id": record.certificate_id}),
                    ),
                )
                .await?;
            if record.revoked_at.is_some() {
                return Ok(not_genuine(
                    json,
                    &format!("証明書 {} は再発行により無効です", record.certificate_id),
                ));
            }
            Ok(report_token(
                &record.token,
                &keys,
                Some(&record.certificate_id),
                json,
            ))
        }
        CertificateCommand::PublicKey => {
            for k in published_keys(&store, tenant).await? {
                println!("{}", k.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The municipality's public keys, the current one registered first if it is new.
async fn published_keys(
    store: &Store,
    tenant: MunicipalityCode,
) -> Result<Vec<CertificatePublicKey>> {
    let mut keys = Vec::new();
    for text in store.certificate_keys(tenant).await? {
        keys.push(CertificatePublicKey::parse(&text)?);
    }
    Ok(keys)
}

fn not_genuine(json: bool, why: &str) -> ExitCode {
    if json {
        println!("{}", json!({"genuine": false, "reason": why}));
    } else {
        println!("真正ではありません: {why}");
    }
    ExitCode::from(1)
}

fn report_token(
    token: &str,
    keys: &[CertificatePublicKey],
    id: Option<&str>,
    json: bool,
) -> ExitCode {
    match open_token(token, keys) {
        Ok(payload) => {
            let content: serde_json::Value =
                serde_json::from_slice(&payload).unwrap_or(serde_json::Value::Null);
            if id.is_some_and(|id| content["id"].as_str() != Some(id)) {
                return not_genuine(json, "署名された内容の ID が記録と一致しません");
            }
            if json {
                println!("{}", json!({"genuine": true, "certificate": content}));
            } else {
                println!(
                    "真正な証明書です: {} {} ({} 発行、{} 件の接種)",
                    content["id"].as_str().unwrap_or(""),
                    content["n"].as_str().unwrap_or(""),
                    content["i"].as_str().unwrap_or(""),
                    content["d"].as_array().map_or(0, Vec::len)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => not_genuine(json, &e.to_string()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn issue(
    config: &Config,
    store: &Store,
    tenant: MunicipalityCode,
    address: &AddressNumber,
    travel: Option<Travel>,
    reissue_of: Option<String>,
    out: &std::path::Path,
    json: bool,
) -> Result<ExitCode> {
    let person = store
        .person(tenant, address)
        .await?
        .with_context(|| format!("宛名番号 {} の人はいません", address.as_str()))?
        .person;
    if let Some(old) = &reissue_of {
        let previous = store
            .certificate(tenant, old)
            .await?
            .with_context(|| format!("証明書 {old} はありません"))?;
        if previous.address_number != address.as_str() {
            bail!("証明書 {old} は別の人のものです");
        }
    }
    let signer = CertificateSigner::current(&config.certificate_keyring()?, &tenant.as_string())?;
    store
        .register_certificate_key(tenant, signer.key_id(), &signer.public_key().to_text())
        .await?;
    let engine = Engine::new(RulesArg::default().load()?);
    let mut doses: Vec<CertificateDose> = Vec::new();
    let mut signed_doses = Vec::new();
    for row in store.doses_of(tenant, address.as_str()).await? {
        let d = &row.dose;
        // A deferral or an antibody test is not a vaccination to certify.
        if d.judgement == DoseJudgement::Deferred
            || engine.rules().product(&d.product).is_some_and(|p| p.test)
        {
            continue;
        }
        let vaccine = engine
            .rules()
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
        bail!(
            "宛名番号 {} には証明できる接種の記録がありません",
            address.as_str()
        );
    }
    let today = sesshu_web::today_in_japan();
    let certificate_id = store
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
    let printing = Printing::load(config, store, tenant).await?;
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
    let rendered = printing
        .typesetter
        .render(DocumentKind::Certificate, &data)?;
    write_atomically(out, &rendered.pdf)?;
    let by = operator();
    store
        .record_certificate(
            tenant,
            &sesshu_store::CertificateRecord {
                certificate_id: certificate_id.clone(),
                address_number: address.as_str().to_owned(),
                travel: travel.is_some(),
                issued_on: today.to_string(),
                issued_by: by.clone(),
                issued_at: chrono::Utc::now().to_rfc3339(),
                token,
                key_id: signer.key_id().to_owned(),
                pdf_sha256: sha256_of(&rendered.pdf),
                reissue_of: reissue_of.clone(),
                revoked_at: None,
            },
        )
        .await?;
    store
        .audit(
            Some(tenant),
            cli_event(
                "certificate.issue",
                Outcome::Ok,
                vec![address.as_str().to_owned()],
                vec![],
                json!({"certificate_id": certificate_id, "travel": travel.is_some(),
                       "reissue_of": reissue_of, "doses": record.doses.len()}),
            ),
        )
        .await?;
    if json {
        println!(
            "{}",
            json!({"certificate_id": certificate_id, "out": out.display().to_string(),
                   "doses": record.doses.len(), "key_id": signer.key_id()})
        );
    } else {
        println!("{certificate_id}");
        eprintln!(
            "証明書 {certificate_id} を発行しました ({} 件の接種): {}",
            record.doses.len(),
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
