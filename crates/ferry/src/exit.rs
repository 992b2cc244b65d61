//! Exit codes, decided once in `main`.

/// The command was stopped by the user (Ctrl-C) after cleaning up; exit code 130.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

pub const SUCCESS: u8 = 0;
pub const FAILURE: u8 = 1;
/// `ferry scrub` ran to the end and found damaged data.
pub const DAMAGED: u8 = 3;
pub const INTERRUPTED: u8 = 130;
