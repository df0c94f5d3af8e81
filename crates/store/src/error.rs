use sesshu_domain::MunicipalityCode;

/// Storage failures. Database messages are kept as the source for logs; what a user sees is the
/// Japanese summary, because PostgreSQL's own text is not for their eyes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("データベースの URL は sqlite: か postgres: で始めてください")]
    UnsupportedUrl,
    #[error("{}", Fault::of_sqlx(.0).summary("データベースに接続できません"))]
    Connect(#[source] sqlx::Error),
    #[error("データベースの更新 (マイグレーション) に失敗しました")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{}", Fault::of_sqlx(.0).summary("データベースの操作に失敗しました"))]
    Database(#[source] sqlx::Error),
    /// The SQLite file through rusqlite (bulk reads, the audit log's own file).
    #[error("{}", Fault::of_sqlite(.0).summary("データベースの操作に失敗しました"))]
    SqliteFile(#[source] rusqlite::Error),
    #[error("団体 {0} は登録されていません (sesshu init で作成してください)")]
    UnknownMunicipality(MunicipalityCode),
    #[error("団体 {0} は既に登録されています")]
    MunicipalityExists(MunicipalityCode),
    #[error("保存されている値が不正です: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Crypto(#[from] sesshu_crypto::CryptoError),
    #[error(transparent)]
    KeyFile(#[from] sesshu_crypto::KeyFileError),
    #[error("取込処理が中断しました: {0}")]
    Interrupted(String),
    #[error("{0} が見つかりません")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("バックアップ: {0}")]
    Backup(String),
    #[error(
        "監査ログのファイル {0} に操作ログがありません: データベースと同じ時点のバックアップから一緒に復元してください"
    )]
    AuditFileMissing(String),
    /// Opening (not creating) a register that is not there.
    #[error(
        "登録簿 {0} がありません: 新しく作るときは sesshu init で作成してください (パスを確かめてください)"
    )]
    NoRegister(String),
    #[error(transparent)]
    Anchor(#[from] crate::AnchorError),
    /// Too many password checks at once (`hashing.rs`): try again in a moment.
    #[error("混み合っています。少し待ってからやり直してください")]
    Busy,
    /// The detail (a database message) is for the log, not for users; the operation it
    /// belonged to did not happen.
    #[error("監査ログに記録できないため、操作を行いませんでした: {}", .0.summary("時間をおいてやり直してください"))]
    AuditAppend(Fault, String),
}

/// What a storage failure means to whoever must act on it: the register is out of disk, its
/// file is damaged, the database cannot be reached, or something else (logged in full).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    DiskFull,
    /// SQLite could not read or write its files (no space for a log, or a failing disk).
    DiskIo,
    Damaged,
    Unreachable,
    Other,
}

impl Fault {
    /// From a database error: SQLite's result codes, PostgreSQL's SQLSTATE, or the connection.
    pub fn of_sqlx(e: &sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                // SQLite gives its (extended) result code as digits; the low byte is the
                // primary code.
                if let Ok(n) = code.parse::<i32>() {
                    return Self::of_sqlite_code(n & 0xff);
                }
                match code.as_str() {
                    "53100" => Self::DiskFull,
                    "XX001" | "XX002" => Self::Damaged,
                    c if c.starts_with("08") || c.starts_with("57P") => Self::Unreachable,
                    _ => Self::Other,
                }
            }
            sqlx::Error::Io(io) if io.raw_os_error() == Some(28) => Self::DiskFull,
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => Self::Unreachable,
            _ => Self::Other,
        }
    }

    pub fn of_sqlite(e: &rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::SqliteFailure(f, _) => Self::of_sqlite_code(f.extended_code & 0xff),
            _ => Self::Other,
        }
    }

    fn of_sqlite_code(primary: i32) -> Self {
        match primary {
            13 => Self::DiskFull,     // SQLITE_FULL
            10 => Self::DiskIo,       // SQLITE_IOERR
            11 | 26 => Self::Damaged, // SQLITE_CORRUPT, SQLITE_NOTADB
            14 => Self::Unreachable,  // SQLITE_CANTOPEN
            _ => Self::Other,
        }
    }

    /// What to tell the person in front of it; `otherwise` when it is none of the known faults.
    pub fn summary(self, otherwise: &'static str) -> &'static str {
        match self {
            Self::DiskFull => {
                "ディスクの空きがありません。この操作は保存されていません: 空きを作ってからやり直してください"
            }
            Self::DiskIo => {
                "ディスクの読み書きに失敗しました (空きがないか、ディスクの故障です)。この操作は保存されていません: 空き容量とディスクを確かめてからやり直してください"
            }
            Self::Damaged => {
                "データベースのファイルが壊れています: 使用を止め、バックアップからの復元を検討してください (sesshu audit verify で確認できます)"
            }
            Self::Unreachable => "データベースに接続できません: しばらくしてからやり直してください",
            Self::Other => otherwise,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e)
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::SqliteFile(e)
    }
}

impl StoreError {
    /// The kind of storage failure, when it is one.
    pub fn fault(&self) -> Option<Fault> {
        match self {
            Self::Database(e) | Self::Connect(e) => Some(Fault::of_sqlx(e)),
            Self::SqliteFile(e) => Some(Fault::of_sqlite(e)),
            Self::AuditAppend(f, _) => Some(*f),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fault;

    #[test]
    fn sqlite_result_codes_name_the_fault() {
        // Extended codes carry the primary one in their low byte (4874 is SQLITE_IOERR_SHMSIZE).
        for (code, fault) in [
            (13, Fault::DiskFull),
            (4874 & 0xff, Fault::DiskIo),
            (11, Fault::Damaged),
            (26, Fault::Damaged),
            (14, Fault::Unreachable),
            (5, Fault::Other),
        ] {
            assert_eq!(Fault::of_sqlite_code(code), fault, "{code}");
        }
    }
}
