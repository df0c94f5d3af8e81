//! `sesshu certificate`: issue a person's 予防接種済証 (or, with passport data, the travel
//! 予防接種証明書) as a signed PDF, and verify one — by file, by ID, or offline by the token in
//! its QR code and the city's public key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use serde_json::json;
use sesshu_app::Actor;
use sesshu_app::certificates::{
    IssueRequest, TravelForm, Verification, VerifyTarget, verify_token,
};
use sesshu_crypto::certificate::CertificatePublicKey;

use crate::config::RulesArg;
use crate::config::{Config, GlobalArgs};

#[derive(Debug, clap::Subcommand)]
pub enum CertificateCommand {
    /// Issue a certificate from the person's recorded doses; prints its ID
    Issue {
        /// The person's 宛名番号 (address number)
        address_number: String,
        /// Where to write the certificate PDF
        #[arg(long)]
        out: PathBuf,
        /// The travel version: needs --romanised-name, --nationality and --passport
        #[arg(long)]
        travel: bool,
        /// The name in Latin letters as in the passport (travel certificate)
        #[arg(long, requires = "travel")]
        romanised_name: Option<String>,
        /// Nationality as in the passport (travel certificate)
        #[arg(long, requires = "travel")]
        nationality: Option<String>,
        /// Passport number (travel certificate)
        #[arg(long, requires = "travel")]
        passport: Option<String>,
        /// 再発行: the certificate this one replaces (it is revoked)
        #[arg(long)]
        reissue_of: Option<String>,
        /// Print the result as JSON instead of text
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
        /// Print the result as JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Revoke a certificate (lost, issued in error): from now on it does not verify
    Revoke {
        /// The certificate's ID as printed on it
        certificate_id: String,
        /// Why (recorded, and given by every verification)
        #[arg(long)]
        reason: String,
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
        return Ok(report(&verify_token(token, &keys, None), *json));
    }
    let store = config.store().await?;
    let tenant = config.tenant(&store).await?;
    let app = config.app(store, &RulesArg::default())?;
    let me = Actor::operator(Some(tenant));
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
                Some(TravelForm {
                    romanised_name: r,
                    nationality: n,
                    passport_number: p,
                })
            } else {
                None
            };
            let issued = app
                .issue_certificate(
                    &me,
                    tenant,
                    &IssueRequest {
                        address_number,
                        travel,
                        reissue_of,
                    },
                )
                .await?;
            sesshu_app::printing::write_atomically(&out, &issued.pdf)?;
            if json {
                println!(
                    "{}",
                    json!({"certificate_id": issued.certificate_id, "out": out.display().to_string(),
                           "doses": issued.doses, "key_id": issued.key_id})
                );
            } else {
                println!("{}", issued.certificate_id);
                eprintln!(
                    "証明書 {} を発行しました ({} 件の接種): {}",
                    issued.certificate_id,
                    issued.doses,
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CertificateCommand::Verify {
            target,
            token,
            json,
            ..
        } => {
            let target = match (token, target) {
                (Some(token), _) => VerifyTarget::Token(token),
                (None, Some(target)) => {
                    let path = PathBuf::from(&target);
                    if path.is_file() {
                        VerifyTarget::Pdf(std::fs::read(&path)?)
                    } else {
                        VerifyTarget::Id(target)
                    }
                }
                (None, None) => bail!("PDF ファイルか証明書 ID を指定してください"),
            };
            let v = app.verify_certificate(&me, tenant, &target).await?;
            Ok(report(&v, json))
        }
        CertificateCommand::Revoke {
            certificate_id,
            reason,
        } => {
            app.revoke_certificate(&me, tenant, &certificate_id, &reason)
                .await?;
            println!("証明書 {certificate_id} を無効にしました");
            Ok(ExitCode::SUCCESS)
        }
        CertificateCommand::PublicKey => {
            for k in app.certificate_public_keys(tenant).await? {
                println!("{}", k.to_text());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Exit 0 only for a genuine certificate.
fn report(v: &Verification, json: bool) -> ExitCode {
    if !v.genuine {
        let why = v.reason.as_deref().unwrap_or("");
        if json {
            println!("{}", json!({"genuine": false, "reason": why}));
        } else {
            println!("真正ではありません: {why}");
        }
        return ExitCode::from(1);
    }
    let content = v.certificate.clone().unwrap_or_default();
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
