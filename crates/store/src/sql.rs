//! SQL text helpers. `QueryBuilder<Any>` emits `?`, which PostgreSQL refuses, so placeholders
//! are generated here — per backend, because SQLite resolves each *named* parameter (`$7`) by a
//! linear scan: a 3,000-parameter `INSERT` with `$n` names costs quadratic time there, while
//! anonymous `?` binds in constant time. Statements therefore take their placeholders in
//! textual order from one [`Params`], and bind values in that same order.

use crate::Backend;

/// Hands out placeholders in textual order: `$1, $2, …` on PostgreSQL, `?` on SQLite.
#[derive(Debug)]
pub struct Params {
    backend: Backend,
    issued: usize,
}

impl Params {
    pub fn new(backend: Backend) -> Self {
        Self { backend, issued: 0 }
    }

    pub fn next(&mut self) -> String {
        self.issued += 1;
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${}", self.issued),
        }
    }

    /// `p, p, …` for an `IN (…)` list.
    pub fn list(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| self.next())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `(p, …), (p, …)` for a multi-row `VALUES`.
    pub fn groups(&mut self, rows: usize, cols: usize) -> String {
        (0..rows)
            .map(|_| format!("({})", self.list(cols)))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The smallest string greater than every string starting with `prefix`, for index-friendly
/// prefix ranges (`col >= prefix AND col < upper`). `None` means "no upper bound".
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = char::from_u32(last as u32 + 1) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A value to bind, for statements that go either through sqlx or straight to the SQLite file
/// (`bulk_load.rs`): the row is built once and bound by whichever runs it.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Blob(Option<Vec<u8>>),
}

impl Value {
    pub(crate) fn text(s: impl Into<String>) -> Self {
        Self::Text(Some(s.into()))
    }

    pub(crate) fn int(n: i64) -> Self {
        Self::Int(Some(n))
    }

    /// Binds to a sqlx query, in order.
    pub(crate) fn bind_to<'q>(
        self,
        q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        match self {
            Self::Text(v) => q.bind(v),
            Self::Int(v) => q.bind(v),
            Self::Blob(v) => q.bind(v),
        }
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(match self {
            Self::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Self::Int(Some(n)) => ToSqlOutput::Borrowed(ValueRef::Integer(*n)),
            Self::Blob(Some(b)) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
            Self::Text(None) | Self::Int(None) | Self::Blob(None) => {
                ToSqlOutput::Borrowed(ValueRef::Null)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        let mut pg = Params::new(Backend::Postgres);
        assert_eq!(pg.next(), "$1");
        assert_eq!(pg.groups(2, 2), "($2,$3),($4,$5)");
        assert_eq!(pg.list(2), "$6,$7");
        let mut lite = Params::new(Backend::Sqlite);
        assert_eq!(lite.groups(1, 3), "(?,?,?)");
        assert_eq!(prefix_upper_bound("サト").as_deref(), Some("サド"));
    }
}
