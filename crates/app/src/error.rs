//! What an operation can answer besides its result. Each adapter maps these once: the web to
//! 400/403/404/500 pages and JSON, the command line to its exit codes.

use sesshu_domain::access::Permission;
use sesshu_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The request itself is wrong (a field, a state that does not allow it): said to the user.
    #[error("{0}")]
    Invalid(String),
    /// One field of the request is wrong: shown next to it (the key is the form's field name).
    #[error("{1}")]
    Field(&'static str, String),
    /// Several fields are wrong at once: each shown next to its own.
    #[error("{}", .0.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("、"))]
    Fields(Vec<(&'static str, String)>),
    #[error("権限がありません: {}", .0.label())]
    Forbidden(Permission),
    /// Not there — or in another municipality, which is the same to the actor.
    #[error("見つかりません: {0}")]
    NotFound(String),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Documents(#[from] sesshu_documents::DocumentError),
    #[error(transparent)]
    Crypto(#[from] sesshu_crypto::CryptoError),
    #[error(transparent)]
    KeyFile(#[from] sesshu_crypto::KeyFileError),
    #[error(transparent)]
    Certificate(#[from] sesshu_crypto::certificate::TokenError),
    #[error("証明書の署名鍵がありません: `sesshu keys certificate-init` で作成してください")]
    NoCertificateKey,
    #[error("ファイル {path} を扱えません: {source}")]
    File {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ファイルを書けません: {0}")]
    Csv(#[from] csv::Error),
    /// A file with bad rows, each with its line and reason: nothing of it was applied.
    #[error("{} 件の誤りがあります。何も登録していません: {}", .0.len(), .0.iter().take(3).map(ToString::to_string).collect::<Vec<_>>().join(" / "))]
    Rows(Vec<sesshu_formats::RowError>),
    #[error("内部エラー: {0}")]
    Internal(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            // The store's refusals are the user's to read; its failures are not.
            StoreError::Invalid(m) => AppError::Invalid(m),
            StoreError::NotFound(m) => AppError::NotFound(m),
            other => AppError::Store(other),
        }
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::Internal(e.to_string())
    }
}

impl AppError {
    pub(crate) fn file(path: &std::path::Path, source: std::io::Error) -> Self {
        AppError::File {
            path: path.display().to_string(),
            source,
        }
    }

    /// Whether the user can fix it by asking differently (a 4xx rather than a 5xx).
    pub fn is_users(&self) -> bool {
        matches!(
            self,
            AppError::Invalid(_)
                | AppError::Field(..)
                | AppError::Fields(_)
                | AppError::Forbidden(_)
                | AppError::NotFound(_)
                | AppError::NoCertificateKey
        )
    }
}
