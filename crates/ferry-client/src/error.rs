/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an S3 error.
    #[error("{code} (HTTP {status}): {message}")]
    Service { status: u16, code: String, message: String },
    /// The connection failed or was cut.
    #[error("network error: {0}")]
    Transport(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server's answer could not be understood or does not match what was sent.
    #[error("unexpected response: {0}")]
    Protocol(String),
    #[error("{0}")]
    Invalid(String),
    #[error("cancelled")]
    Cancelled,
}

impl ClientError {
    /// Worth retrying: network failures, throttling and server errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport(_) => true,
            ClientError::Service { status, code, .. } => {
                *status >= 500 || code == "SlowDown" || code == "OperationAborted" || code == "RequestTimeout"
            }
            ClientError::Protocol(_) => true,
            _ => false,
        }
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;
