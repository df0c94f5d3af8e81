//! What notices and certificates share: the typesetter and sender block of one municipality,
//! and a person turned into the fields a document prints.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sesshu_documents::model::{Addressee, Letterhead};
use sesshu_documents::{DEFAULT_FONT_DIRS, DocumentKind, FontSet, Rendered, Templates, Typesetter};
use sesshu_domain::{CivilDate, MunicipalityCode, Person, format_wareki};
use sesshu_store::Store;

use crate::AppError;
use crate::settings::DocumentsConfig;

/// The number line's first digit for a series without its own.
const DEFAULT_TICKET_KIND: u8 = 9;

/// Everything needed to print for one municipality.
#[derive(Debug, Clone)]
pub struct Printing {
    pub typesetter: Typesetter,
    pub letterhead: Letterhead,
    pub per_file: usize,
    ticket_kinds: HashMap<String, u8>,
}

impl Printing {
    pub async fn load(
        d: &DocumentsConfig,
        store: &Store,
        tenant: MunicipalityCode,
    ) -> Result<Self, AppError> {
        let dirs: Vec<PathBuf> = d
            .font_dirs
            .clone()
            .unwrap_or_else(|| DEFAULT_FONT_DIRS.iter().map(PathBuf::from).collect());
        let fonts = FontSet::load(&dirs)?;
        let templates = match &d.templates_dir {
            Some(dir) => Templates::with_city_dir(dir),
            None => Templates::shipped(),
        };
        let name = store
            .municipality(tenant)
            .await?
            .map(|m| m.name)
            .unwrap_or_default();
        let letterhead = Letterhead {
            municipality_code: tenant.as_string(),
            issuer: d.issuer.clone().unwrap_or_else(|| format!("{name}長")),
            municipality_name: name,
            department: d.department.clone().unwrap_or_else(|| "保健予防課".into()),
            address: d.address.clone().unwrap_or_default(),
            phone: d.phone.clone().unwrap_or_default(),
            note: d.note.clone().unwrap_or_default(),
            logo: d.logo.clone(),
        };
        Ok(Self {
            typesetter: Typesetter::new(fonts, templates),
            letterhead,
            per_file: d.per_file(),
            ticket_kinds: d.ticket_kinds.clone(),
        })
    }

    /// The 18-digit number line of a ticket.
    pub fn number_line(&self, series: &str, dose: u32, ticket: u64) -> Option<String> {
        let kind = self
            .ticket_kinds
            .get(series)
            .copied()
            .unwrap_or(DEFAULT_TICKET_KIND);
        sesshu_documents::model::number_line(kind, dose, &self.letterhead.municipality_code, ticket)
    }

    /// Typesets off the async workers: a batch file takes seconds of CPU.
    pub async fn render(
        &self,
        kind: DocumentKind,
        data: serde_json::Value,
    ) -> Result<Rendered, AppError> {
        let typesetter = self.typesetter.clone();
        tokio::task::spawn_blocking(move || typesetter.render(kind, &data))
            .await
            .map_err(|e| AppError::Internal(e.to_string()))?
            .map_err(AppError::from)
    }
}

/// 令和8年2月9日から令和12年12月9日まで
pub fn window_text([a, b]: [CivilDate; 2]) -> String {
    format!("{}から{}まで", format_wareki(a), format_wareki(b))
}

/// A letter's addressee: the guardian at the person's address when there is one. A protected
/// person's address is left out unless `withheld` is false.
pub fn addressee(person: &Person, to: &str, withheld: bool) -> Addressee {
    Addressee {
        postal_code: (!withheld)
            .then(|| person.postal_code.as_ref().map(|p| p.digits().to_owned()))
            .flatten()
            .map(|p| {
                if p.len() == 7 {
                    format!("{}-{}", &p[..3], &p[3..])
                } else {
                    p
                }
            }),
        address: (!withheld).then(|| person.address.clone()).flatten(),
        address_detail: (!withheld).then(|| person.address_detail.clone()).flatten(),
        name: to.to_owned(),
        withheld,
    }
}

/// `0歳2か月` under 2 years, `5歳` after.
pub fn age_text(birth: CivilDate, on: CivilDate) -> String {
    let years = sesshu_domain::age_on(birth, on).unwrap_or(0);
    if years < 2 {
        let months = sesshu_domain::age::months_on(birth, on).unwrap_or(0);
        format!("{}歳{}か月", months / 12, months % 12)
    } else {
        format!("{years}歳")
    }
}

/// Writes `bytes` to `path` through a temporary file, so an interrupted run never leaves a
/// half-written file under the final name.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), AppError> {
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes).map_err(|e| AppError::file(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| AppError::file(path, e))
}

/// The SHA-256 of a file's bytes, in hex: how a written file is recognised when a run resumes
/// and how an issued certificate is recognised when it is verified.
pub fn sha256_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}
