//! The error-table shape every front-end follows (tusd's `error.go` is the model): each error a
//! dialect returns is one named row of its table, with its HTTP status and the dialect's code
//! (S3/OSS/ODPS code names, US3 `RetCode`s), and the conversions from the engine's errors (and
//! the kit's own: [`crate::xml::XmlError`], [`crate::BodyHeaderError`]) are exhaustive matches in
//! the same table. A new engine error variant therefore does not compile until every dialect
//! says how it answers it.
//!
//! The wire format (XML, JSON) stays with each dialect; this module only fixes the shape.

use http::StatusCode;

/// A dialect's error value, as its table builds it.
pub trait WireError: Sized {
    /// What the dialect puts on the wire beside the status: a code name (`"NoSuchKey"`), or a
    /// number (US3's `RetCode`).
    type Code;

    /// The error with this status, code and message.
    fn from_row(status: StatusCode, code: Self::Code, message: String) -> Self;

    /// The HTTP status the error is answered with. [`error_table!`] logs the engine's message of
    /// every error it maps to 500, since the client is told only "internal error".
    fn status(&self) -> StatusCode;
}

/// Declares a dialect's error table: one constructor per row (`fn name(message) -> Self`, with
/// the row's status and code) and `From` conversions whose arms name those rows. The type must
/// implement [`WireError`].
///
/// ```text
/// ferry_http::error_table! {
///     S3Error;
///     codes {
///         no_such_key => NOT_FOUND, "NoSuchKey";
///         internal_error => INTERNAL_SERVER_ERROR, "InternalError";
///     }
///     from ferry_core::Error as (e, message) {
///         Error::NoSuchKey => no_such_key("The specified key does not exist."),
///         Error::Meta(_) | Error::Blob(_) => internal_error("Please try again."),
///         // ... every other variant: no wildcard arm, so a new variant fails to compile.
///     }
/// }
/// ```
///
/// In a `from` block, `e` names the value converted and `message` its `Display` text; each arm
/// is `pattern => row(arguments)`. Arms must not use a wildcard (`_`) for the whole value: the
/// point of the table is that the compiler asks for a row when a variant is added
/// ([`check_no_wildcard_arms`] is the test that says so).
#[macro_export]
macro_rules! error_table {
    (
        $name:ident;
        codes {
            $( $(#[$doc:meta])* $ctor:ident => $status:ident, $code:expr; )*
        }
        $(
            from $source:ty as ($e:ident, $message:ident) {
                $( $pat:pat => $to:ident ( $($arg:expr),* $(,)? ) ),+ $(,)?
            }
        )*
    ) => {
        impl $name {
            $(
                $(#[$doc])*
                #[allow(dead_code)]
                pub fn $ctor(message: impl Into<String>) -> Self {
                    <Self as $crate::errors::WireError>::from_row(
                        $crate::errors::__support::StatusCode::$status,
                        $code,
                        message.into(),
                    )
                }
            )*
        }

        $(
            impl From<$source> for $name {
                fn from($e: $source) -> Self {
                    let text = ::std::string::ToString::to_string(&$e);
                    let mapped = {
                        #[allow(unused_variables)]
                        let $message = text.clone();
                        match $e {
                            $( $pat => $name::$to($($arg),*), )+
                        }
                    };
                    if $crate::errors::WireError::status(&mapped)
                        == $crate::errors::__support::StatusCode::INTERNAL_SERVER_ERROR
                    {
                        $crate::errors::__support::tracing::error!(error = %text, "internal error");
                    }
                    mapped
                }
            }
        )*
    };
}

/// Checks that a dialect's error-table source (its `error.rs`, read with `include_str!`) has no
/// wildcard arm (`_ =>`), which would let a new engine error compile without a row. Each dialect
/// calls this from a unit test; the error names the offending line.
pub fn check_no_wildcard_arms(source: &str) -> Result<(), String> {
    match source.lines().enumerate().find(|(_, line)| {
        let line = line.trim_start().trim_start_matches('|').trim_start();
        line.starts_with("_ =>") || line.starts_with("_ |") || line.contains("| _ =>")
    }) {
        Some((n, line)) => Err(format!("line {}: a wildcard arm in an error table: {}", n + 1, line.trim())),
        None => Ok(()),
    }
}

/// What [`error_table!`] expands to refers to; not for direct use.
#[doc(hidden)]
pub mod __support {
    pub use http::StatusCode;
    pub use tracing;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    struct TestError {
        status: StatusCode,
        code: &'static str,
        message: String,
    }

    impl WireError for TestError {
        type Code = &'static str;
        fn from_row(status: StatusCode, code: &'static str, message: String) -> Self {
            TestError { status, code, message }
        }
        fn status(&self) -> StatusCode {
            self.status
        }
    }

    #[derive(Debug)]
    enum Source {
        Missing(String),
        Broken,
    }

    impl std::fmt::Display for Source {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                Source::Missing(what) => write!(f, "{what} is missing"),
                Source::Broken => f.write_str("broken"),
            }
        }
    }

    crate::error_table! {
        TestError;
        codes {
            no_such_thing => NOT_FOUND, "NoSuchThing";
            internal => INTERNAL_SERVER_ERROR, "Internal";
        }
        from Source as (e, message) {
            Source::Missing(_) => no_such_thing(format!("gone: {message}")),
            Source::Broken => internal("retry"),
        }
    }

    #[test]
    fn rows_carry_status_code_and_message() {
        let e = TestError::no_such_thing("x");
        assert_eq!((e.status, e.code, e.message.as_str()), (StatusCode::NOT_FOUND, "NoSuchThing", "x"));
    }

    #[test]
    fn wildcard_arms_are_found() {
        assert!(check_no_wildcard_arms("    Error::A => a(message),\n    Error::B(_) => b(message),").is_ok());
        assert!(check_no_wildcard_arms("    Error::A => a(message),\n        _ => b(message),").is_err());
        assert!(check_no_wildcard_arms("    Error::A\n    | _ => b(message),").is_err());
    }

    #[test]
    fn conversions_use_the_rows() {
        let e = TestError::from(Source::Missing("key".into()));
        assert_eq!(e, TestError::no_such_thing("gone: key is missing"));
        assert_eq!(TestError::from(Source::Broken).status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
