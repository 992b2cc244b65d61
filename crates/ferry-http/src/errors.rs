//! The error-table shape every front-end follows (tusd's `error.go` is the model): each error a
//! dialect returns is one named row of its table, with its HTTP status and the dialect's code
//! (S3/OSS/ODPS code names, US3 `RetCode`s), and the conversions from the engine's errors (and
//! the kit's own: [`crate::xml::XmlError`], [`crate::BodyHeaderError`]) are exhaustive matches in
//! the same table. A new engine error variant therefore does not compile until every dialect
//! says how it answers it.
//!
//! The wire format (XML, JSON) stays with each dialect; this module only fixes the shape.
/// Declares a dialect's error type and its table: the struct (`status`, the code field named and
/// typed as given, `message`), one constructor per row (`fn name(message) -> Self`, with the row's
/// status and code) and `From` conversions whose arms name those rows. Every error whose row is
/// `INTERNAL_SERVER_ERROR` has the converted value's text logged, since the client is told only
/// "internal error".
///
/// ```text
/// ferry_http::error_table! {
///     /// An S3 error response.
///     pub struct S3Error { code: &'static str }
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
        $(#[$attr:meta])*
        $vis:vis struct $name:ident { $code_field:ident: $code_ty:ty }
        codes {
            $( $(#[$doc:meta])* $ctor:ident => $status:ident, $code:expr; )*
        }
        $(
            from $source:ty as ($e:ident, $message:ident) {
                $( $pat:pat => $to:ident ( $($arg:expr),* $(,)? ) ),+ $(,)?
            }
        )*
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        $vis struct $name {
            /// The HTTP status of the answer.
            pub status: $crate::errors::__support::StatusCode,
            /// The dialect's code for the error.
            pub $code_field: $code_ty,
            /// What the client is told.
            pub message: String,
        }

        impl $name {
            $(
                $(#[$doc])*
                #[allow(dead_code)]
                pub fn $ctor(message: impl Into<String>) -> Self {
                    $name {
                        status: $crate::errors::__support::StatusCode::$status,
                        $code_field: $code,
                        message: message.into(),
                    }
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
                    if mapped.status == $crate::errors::__support::StatusCode::INTERNAL_SERVER_ERROR {
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
        struct TestError { code: &'static str }
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
        assert_eq!((e.status, e.code, e.message.as_str()), (http::StatusCode::NOT_FOUND, "NoSuchThing", "x"));
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
        assert_eq!(TestError::from(Source::Broken).status, http::StatusCode::INTERNAL_SERVER_ERROR);
    }
}
