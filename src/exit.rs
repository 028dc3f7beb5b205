//! Exit codes (DESIGN §2) and the typed error that selects "bad usage".

use std::process::ExitCode;

/// Success.
pub const SUCCESS: u8 = 0;
/// A FAIL or ERROR (analyze, compare with regressions), or a configuration
/// that could not run (run).
pub const FAILURE: u8 = 1;
/// Bad usage or input: a clear message, nothing written.
pub const USAGE: u8 = 2;
/// An output could not be written (JUnit, Markdown, charts, the page): the
/// verdict itself is not the problem.
pub const OUTPUT: u8 = 3;
/// Interrupted by Ctrl-C.
pub const INTERRUPTED: u8 = 130;

/// Bad usage or input. Anything wrapping this in its chain exits with
/// [`USAGE`]. A typed error from a stage keeps its type and its source chain
/// inside ([`UsageError::Input`]); only the exit code is decided here.
#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    /// A message of the command line's own.
    #[error("{0}")]
    Message(String),
    /// A stage's error about its input (an unreadable results folder, an
    /// unknown feature): shown as it is, with its causes.
    #[error(transparent)]
    Input(Box<dyn std::error::Error + Send + Sync + 'static>),
}

impl UsageError {
    pub fn new(msg: impl Into<String>) -> UsageError {
        UsageError::Message(msg.into())
    }
}

/// A usage error as an `anyhow::Error`.
pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError::new(msg))
}

/// A stage's typed error, marked as bad input (exit [`USAGE`]) without
/// flattening it to a string.
pub fn bad_input<E>(err: E) -> anyhow::Error
where
    E: std::error::Error + Send + Sync + 'static,
{
    anyhow::Error::new(UsageError::Input(Box::new(err)))
}

/// Marks an error as an output that could not be written ([`OUTPUT`]).
#[derive(Debug, Clone, Copy)]
pub struct OutputFailed;

impl std::fmt::Display for OutputFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an output could not be written")
    }
}

/// `err` as an output failure (exit [`OUTPUT`]), its causes kept.
pub fn output_failed(err: anyhow::Error) -> anyhow::Error {
    err.context(OutputFailed)
}

/// The exit code for an error: [`USAGE`] for usage errors and registry
/// problems, [`OUTPUT`] for an output that could not be written,
/// [`FAILURE`] for everything else.
pub fn code_for(err: &anyhow::Error) -> ExitCode {
    let usage = err
        .chain()
        .any(|e| e.is::<UsageError>() || e.is::<crate::registry::RegistryError>());
    if usage {
        return ExitCode::from(USAGE);
    }
    if err.downcast_ref::<OutputFailed>().is_some() {
        return ExitCode::from(OUTPUT);
    }
    ExitCode::from(FAILURE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn typed_input_errors_keep_their_text_and_causes() {
        let err = bad_input(Outer(std::io::Error::other("inner")));
        assert_eq!(format!("{err:#}"), "outer: inner");
        assert_eq!(code_for(&err), ExitCode::from(USAGE));
        assert_eq!(code_for(&anyhow::anyhow!("x")), ExitCode::from(FAILURE));
    }
}
