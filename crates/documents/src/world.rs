//! typst's view of one render: the template as `/main.typ`, the records as `/data.json`, any
//! other file from [`Templates`], fonts from a shared [`FontSet`].

use std::sync::Arc;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime, Duration};
use typst::syntax::{FileId, RootedPath, Source, VirtualPath, VirtualRoot};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt, World};
use typst_layout::PagedDocument;

use crate::{DocumentError, DocumentKind, FontSet, Templates};

/// Renders a memoised result survives unused in typst's cache. A batch file is hundreds of
/// pages whose layouts are never asked for again; keeping them would grow memory with the run.
const EVICT_AGE: usize = 2;

/// A PDF and how many pages it has.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub pdf: Vec<u8>,
    pub pages: usize,
}

/// Turns records into PDFs. Cheap to clone; fonts are loaded once.
#[derive(Clone)]
pub struct Typesetter {
    fonts: Arc<FontSet>,
    library: Arc<LazyHash<Library>>,
    templates: Templates,
}

impl std::fmt::Debug for Typesetter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typesetter")
            .field("templates", &self.templates)
            .finish_non_exhaustive()
    }
}

impl Typesetter {
    pub fn new(fonts: FontSet, templates: Templates) -> Self {
        Self {
            fonts: Arc::new(fonts),
            library: Arc::new(LazyHash::new(Library::default())),
            templates,
        }
    }

    pub fn fonts(&self) -> &FontSet {
        &self.fonts
    }

    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// Every string in `data` that a font cannot draw, by its JSON path; the first is the error.
    pub fn check_glyphs(&self, data: &serde_json::Value) -> Result<(), DocumentError> {
        let mut found: Option<(String, Vec<char>)> = None;
        walk_strings(data, &mut String::new(), &mut |path, s| {
            if found.is_none() {
                let missing = self.fonts.missing(s);
                if !missing.is_empty() {
                    found = Some((path.to_owned(), missing));
                }
            }
        });
        match found {
            None => Ok(()),
            Some((field, chars)) => Err(DocumentError::MissingGlyphs {
                field,
                chars: chars
                    .iter()
                    .map(|c| format!("{c} (U+{:04X})", u32::from(*c)))
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// One PDF of `kind` from `data` (whatever the template reads from `/data.json`).
    pub fn render(
        &self,
        kind: DocumentKind,
        data: &serde_json::Value,
    ) -> Result<Rendered, DocumentError> {
        self.check_glyphs(data)?;
        let name = kind.file_name();
        let text =
            String::from_utf8(self.templates.read(name)?).map_err(|_| DocumentError::Template {
                name: name.into(),
                reason: "UTF-8 ではありません".into(),
            })?;
        let main = Source::new(file_id("main.typ")?, text);
        let world = RenderWorld {
            library: &self.library,
            fonts: &self.fonts,
            templates: &self.templates,
            main,
            data: Bytes::new(serde_json::to_vec(data)?),
        };
        let compiled = typst::compile::<PagedDocument>(&world).output;
        comemo::evict(EVICT_AGE);
        let document = compiled.map_err(|errors| DocumentError::Typeset {
            name: name.into(),
            reason: errors
                .iter()
                .map(|e| e.message.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        })?;
        let pdf =
            typst_pdf::pdf(&document, &typst_pdf::PdfOptions::default()).map_err(|errors| {
                DocumentError::Pdf(
                    errors
                        .iter()
                        .map(|e| e.message.to_string())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
        Ok(Rendered {
            pages: document.pages().len(),
            pdf,
        })
    }
}

fn walk_strings(value: &serde_json::Value, path: &mut String, f: &mut impl FnMut(&str, &str)) {
    match value {
        serde_json::Value::String(s) => f(path, s),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk_strings(item, path, f);
                path.truncate(len);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                // An SVG is markup for the renderer, not text on the page.
                if k.ends_with("_svg") {
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                walk_strings(v, path, f);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// typst interns file ids for the life of the process (at most 65,535), so only fixed names
/// are ever made: the template files, `main.typ` and `data.json`.
fn file_id(name: &str) -> Result<FileId, DocumentError> {
    let path = VirtualPath::new(format!("/{name}")).map_err(|e| DocumentError::Template {
        name: name.into(),
        reason: format!("{e:?}"),
    })?;
    Ok(FileId::new(RootedPath::new(VirtualRoot::Project, path)))
}

struct RenderWorld<'a> {
    library: &'a LazyHash<Library>,
    fonts: &'a FontSet,
    templates: &'a Templates,
    main: Source,
    data: Bytes,
}

impl RenderWorld<'_> {
    fn name_of(id: FileId) -> FileResult<String> {
        let rooted = id.get();
        if !matches!(rooted.root(), VirtualRoot::Project) {
            return Err(FileError::AccessDenied);
        }
        Ok(rooted.vpath().get_without_slash().to_owned())
    }
}

impl World for RenderWorld<'_> {
    fn library(&self) -> &LazyHash<Library> {
        self.library
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &self.fonts.book
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            return Ok(self.main.clone());
        }
        let bytes = self.file(id)?;
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| FileError::InvalidUtf8)?;
        Ok(Source::new(id, text))
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        let name = Self::name_of(id)?;
        if name == "data.json" {
            return Ok(self.data.clone());
        }
        self.templates
            .read(&name)
            .map(Bytes::new)
            .map_err(|_| FileError::NotFound(name.into()))
    }

    fn font(&self, index: usize) -> Option<Font> {
        self.fonts.fonts.get(index).cloned()
    }

    /// Documents print the dates they are given; the clock is not theirs to read.
    fn today(&self, _offset: Option<Duration>) -> Option<Datetime> {
        None
    }
}
