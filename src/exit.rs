//! Exit codes (DESIGN §2) and the typed error that selects "bad usage".

use std::process::ExitCode;

/// Success.
pub const SUCCESS: u8 = 0;
/// A FAIL or ERROR (analyze, compare with regressions), or a configuration
/// that could not run (run).
pub const FAILURE: u8 = 1;
/// Bad usage or input: a clear message, nothing written.
pub const USAGE: u8 = 2;
/// Interrupted by Ctrl-C.
pub const INTERRUPTED: u8 = 130;

/// Bad usage or input. Anything wrapping this in its chain exits with [`USAGE`].
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A usage error as an `anyhow::Error`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(msg.into()))
}

/// The exit code for an error: [`USAGE`] for usage errors and registry
/// problems, [`FAILURE`] for everything else.
pub fn code_for(err: &anyhow::Error) -> ExitCode {
    let usage = err
        .chain()
        .any(|e| e.is::<UsageError>() || e.is::<crate::registry::RegistryError>());
    ExitCode::from(if usage { USAGE } else { FAILURE })
}
