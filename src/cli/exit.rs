//! Exit codes: the one mapping of error kinds to them ([`code`]), and what each code means
//! ([`MEANINGS`]), from which `--help` is written; the README's list is checked against it.

use super::ui::Ui;
use slack_audit::error::{Error, ErrorKind};
use slack_audit::logs::Level;

/// Success, and a stop on request (SIGTERM/SIGINT, stdout's reader gone).
pub const OK: i32 = 0;

/// The exit code of each kind. Exhaustive: a new kind does not compile until it has one.
pub fn code(kind: ErrorKind) -> i32 {
    match kind {
        // Stopped on request after finishing the hand-over: a clean end.
        ErrorKind::Stopped => OK,
        ErrorKind::Config => 2,
        // TooManyPending and NotPending cannot happen in `run`, which acknowledges each batch
        // before it collects the next; should they, the checkpoint cannot move: as a state
        // problem.
        ErrorKind::State | ErrorKind::TooManyPending | ErrorKind::NotPending => 3,
        ErrorKind::Refused => 4,
        ErrorKind::Output => 5,
        // EX_TEMPFAIL: a later run may succeed.
        ErrorKind::Transient => 75,
    }
}

/// What each exit code means, as `--help` lists them.
pub const MEANINGS: &[(i32, &str)] = &[
    (OK, "success"),
    (2, "bad usage, configuration or missing token"),
    (3, "state directory problem"),
    (4, "Slack refused (token, scope, plan, arguments)"),
    (5, "output error"),
    (75, "Slack or the network kept failing (try again later)"),
];

/// The "Exit codes: …" paragraph of `--help`, from [`MEANINGS`], wrapped at 100 columns
/// between codes (a code stays on the line of its meaning).
pub fn help() -> String {
    let last = MEANINGS.len() - 1;
    let mut out = String::from("Exit codes:");
    let mut line = out.len();
    for (i, (c, m)) in MEANINGS.iter().enumerate() {
        let item = format!("{c} {m}{}", if i == last { "." } else { ";" });
        if line + 1 + item.len() > 100 {
            out.push('\n');
            line = 0;
        } else {
            out.push(' ');
            line += 1;
        }
        out.push_str(&item);
        line += item.len();
    }
    out
}

/// Logs `e` as an error and returns its exit code.
pub fn report(ui: &mut Ui, e: &Error) -> i32 {
    ui.log(Level::Error, e.message());
    code(e.kind())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table, kind by kind. The match is exhaustive, so a new kind fails to compile here
    /// until its code is pinned too; and every code has a meaning in `--help`.
    #[test]
    fn every_kind_has_its_exit_code() {
        for &kind in ErrorKind::ALL {
            let want = match kind {
                ErrorKind::Stopped => 0,
                ErrorKind::Config => 2,
                ErrorKind::State => 3,
                ErrorKind::TooManyPending => 3,
                ErrorKind::NotPending => 3,
                ErrorKind::Refused => 4,
                ErrorKind::Output => 5,
                ErrorKind::Transient => 75,
            };
            assert_eq!(code(kind), want, "{kind:?}");
            assert!(MEANINGS.iter().any(|(c, _)| *c == want), "{kind:?}: code {want} has no meaning in --help");
        }
        for (c, m) in MEANINGS {
            assert!(*c == OK || ErrorKind::ALL.iter().any(|k| code(*k) == *c), "{c} ({m}) is no kind's code");
        }
    }

    /// `--help` lists every code with its meaning, in lines of at most 100 columns.
    #[test]
    fn help_lists_every_code() {
        let h = help();
        assert!(h.lines().all(|l| l.len() <= 100), "{h}");
        let flat = h.replace('\n', " ");
        assert!(flat.starts_with("Exit codes: 0 success; 2 bad usage"), "{flat}");
        for (c, m) in MEANINGS {
            assert!(h.lines().any(|l| l.contains(&format!("{c} {m}"))), "{c} {m} is not on one line: {h}");
        }
        assert!(flat.ends_with("(try again later)."), "{flat}");
    }

    /// The README's "Exit codes" paragraph names exactly the codes of the table.
    #[test]
    fn the_readme_lists_the_same_codes() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let start = readme.find("**Exit codes**").expect("README has an **Exit codes** paragraph");
        let para = readme[start..].split("\n\n").next().unwrap_or_default();
        let mut listed: Vec<i32> = para.split('`').skip(1).step_by(2).filter_map(|s| s.parse().ok()).collect();
        listed.sort();
        let mut table: Vec<i32> = MEANINGS.iter().map(|(c, _)| *c).collect();
        table.sort();
        assert_eq!(listed, table, "README's exit codes: {para}");
    }
}
