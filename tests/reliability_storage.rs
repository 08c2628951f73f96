//! Issue 5, storage faults: an unwritable state dir (or a full filesystem, emulated with
//! `RLIMIT_FSIZE` because permissions do not bind for root), a corrupt state file, a state file
//! from a future schema, and a second process on the same state dir. Each is a clear error
//! (CLI exit 3), the previous good state stays byte-identical, and nothing restarts from scratch.

mod common;

use common::*;
use slack_audit::error::ErrorKind;
use slack_audit::runtime::Collection;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn cli(sim: &slack_audit_sim::Sim, state: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_slack-audit"));
    c.args(args)
        .args(["--api-url", &sim.audit_url(), "--lag", "0"])
        .arg("--state-dir")
        .arg(state)
        .env("SLACK_AUDIT_TOKEN", TOKEN)
        .stdin(Stdio::null());
    c
}

fn out(mut c: Command) -> (Option<i32>, String, String) {
    let o: Output = c.output().unwrap();
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

/// A state dir holding a good checkpoint after one complete run; returns its state file.
fn good_state(sim: &slack_audit_sim::Sim, dir: &Path) -> PathBuf {
    let (code, _, err) = out(cli(sim, dir, &["run", "--once"]));
    assert_eq!(code, Some(0), "{err}");
    let file = dir.join("audit.json");
    assert!(file.exists());
    file
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Checks the common promises of a refused state: exit 3, the message names `needle` and the
/// file, nothing was printed, and the file is byte-identical.
fn assert_refused(r: (Option<i32>, String, String), needle: &str, file: &Path, before: &[u8]) {
    let (code, stdout, stderr) = r;
    assert_eq!(code, Some(3), "exit code: {stderr}");
    assert!(stderr.contains(needle), "message lacks {needle:?}: {stderr}");
    assert!(stderr.contains(&file.display().to_string()), "message does not name {}: {stderr}", file.display());
    assert_eq!(std::fs::read(file).unwrap(), before, "the previous good state was changed");
    assert!(!stderr.contains(TOKEN));
    let _ = stdout;
}

/// A state file that cannot be written (unwritable dir, or a full filesystem): the run exits 3
/// naming the state file, and the previous checkpoint is left byte-identical.
#[test]
fn unwritable_state_exits_3_and_keeps_the_previous_state() {
    let sim = sim(300, 0, |c| c.max_calls_per_minute = 0);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let file = good_state(&sim, &dir);
    let before = std::fs::read(&file).unwrap();
    let newer = slack_audit::config::now_unix() - 60;

    // 1. A full filesystem: RLIMIT_FSIZE below the state file's size (binds for root too).
    sim.insert_events(&[newer; 5]);
    // `--once` polls only when the checkpoint is more than `interval` old
    let poll = ["run", "--once", "--interval", "1"];
    std::thread::sleep(Duration::from_millis(1100));
    let mut c = cli(&sim, &dir, &poll);
    // SAFETY: only async-signal-safe calls (setrlimit, signal) between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 64, rlim_max: 64 };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let r = out(c);
    eprintln!("full filesystem: {}", r.2.trim());
    assert_refused(r, "cannot write state file", &file, &before);

    // 2. chmod 0500 on the state dir (only binds when not root).
    if !is_root() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o500)).unwrap();
        let r = out(cli(&sim, &dir, &poll));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        eprintln!("state dir 0500: {}", r.2.trim());
        assert_refused(r, "cannot write state file", &file, &before);
    }

    // 3. A state_dir whose parent is a regular file (binds for root too).
    let blocker = tmp.path().join("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    let (code, _, err) = out(cli(&sim, &blocker.join("state"), &["run", "--once"]));
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("cannot create state_dir") && err.contains("not-a-dir"), "{err}");

    // Once the fault is gone the next run continues from the good checkpoint, not from scratch.
    let calls = sim.stats().entries_served;
    let (code, stdout, err) = out(cli(&sim, &dir, &poll));
    assert_eq!(code, Some(0), "{err}");
    let n = stdout.lines().count();
    assert!((5..300).contains(&n), "after recovery {n} lines: restarted from scratch?\n{err}");
    assert!(sim.stats().entries_served - calls < 300);
}

/// A corrupt state file and one from a future schema are refused (exit 3, through the CLI, the
/// library and `state show`), left byte-identical, and nothing is collected from scratch.
#[test]
fn corrupt_and_future_state_files_are_refused_untouched() {
    let sim = sim(200, 0, |c| c.max_calls_per_minute = 0);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let file = good_state(&sim, &dir);
    let good = std::fs::read(&file).unwrap();
    let mut flipped = good.clone();
    flipped.truncate(good.len() / 2);
    let future = String::from_utf8(good.clone()).unwrap().replacen("\"schema\":2", "\"schema\":7", 1);
    assert_ne!(future.as_bytes(), &good[..], "schema field not found in {}", String::from_utf8_lossy(&good));
    for (bytes, needle) in [
        (flipped, "is corrupt"),
        (b"\xff\xfe\x00garbage".to_vec(), "is corrupt"),
        (future.into_bytes(), "newer version"),
    ] {
        std::fs::write(&file, &bytes).unwrap();
        let served = sim.stats().calls;
        let r = out(cli(&sim, &dir, &["run", "--once"]));
        assert!(r.1.is_empty(), "events were printed from scratch");
        eprintln!("{needle}: {}", r.2.trim());
        assert_refused(r, needle, &file, &bytes);
        assert_eq!(sim.stats().calls, served, "Slack was called despite an unusable state");
        assert_refused(out(cli(&sim, &dir, &["state", "show"])), needle, &file, &bytes);
        // the library says the same
        let cfg = config(&sim, &dir, &[]);
        match Collection::start(cfg) {
            Err(e) if e.kind() == ErrorKind::State => {
                assert!(e.message().contains(needle) && e.message().contains(&file.display().to_string()), "{e}")
            }
            Err(e) => panic!("wrong error kind: {e}"),
            Ok(_) => panic!("the library accepted an unusable state file"),
        }
        assert_eq!(std::fs::read(&file).unwrap(), bytes);
    }
}

/// A second collector on the same state dir exits 3 with "in use" and changes nothing.
#[test]
fn a_second_process_on_the_same_state_dir_is_refused() {
    let sim = sim(200, 0, |c| c.max_calls_per_minute = 0);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let file = good_state(&sim, &dir);
    let before = std::fs::read(&file).unwrap();
    // The first collector keeps running (it polls every 60 s once caught up).
    let mut first =
        cli(&sim, &dir, &["run", "--interval", "60"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    // Wait until it holds the lock (the lock file then holds its pid).
    let t0 = Instant::now();
    let lock = dir.join("audit.lock");
    while std::fs::read_to_string(&lock).unwrap_or_default().trim() != first.id().to_string() {
        assert!(t0.elapsed() < Duration::from_secs(20), "first collector never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before_second = std::fs::read(&file).unwrap();
    // (it waits `lock_wait` for the lock first: 1 s here instead of the default 15)
    let (code, stdout, err) = out(cli(&sim, &dir, &["run", "--once", "--lock-wait", "1"]));
    eprintln!("second process: {}", err.trim());
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("in use") && err.contains(&first.id().to_string()), "{err}");
    assert!(stdout.is_empty());
    assert_eq!(std::fs::read(&file).unwrap(), before_second);
    // the library refuses too
    match Collection::start(config(&sim, &dir, &[("lock_wait", "0")])) {
        Err(e) if e.kind() == ErrorKind::State => assert!(e.message().contains("in use"), "{e}"),
        Err(e) => panic!("wrong error kind: {e}"),
        Ok(_) => panic!("two owners of one stream"),
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(first.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    while first.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = first.kill();
            panic!("first collector ignored SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = before;
}
