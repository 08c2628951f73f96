//! `slack-audit run` as a pipe producer: NDJSON on stdout, acknowledged after the flush,
//! surviving kill -9, SIGTERM and a closed reader.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn slack_audit(sim: &slack_audit_sim::Sim, state: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_slack-audit"));
    c.arg("run")
        .arg("--api-url")
        .arg(sim.audit_url())
        .arg("--state-dir")
        .arg(state)
        .arg("--lag")
        .arg("0")
        .args(extra)
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn ids_of(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            assert!(
                l.starts_with('{') && l.ends_with('}'),
                "not one JSON object per line: {:?}",
                &l[..l.len().min(200)]
            );
            entry_id(l.as_bytes())
        })
        .collect()
}

type Out = BufReader<std::process::ChildStdout>;

fn stdout_of(child: &mut Child) -> Out {
    BufReader::new(child.stdout.take().unwrap())
}

/// Reads up to `n` lines (or all, until EOF) from the child's stdout.
fn read_lines(r: &mut Out, n: Option<usize>) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    while n.is_none_or(|n| lines.len() < n) {
        line.clear();
        if r.read_line(&mut line).unwrap() == 0 {
            break;
        }
        // A line cut short by kill -9 was never acknowledged: it is not part of the output.
        if !line.ends_with('\n') {
            break;
        }
        lines.push(line.trim_end_matches('\n').to_string());
    }
    lines
}

fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    child.stderr.as_mut().unwrap().read_to_string(&mut s).unwrap();
    s
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let t0 = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            panic!("slack-audit did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `--once` prints every entry once as a line, unchanged, and exits 0.
#[test]
fn once_prints_every_entry_as_one_line_and_exits_zero() {
    let sim = sim(8_000, 2_500, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let mut child = slack_audit(&sim, dir.path(), &["--once", "--limit", "1000"]).spawn().unwrap();
    let lines = read_lines(&mut stdout_of(&mut child), None);
    let status = wait_with_deadline(&mut child, Duration::from_secs(60));
    let err = stderr_of(&mut child);
    assert!(status.success(), "{status:?} {err}");
    assert_eq!(compare(&ids_of(&lines), &sim.dataset()), 0);
    assert!(err.contains("done: 10500 events"), "{err}");
    assert!(!err.contains(TOKEN));
}

/// kill -9 at several points of a backfill, restarting each time: the union is complete and
/// duplicates are at most one unacknowledged batch per kill.
#[test]
fn kill_nine_mid_backfill_loses_nothing() {
    let sim = sim(20_000, 3_000, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let limit = 1000;
    let mut all = Vec::new();
    let kills = [1500, 10, 2999, 4000, 1];
    for k in kills {
        let mut child = slack_audit(&sim, dir.path(), &["--once", "--limit", &limit.to_string()]).spawn().unwrap();
        let mut out = stdout_of(&mut child);
        let mut lines = read_lines(&mut out, Some(k));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // what it wrote before dying is still in the pipe, as it would be for Logstash
        lines.extend(read_lines(&mut out, None));
        all.extend(ids_of(&lines));
    }
    let mut child = slack_audit(&sim, dir.path(), &["--once", "--limit", &limit.to_string()]).spawn().unwrap();
    all.extend(ids_of(&read_lines(&mut stdout_of(&mut child), None)));
    assert!(wait_with_deadline(&mut child, Duration::from_secs(60)).success());
    let dups = compare(&all, &sim.dataset());
    eprintln!("kill -9 x{}: {} duplicates (bound {})", kills.len(), dups, kills.len() * limit);
    assert!(dups <= kills.len() * limit, "{dups} duplicates");
}

/// SIGTERM finishes the current hand-over, commits and exits 0; the next run continues.
#[test]
fn sigterm_commits_and_exits_zero() {
    let sim = sim(10_000, 0, |c| c.slow_ms = 150);
    let dir = tempfile::tempdir().unwrap();
    let mut child = slack_audit(&sim, dir.path(), &["--once", "--limit", "500"]).spawn().unwrap();
    let mut out = stdout_of(&mut child);
    let mut lines = read_lines(&mut out, Some(1200));
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    lines.extend(read_lines(&mut out, None));
    let status = wait_with_deadline(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", stderr_of(&mut child));
    let first = lines.len();
    assert!(first < 10_000, "SIGTERM arrived too late to test anything");
    let mut child = slack_audit(&sim, dir.path(), &["--once", "--limit", "500"]).spawn().unwrap();
    lines.extend(read_lines(&mut stdout_of(&mut child), None));
    assert!(wait_with_deadline(&mut child, Duration::from_secs(60)).success());
    assert_eq!(compare(&ids_of(&lines), &sim.dataset()), 0, "a clean stop must not repeat anything");
}

/// A reader that goes away: clean exit, and the next run delivers what was never read.
#[test]
fn closed_stdout_exits_cleanly_without_losing_events() {
    let sim = sim(6_000, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let mut child = slack_audit(&sim, dir.path(), &["--once", "--limit", "500"]).spawn().unwrap();
    let mut out = stdout_of(&mut child);
    let first = read_lines(&mut out, Some(700));
    drop(out); // close the pipe
    let status = wait_with_deadline(&mut child, Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "{}", stderr_of(&mut child));
    let mut child = slack_audit(&sim, dir.path(), &["--once", "--limit", "500"]).spawn().unwrap();
    let mut all = ids_of(&first);
    all.extend(ids_of(&read_lines(&mut stdout_of(&mut child), None)));
    assert!(wait_with_deadline(&mut child, Duration::from_secs(60)).success());
    let dups = compare(&all, &sim.dataset());
    assert!(dups <= 1000, "{dups}");
}

/// A permanent error exits non-zero with the reason on stderr; a missing token and a bad
/// option are configuration errors naming what to fix.
#[test]
fn errors_exit_non_zero_with_a_message() {
    let sim = sim(100, 0, |c| c.error_mode = Some("missing_scope".into()));
    let dir = tempfile::tempdir().unwrap();
    let mut child = slack_audit(&sim, dir.path(), &["--once"]).spawn().unwrap();
    let status = wait_with_deadline(&mut child, Duration::from_secs(30));
    let err = stderr_of(&mut child);
    assert_eq!(status.code(), Some(4), "{err}");
    assert!(err.contains("auditlogs:read"), "{err}");

    let out = slack_audit(&sim, dir.path(), &["--once"]).env_remove("SLACK_AUDIT_TOKEN").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("SLACK_AUDIT_TOKEN"), "{err}");

    let out = slack_audit(&sim, dir.path(), &["--once", "--limit", "0"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`limit`") && err.contains("1 to 9999"), "{err}");

    // Nothing listens: `--once` gives up with 75, says so once and says what to do.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .args(["run", "--once", "--max-retries", "1", "--api-url", &format!("http://127.0.0.1:{port}/audit/v1")])
        .arg("--state-dir")
        .arg(dir.path())
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(75), "{err}");
    assert_eq!(err.lines().filter(|l| l.contains("giving up after 2 attempts")).count(), 1, "said twice: {err}");
    assert!(err.contains("run again later"), "{err}");
}

/// `--config FILE` is read and flags override it; unknown keys are named.
#[test]
fn config_file_and_flag_override() {
    let sim = sim(300, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(&cfg, format!(r#"{{"api_url": "{}", "limit": 5, "lag": 0}}"#, sim.audit_url())).unwrap();
    let state = dir.path().join("state");
    let out = Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .args([
            "run",
            "--once",
            "--config",
            cfg.to_str().unwrap(),
            "--limit",
            "100",
            "--state-dir",
            state.to_str().unwrap(),
        ])
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 300);
    assert_eq!(sim.stats().calls, 3, "limit 100 from the flag, not 5 from the file");

    std::fs::write(&cfg, r#"{"limitt": 5}"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_slack-audit"))
        .args(["validate", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`limitt`"));
}

/// (state, ppid) of a process, from /proc/PID/stat; None once it is gone.
fn proc_state(pid: u32) -> Option<(char, u32)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut rest = s[s.rfind(')')? + 2..].split(' ');
    Some((rest.next()?.chars().next()?, rest.next()?.parse().ok()?))
}

fn running(pid: u32) -> bool {
    proc_state(pid).is_some_and(|(s, _)| s != 'Z' && s != 'X')
}

/// The parent is watched only while stdout is a pipe: a collector started in the background by
/// a script that then exits (`slack-audit run >file &`) keeps running and collecting.
#[test]
fn a_background_collector_writing_to_a_file_outlives_its_parent() {
    let sim = sim(50, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let (out, log) = (dir.path().join("out.ndjson"), dir.path().join("err.log"));
    let script = format!(
        "{} run --api-url {} --state-dir {} --lag 0 --interval 3600 >{} 2>{} & echo $!",
        env!("CARGO_BIN_EXE_slack-audit"),
        sim.audit_url(),
        dir.path().join("state").display(),
        out.display(),
        log.display()
    );
    let sh = Command::new("sh").arg("-c").arg(&script).env("SLACK_AUDIT_TOKEN", TOKEN).output().unwrap();
    let pid: u32 = String::from_utf8_lossy(&sh.stdout).trim().parse().expect("the collector's pid");
    let t0 = Instant::now();
    while std::fs::read_to_string(&out).unwrap_or_default().lines().count() < 50 {
        assert!(t0.elapsed() < Duration::from_secs(30), "50 lines: {}", std::fs::read_to_string(&log).unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The shell is gone; the parent check (every 200 ms when stdout is a pipe) would have fired.
    std::thread::sleep(Duration::from_millis(1000));
    let alive = running(pid);
    // SAFETY: signalling the collector this test started.
    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    while running(pid) && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(alive, "the collector exited when its parent did although stdout is a file:\n{logs}");
    assert!(!running(pid), "SIGTERM did not stop {pid}");
    assert!(!logs.contains("started this collector is gone"), "{logs}");
}

/// Descriptors inherited from the starter are closed at start (a listening socket here, as a
/// JVM hands down), except one the arguments name (`--config /dev/fd/9`, as a shell's <(...)).
#[test]
fn inherited_descriptors_are_closed_except_those_named() {
    use std::os::unix::io::AsRawFd;
    use std::os::unix::process::CommandExt;
    let sim = sim(50, 0, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.json");
    std::fs::write(&cfg, format!(r#"{{"api_url": "{}", "lag": 0, "interval": 3600}}"#, sim.audit_url())).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let config = std::fs::File::open(&cfg).unwrap();
    // Above 9 first, so that neither dup2 below overwrites the other's source (the test
    // process's other threads open descriptors too).
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor owned by this test (leaked until it ends).
    let (l, c) = unsafe {
        (
            libc::fcntl(listener.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100),
            libc::fcntl(config.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100),
        )
    };
    assert!(l >= 100 && c >= 100);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_slack-audit"));
    cmd.args(["--log-level", "debug", "run", "--config", "/dev/fd/9", "--state-dir"])
        .arg(dir.path().join("state"))
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only dup2 (async-signal-safe) between fork and exec; dup2 clears close-on-exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(l, 7) < 0 || libc::dup2(c, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    let lines = read_lines(&mut stdout_of(&mut child), Some(50));
    if lines.len() != 50 {
        let _ = child.kill();
        panic!("the config named by /dev/fd/9 was not read: {} lines\n{}", lines.len(), stderr_of(&mut child));
    }
    let fd = |n: u32| std::fs::read_link(format!("/proc/{}/fd/{n}", child.id())).ok();
    let (socket, kept) = (fd(7), fd(9));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_with_deadline(&mut child, Duration::from_secs(10));
    let err = stderr_of(&mut child);
    assert!(status.success(), "{err}");
    assert_eq!(socket, None, "the inherited listening socket is still open in the collector\n{err}");
    assert_eq!(kept, Some(cfg.clone()), "the descriptor --config names was closed\n{err}");
    assert!(err.contains("inherited descriptor(s) above 2 at start"), "{err}");
    // SAFETY: closing the two descriptors made above.
    unsafe {
        libc::close(l);
        libc::close(c);
    }
    drop((listener, config));
}
