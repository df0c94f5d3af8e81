//! The fonts every document embeds, read once from the machine.

use std::path::{Path, PathBuf};

use typst::foundations::Bytes;
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;

use crate::DocumentError;

/// Debian's IPAex Mincho and Gothic (`fonts-ipaexfont`), and IPAmj Mincho (`fonts-ipamj-mincho`)
/// when present: it covers the 人名用 variants (𠮷, 髙) that IPAex lacks.
pub const DEFAULT_FONT_DIRS: &[&str] = &[
    "/usr/share/fonts/opentype/ipaexfont-mincho",
    "/usr/share/fonts/opentype/ipaexfont-gothic",
    "/usr/share/fonts/truetype/ipamj",
    "/usr/share/fonts/opentype/ipamj",
];

/// Fonts loaded from directories, with typst's index of them.
pub struct FontSet {
    pub(crate) fonts: Vec<Font>,
    pub(crate) book: LazyHash<FontBook>,
}

impl std::fmt::Debug for FontSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FontSet")
            .field("families", &self.families())
            .finish()
    }
}

impl FontSet {
    /// Every `.ttf`, `.otf` and `.ttc` directly in `dirs` (missing directories are skipped).
    /// Fails when none is found: a document without its font would be unreadable.
    pub fn load(dirs: &[PathBuf]) -> Result<Self, DocumentError> {
        let mut files: Vec<PathBuf> = Vec::new();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| is_font(p)));
        }
        // Directory order is arbitrary; a fixed order keeps fallback (and so output) stable.
        files.sort();
        let mut fonts = Vec::new();
        for file in files {
            if let Ok(data) = std::fs::read(&file) {
                fonts.extend(Font::iter(Bytes::new(data)));
            }
        }
        if fonts.is_empty() {
            return Err(DocumentError::NoFonts(
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        let book = LazyHash::new(FontBook::from_fonts(&fonts));
        Ok(Self { fonts, book })
    }

    /// The default directories.
    pub fn system() -> Result<Self, DocumentError> {
        Self::load(
            &DEFAULT_FONT_DIRS
                .iter()
                .map(PathBuf::from)
                .collect::<Vec<_>>(),
        )
    }

    pub fn families(&self) -> Vec<String> {
        let mut names: Vec<String> = self.fonts.iter().map(|f| f.info().family.clone()).collect();
        names.dedup();
        names
    }

    /// Characters of `text` that no loaded font can draw (whitespace and controls aside).
    pub fn missing(&self, text: &str) -> Vec<char> {
        let mut missing: Vec<char> = text
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
            .filter(|&c| {
                !self
                    .fonts
                    .iter()
                    .any(|f| f.info().coverage.contains(u32::from(c)))
            })
            .collect();
        missing.sort_unstable();
        missing.dedup();
        missing
    }
}

fn is_font(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "ttf" | "otf" | "ttc"))
}
