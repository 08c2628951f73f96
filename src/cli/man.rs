//! `slack-audit man --out DIR`: one roff man page per command (slack-audit.1,
//! slack-audit-run.1, slack-audit-state-show.1, …), rendered from the same clap definitions as
//! `--help` so the two never disagree. `make deb` ships them.

use clap::Command;
use std::path::Path;

pub fn write_pages(cmd: &Command, dir: &Path) -> std::io::Result<Vec<String>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    page(cmd.clone(), None, dir, &mut written)?;
    Ok(written)
}

/// `parent`: the parent's page name (`slack-audit-state`) and command as typed (`slack-audit state`).
fn page(mut cmd: Command, parent: Option<(&str, &str)>, dir: &Path, written: &mut Vec<String>) -> std::io::Result<()> {
    let (name, typed) = match parent {
        Some((p, t)) => (format!("{p}-{}", cmd.get_name()), format!("{t} {}", cmd.get_name())),
        None => (cmd.get_name().to_string(), cmd.get_name().to_string()),
    };
    let subs: Vec<Command> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned().collect();
    // The page is titled slack-audit-run (clap_mangen uses the command's name); its synopsis
    // shows the command as typed, `slack-audit run`.
    let title: &'static str = Box::leak(name.clone().into_boxed_str());
    let shown: &'static str = Box::leak(typed.clone().into_boxed_str());
    cmd = cmd.name(title).display_name(title).bin_name(shown);
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out)?;
    let file = format!("{name}.1");
    std::fs::write(dir.join(&file), out)?;
    written.push(file);
    for sub in subs {
        if sub.get_name() != "help" {
            page(sub, Some((&name, &typed)), dir, written)?;
        }
    }
    Ok(())
}
