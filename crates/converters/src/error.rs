//! Why a conversion failed, and whose fault it was.

/// A conversion failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The client's request is malformed or has the wrong shape (400).
    #[error("{0}")]
    BadRequest(String),
    /// The client asked for something the upstream's format cannot do (400/404).
    #[error("{0}")]
    Unsupported(String),
    /// The upstream answered something that is not its format (502).
    #[error("the upstream answered in an unexpected shape: {0}")]
    BadUpstream(String),
}

impl ConvertError {
    /// The HTTP status the client receives.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            ConvertError::BadRequest(_) => 400,
            ConvertError::Unsupported(_) => 404,
            ConvertError::BadUpstream(_) => 502,
        }
    }

    /// The gateway's error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ConvertError::BadRequest(_) => "invalid_request",
            ConvertError::Unsupported(_) => "conversion_not_supported",
            ConvertError::BadUpstream(_) => "bad_upstream_response",
        }
    }
}
