//! The outside world's files. Readers validate every row and report bad ones by line and
//! column; writers produce exactly the layouts the readers accept.

pub mod dose;
pub mod encoding;
pub mod payment;
pub mod report;
pub mod resident;
pub mod table;
pub mod zengin;

pub use dose::{DoseReadOptions, DoseReader, DoseRecord, DoseSubject, DoseWriter};
pub use encoding::{Encoding, TextEncoding};
pub use report::{ErrorReport, RowError, contains_my_number};
pub use resident::{ReadOptions, ResidentReader, ResidentRecord, ResidentWriter, WriteError};
pub use table::{FileError, TableReader};
