//! The `compat` binary: parse, run, map errors to exit codes (see `exit`).

fn main() -> std::process::ExitCode {
    compat::main()
}
