//! The template files: the shipped set, each overridable by a file of the same name in the
//! city's directory (`templates_dir`), so wording and layout change without a rebuild.

use std::path::{Path, PathBuf};

use crate::DocumentError;

/// The documents sesshu prints; each is one template file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 勧奨通知: a letter to the person or their guardian.
    Notice,
    /// 接種券: the ticket a clinic collects.
    Ticket,
    /// 予診票: the screening form, pre-filled with the person.
    Form,
    /// 予防接種済証 / 予防接種証明書 (the travel version is the same file, with passport data).
    Certificate,
    /// 保有個人情報の開示: everything held about a person, for a disclosure request.
    Disclosure,
    /// 健康被害救済: a letter of a relief case (受付, 進達, 認定・否認, 支給).
    ReliefLetter,
}

impl DocumentKind {
    pub const ALL: [DocumentKind; 6] = [
        Self::Notice,
        Self::Ticket,
        Self::Form,
        Self::Certificate,
        Self::Disclosure,
        Self::ReliefLetter,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Self::Notice => "notice.typ",
            Self::Ticket => "ticket.typ",
            Self::Form => "form.typ",
            Self::Certificate => "certificate.typ",
            Self::Disclosure => "disclosure.typ",
            Self::ReliefLetter => "relief_letter.typ",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Notice => "notice",
            Self::Ticket => "ticket",
            Self::Form => "form",
            Self::Certificate => "certificate",
            Self::Disclosure => "disclosure",
            Self::ReliefLetter => "relief_letter",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The Japanese name staff see.
    pub fn label(self) -> &'static str {
        match self {
            Self::Notice => "勧奨通知",
            Self::Ticket => "接種券",
            Self::Form => "予診票",
            Self::Certificate => "予防接種済証",
            Self::Disclosure => "保有個人情報の開示",
            Self::ReliefLetter => "健康被害救済の通知",
        }
    }
}

/// The shipped files: the templates plus `common.typ`, which they all import.
const SHIPPED: &[(&str, &str)] = &[
    ("common.typ", include_str!("../templates/common.typ")),
    ("notice.typ", include_str!("../templates/notice.typ")),
    ("ticket.typ", include_str!("../templates/ticket.typ")),
    ("form.typ", include_str!("../templates/form.typ")),
    (
        "certificate.typ",
        include_str!("../templates/certificate.typ"),
    ),
    (
        "disclosure.typ",
        include_str!("../templates/disclosure.typ"),
    ),
    (
        "relief_letter.typ",
        include_str!("../templates/relief_letter.typ"),
    ),
];

/// Where template files come from.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    city_dir: Option<PathBuf>,
}

impl Templates {
    /// Only the shipped files.
    pub fn shipped() -> Self {
        Self::default()
    }

    /// The city's directory first, then the shipped files.
    pub fn with_city_dir(dir: impl Into<PathBuf>) -> Self {
        Self {
            city_dir: Some(dir.into()),
        }
    }

    pub fn city_dir(&self) -> Option<&Path> {
        self.city_dir.as_deref()
    }

    /// The shipped text of a file, for `sesshu documents templates` to copy out.
    pub fn shipped_files() -> impl Iterator<Item = (&'static str, &'static str)> {
        SHIPPED.iter().copied()
    }

    /// The bytes of a file a template names: the city's copy, else the shipped one. Names are
    /// plain file names; anything with a path separator is refused, so a template cannot read
    /// outside the directory.
    pub fn read(&self, name: &str) -> Result<Vec<u8>, DocumentError> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(DocumentError::Template {
                name: name.to_owned(),
                reason: "ファイル名だけを指定してください".into(),
            });
        }
        if let Some(dir) = &self.city_dir {
            let path = dir.join(name);
            match std::fs::read(&path) {
                Ok(bytes) => return Ok(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(DocumentError::Template {
                        name: name.to_owned(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        SHIPPED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| text.as_bytes().to_vec())
            .ok_or_else(|| DocumentError::Template {
                name: name.to_owned(),
                reason: "ありません".into(),
            })
    }
}
