//! One way to read a column by name, whichever driver fetched the row: sqlx's `Any` (both
//! backends) or rusqlite (the SQLite file read directly, `sqlite_file.rs`). Row decoders are
//! written once, generic over [`Columns`], so a read can move between the two paths without a
//! second decoder to keep in step.

use sqlx::Any;
use sqlx::any::AnyRow;

use crate::StoreError;

/// A value both drivers can decode from a column.
pub(crate) trait Column: Sized {
    fn from_any(r: &AnyRow, name: &str) -> Result<Self, StoreError>;
    fn from_sqlite(r: &rusqlite::Row<'_>, at: impl rusqlite::RowIndex) -> Result<Self, StoreError>;
}

impl<T> Column for T
where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any> + rusqlite::types::FromSql,
{
    fn from_any(r: &AnyRow, name: &str) -> Result<Self, StoreError> {
        Ok(sqlx::Row::try_get(r, name)?)
    }

    fn from_sqlite(r: &rusqlite::Row<'_>, at: impl rusqlite::RowIndex) -> Result<Self, StoreError> {
        Ok(r.get(at)?)
    }
}

/// A fetched row whose columns are read by name.
pub(crate) trait Columns {
    fn try_get<T: Column>(&self, name: &str) -> Result<T, StoreError>;
}

impl Columns for AnyRow {
    fn try_get<T: Column>(&self, name: &str) -> Result<T, StoreError> {
        T::from_any(self, name)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn try_get<T: Column>(&self, name: &str) -> Result<T, StoreError> {
        T::from_sqlite(self, name)
    }
}
