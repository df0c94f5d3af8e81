//! Japanese documents as PDF: 勧奨通知 (notices), 接種券 (tickets), pre-filled 予診票 (screening
//! forms) and 予防接種済証 / 予防接種証明書 (certificates).
//!
//! typst runs as a library over the city's template files ([`Templates`]: the shipped ones,
//! each replaceable by a file of the same name in the city's directory, so wording changes need
//! no rebuild). Everything a template prints arrives preformatted in `/data.json` ([`model`]):
//! the templates decide layout and wording, never date arithmetic or who is addressed. Fonts
//! come from the machine (Debian's `fonts-ipaexfont`), are embedded in every PDF, and every
//! string is checked against them first so that a missing glyph is an error, not a box.
//!
//! Nothing here reads the register; callers hand over finished records. No record type has a
//! field for the My Number, so no document can carry one.

mod error;
mod fonts;
pub mod model;
pub mod qr;
mod templates;
mod world;

pub use error::DocumentError;
pub use fonts::{DEFAULT_FONT_DIRS, FontSet};
pub use templates::{DocumentKind, Templates};
pub use world::{Rendered, Typesetter};
