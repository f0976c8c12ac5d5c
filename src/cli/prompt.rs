//! Questions asked on a terminal: typed confirmations and passwords. Nothing is asked when
//! stdin is not a terminal; the guard refuses instead.

use super::exit::{CliError, CliResult};
use std::io::{BufRead, IsTerminal, Write};

/// Destructive commands: `--yes`, or the user types `expected` on a terminal.
pub fn confirm(yes: bool, action: &str, expected: &str) -> CliResult<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(CliError::usage(format!(
            "refusing to {action} without --yes (no terminal to confirm on)"
        )));
    }
    let shown = crate::tui::text::sanitize(expected, false);
    eprint!("This will {action}. Type {shown} to confirm: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::io("reading the confirmation", e))?;
    if line.trim_end_matches(['\n', '\r']) == expected {
        Ok(())
    } else {
        Err(CliError::usage(
            "the confirmation did not match; nothing was changed",
        ))
    }
}

/// One line from a terminal, echoed (a username).
pub fn ask(question: &str) -> CliResult<String> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::usage(format!("{question}: no terminal to ask on")));
    }
    eprint!("{question}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::io("reading from the terminal", e))?;
    Ok(line.trim().to_owned())
}
