//! Descriptors inherited from whatever started the command.
//!
//! A process that spawns without close-on-exec on everything hands its descriptors down: JRuby's
//! `IO.popen` (Logstash's `pipe` input) passes every JVM descriptor that is not close-on-exec,
//! a listening socket included. A collector that kept them would hold them for its whole life,
//! and an orphaned one (see stdout::watch_parent) could keep a restarted Logstash from binding
//! its port. So the command closes every descriptor above 2 first thing, before any thread
//! exists, except those its arguments or SLACK_AUDIT_* variables name (`--config /dev/fd/63`
//! from a shell's `<(...)`, a `token_file` of /proc/self/fd/N). Nothing else is inherited on
//! purpose: the CLI takes no socket activation (LISTEN_FDS) and no descriptor option, and the
//! metrics socket is opened later by the collector itself.

use std::sync::atomic::{AtomicIsize, Ordering};

/// How many descriptors [`close_inherited`] closed; -1 before it ran or when unknown.
static CLOSED: AtomicIsize = AtomicIsize::new(-1);

/// What [`close_inherited`] did, for a debug log line.
pub fn report() -> String {
    match CLOSED.load(Ordering::SeqCst) {
        n if n >= 0 => format!("closed {n} inherited descriptor(s) above 2 at start"),
        _ => "closed the inherited descriptors above 2 at start (how many is unknown: /proc/self/fd is unreadable)"
            .to_string(),
    }
}

/// Closes every descriptor above 2 except those the arguments and environment name. Call it
/// before any thread starts (a thread could be opening a descriptor at the same time).
pub fn close_inherited() {
    let mut keep =
        named_fds(std::env::args_os().skip(1).chain(
            std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("SLACK_AUDIT_")).map(|(_, v)| v),
        ));
    keep.retain(|&fd| fd > 2);
    keep.sort_unstable();
    keep.dedup();
    let open = open_fds();
    // close_range(2) closes each gap between the kept descriptors in one call (Linux 5.9+);
    // without it, each descriptor /proc listed (or, without /proc, every possible one) is
    // closed by itself.
    let mut lo: u32 = 3;
    let mut fallback = false;
    for hi in keep.iter().map(|&k| k as u32 - 1).chain(std::iter::once(u32::MAX)) {
        if lo <= hi {
            // SAFETY: close_range only closes descriptors; no thread exists yet that could use
            // them, and nothing in this process opened them.
            let r = unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0 as libc::c_uint) };
            if r != 0 {
                fallback = true;
                break;
            }
        }
        lo = hi.saturating_add(2);
    }
    if fallback {
        let candidates: Vec<i32> = match &open {
            Some(fds) => fds.clone(),
            // SAFETY: sysconf has no memory arguments.
            None => (3..unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(3, 1 << 16) as i32).collect(),
        };
        for fd in candidates.into_iter().filter(|fd| !keep.contains(fd)) {
            // SAFETY: closes a descriptor nothing in this process uses (see above).
            unsafe { libc::close(fd) };
        }
    }
    let count = open.map_or(-1, |fds| fds.iter().filter(|fd| !keep.contains(fd)).count() as isize);
    CLOSED.store(count, Ordering::SeqCst);
}

/// The open descriptors above 2, from /proc/self/fd (the listing's own descriptor is left out:
/// it is closed once the listing is read).
fn open_fds() -> Option<Vec<i32>> {
    let listed: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    // SAFETY: F_GETFD only asks whether the descriptor is open.
    Some(listed.into_iter().filter(|&fd| fd > 2 && unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0).collect())
}

/// Descriptor numbers named in `values` as /dev/fd/N, /proc/self/fd/N or /proc/<this pid>/fd/N,
/// anywhere in a value (`--config=/dev/fd/63`). A descriptor named only inside a `--config`
/// file is not seen (that file is read later): name it on the command line or in a variable.
fn named_fds(values: impl Iterator<Item = std::ffi::OsString>) -> Vec<i32> {
    let own = format!("/proc/{}/fd/", std::process::id());
    let mut out = Vec::new();
    for v in values {
        let v = v.to_string_lossy();
        for prefix in ["/dev/fd/", "/proc/self/fd/", own.as_str()] {
            for (i, _) in v.match_indices(prefix) {
                let digits: String = v[i + prefix.len()..].chars().take_while(char::is_ascii_digit).collect();
                if let Ok(fd) = digits.parse() {
                    out.push(fd);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_named_in_arguments_are_found() {
        let v = |s: &str| std::ffi::OsString::from(s);
        let own = format!("/proc/{}/fd/7", std::process::id());
        let got = named_fds(
            [v("--config=/dev/fd/63"), v("/proc/self/fd/5"), v(&own), v("/proc/1/fd/9"), v("/dev/fd/"), v("run")]
                .into_iter(),
        );
        assert_eq!(got, vec![63, 5, 7]);
    }
}
