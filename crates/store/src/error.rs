use sesshu_domain::MunicipalityCode;

/// Storage failures. Database messages are kept as the source for logs; what a user sees is the
/// Japanese summary, because PostgreSQL's own text is not for their eyes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("データベースの URL は sqlite: か postgres: で始めてください")]
    UnsupportedUrl,
    #[error("データベースに接続できません")]
    Connect(#[source] sqlx::Error),
    #[error("データベースの更新 (マイグレーション) に失敗しました")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("データベースの操作に失敗しました")]
    Database(#[from] sqlx::Error),
    /// A bulk read of the SQLite file outside sqlx (`sqlite_file.rs`).
    #[error("データベースの読み取りに失敗しました")]
    SqliteFile(#[from] rusqlite::Error),
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
    /// The detail (a database message) is for the log, not for users.
    #[error("監査ログに記録できません")]
    AuditAppend(String),
}
