//! `bearer-guard`: explains an OAuth 2.0 access token, and checks it the way
//! a resource server protected by the `bearer-guard` crate would, through
//! the crate's public API only.
//!
//! ```text
//! bearer-guard inspect TOKEN
//!     Decodes a JWT's header and claims WITHOUT verifying them, shows its
//!     times in human form and what a resource server will check. An opaque
//!     token is recognised as such (it needs RFC 7662 introspection).
//!
//! bearer-guard verify --issuer URL --audience AUD [--audience AUD ...]
//!                     (--jwks-url URL | --jwks-file FILE | --discover | ...)
//!                     [--allow-http] [--algorithm ALG ...] [--leeway SECONDS]
//!                     [--rfc9068] TOKEN
//!     Validates the token with the real `Validator` and prints every check
//!     of its report with its verdict (ok, FAIL, not reached).
//! ```
//!
//! One module per command (`inspect`, `verify`); `input` reads the token,
//! `output` escapes everything printed, `when` shows times.
//!
//! Exit status: 0 the token was decoded (`inspect`) or is valid (`verify`);
//! 1 `verify` refused the token; 2 a usage error, input that is not a token
//! (`inspect`), or keys that could not be loaded (`verify`).

// As in the library: untrusted input never panics.
#![cfg_attr(
    not(test),
    deny(
        clippy::string_slice,
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented,
        clippy::arithmetic_side_effects,
    )
)]

mod input;
mod inspect;
mod output;
mod verify;
mod when;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use crate::output::{Out, usage_error};

/// Explain and check OAuth 2.0 JWT access tokens (RFC 9068).
#[derive(Debug, Parser)]
#[command(
    name = "bearer-guard",
    version,
    override_usage = USAGE,
    help_template = HELP_TEMPLATE,
    after_help = AFTER_HELP,
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // One value per run.
enum Command {
    Inspect(inspect::Args),
    /// Validate the token as a resource server would, and print every check
    /// with its verdict (ok, FAIL, not reached).
    Verify(verify::Args),
    /// Print the version (as --version).
    #[command(hide = true)]
    Version,
}

const HELP_TEMPLATE: &str = "\
{name}: {about}

USAGE:
    {usage}

COMMANDS:
{subcommands}

OPTIONS:
{options}{after-help}
";

const USAGE: &str = "\
bearer-guard inspect TOKEN
    bearer-guard verify --issuer URL --audience AUD [--audience AUD ...]
                        (--jwks-url URL | --jwks-file FILE | --discover |
                         --key-file FILE | --hmac-secret-file FILE |
                         --hmac-secret-env VAR) [--kid KID]
                        [--allow-http] [--algorithm ALG ...] [--leeway SECONDS]
                        [--rfc9068] TOKEN
    bearer-guard help [COMMAND] | --help | -h
    bearer-guard --version | -V";

/// What every command's help ends with: the token argument.
const TOKEN_HELP: &str = "\
TOKEN is the access token, or - to read it from standard input (it then stays
out of your shell history and the process list). A leading \"Bearer \" or
\"DPoP \" (or a whole \"Authorization:\" header line) is removed.

EXIT STATUS:
    0   inspect: the token was decoded; verify: the token is valid
    1   verify: the token is refused (the last line says why)
    2   usage error, input that is not a token, or keys that cannot be loaded";

const AFTER_HELP: &str = TOKEN_HELP;

fn main() -> ExitCode {
    // No command at all: the usage, on standard error.
    if std::env::args_os().len() <= 1 {
        let help = Cli::command().render_help().to_string();
        let mut err = std::io::stderr().lock();
        let _ = std::io::Write::write_all(&mut err, help.as_bytes());
        return ExitCode::from(2);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(&e),
    };
    match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Version => {
            let mut out = Out::default();
            out.line(format_args!("bearer-guard {}", env!("CARGO_PKG_VERSION")));
            out.print();
            ExitCode::SUCCESS
        }
    }
}

/// Help and version on standard output (status 0); any other error of
/// the command line as one line on standard error (status 2).
fn clap_error(e: &clap::Error) -> ExitCode {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        _ => {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            usage_error(first)
        }
    }
}
