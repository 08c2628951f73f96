//! The durable store of checkpoints: one JSON file per stream in `state_dir`.
//!
//! Writes are atomic (temp file, fsync, rename, fsync of the directory), files are mode 0600
//! and schema-versioned, and each stream is owned by one process at a time through an
//! exclusive `flock` on its `.lock` file. A file that cannot be read is an error, never a
//! silent restart from scratch: that would re-deliver the whole history.

use crate::error::Error;
use crate::source::StreamState;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The schema this build writes. It reads this one and every older one (migrated on load, and
/// written in this schema at the next save). Bump it only with a migration of older files.
///
/// 1: one audit-shaped state with an optional `web` part for access and integration streams.
/// 2: the common fields plus one object named by the source (`audit`, `access`, `integration`):
///    [`crate::source::StreamState`].
pub(crate) const SCHEMA: u32 = 2;

/// What the file holds: the schema, which stream it belongs to, and the state.
#[derive(Serialize, Deserialize)]
struct StateFile<S> {
    schema: u32,
    /// The stream's source and filters, checked on load so two configs never share a file.
    stream: String,
    /// Unix seconds of this write, for humans reading the file.
    updated: i64,
    state: S,
}

/// Just enough of a file to read its schema before trusting the rest.
#[derive(Deserialize)]
struct SchemaProbe {
    schema: u32,
}

/// One stream's state file, locked for this process while the value lives.
#[derive(Debug)]
pub struct StreamStore {
    path: PathBuf,
    stream: String,
    /// Held for the exclusive flock; closing it releases the lock.
    _lock: File,
}

/// Opens (creating if needed) `dir`, locks stream `name` and loads its state.
/// `description` names the source and filters; a file written for another description is refused.
/// A stream locked by another process is refused at once.
pub fn open_stream(dir: &Path, name: &str, description: &str) -> Result<(StreamStore, StreamState), Error> {
    open_stream_waiting(dir, name, description, Duration::ZERO, &|| false)
}

/// As [`open_stream`], waiting up to `wait` for another process's lock to go away (a collector
/// restarted by Logstash may start while the previous one is still exiting). `cancelled` is
/// checked while waiting: when it returns true the wait ends with an error at once.
pub fn open_stream_waiting(
    dir: &Path,
    name: &str,
    description: &str,
    wait: Duration,
    cancelled: &dyn Fn() -> bool,
) -> Result<(StreamStore, StreamState), Error> {
    fs::create_dir_all(dir).map_err(|e| {
        Error::state(format!(
            "cannot create state_dir {}: {e}; create it (mode 0700) for the user running slack-audit, or set state_dir",
            dir.display()
        ))
    })?;
    let lock_path = dir.join(format!("{name}.lock"));
    let mut lock =
        OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(&lock_path).map_err(
            |e| {
                Error::state(format!(
                    "cannot open lock file {}: {e}; state_dir must be writable by the user running slack-audit",
                    lock_path.display()
                ))
            },
        )?;
    let deadline = Instant::now() + wait;
    // SAFETY: flock on a file descriptor we own; no memory is involved.
    while unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        if Instant::now() >= deadline || cancelled() {
            let waited =
                if wait.is_zero() { String::new() } else { format!(" after waiting {} s (lock_wait)", wait.as_secs()) };
            return Err(Error::state(format!(
                "stream `{name}` in state_dir {} is in use by another slack-audit collector{}{waited}; {}",
                dir.display(),
                describe_holder(&mut lock),
                "stop that process (a collector orphaned by a Logstash restart exits by itself within a second once its stdout's reader or, stdout being a pipe, its parent is gone; one from a build before that check may stay until Logstash exits), raise lock_wait, or give this collector its own state_dir"
            )));
        }
        std::thread::sleep(LOCK_POLL);
    }
    let _ = lock.set_len(0);
    let _ = write!(lock, "{}", std::process::id());

    let path = dir.join(format!("{name}.json"));
    let state = match fs::read(&path) {
        Ok(bytes) => parse_state_file(&bytes, &path, description)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => StreamState::default(),
        Err(e) => {
            return Err(Error::state(format!(
            "cannot read state file {}: {e}; fix its permissions (it must be readable by the user running slack-audit)",
            path.display()
        )))
        }
    };
    Ok((StreamStore { path, stream: description.to_string(), _lock: lock }, state))
}

/// How often a locked stream is tried again while waiting for it.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// " (pid N: its command line)" of the process whose pid is in the lock file, as far as known.
fn describe_holder(lock: &mut File) -> String {
    use std::io::Seek;
    let mut text = String::new();
    let _ = lock.rewind();
    let _ = lock.read_to_string(&mut text);
    let Ok(pid) = text.trim().parse::<u32>() else {
        return String::new();
    };
    // /proc/PID/cmdline: NUL-separated arguments (empty or missing when the process is gone).
    match fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmd) if !cmd.is_empty() => {
            let args: Vec<String> = cmd
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            format!(" (pid {pid}: {})", redacted_command_line(&args))
        }
        _ => format!(" (pid {pid})"),
    }
}

/// The holder's arguments joined for an error message, with any token in them replaced by
/// `<redacted>`: a collector started with `--token xoxp-…` must not have its token printed by
/// the next one.
fn redacted_command_line(args: &[String]) -> String {
    let mut out = Vec::with_capacity(args.len());
    let mut secret_next = false;
    for a in args {
        out.push(if secret_next || crate::config::looks_like_token(a) {
            "<redacted>".to_string()
        } else if a.starts_with("--token=") {
            "--token=<redacted>".to_string()
        } else {
            a.clone()
        });
        secret_next = a == "--token";
    }
    out.join(" ")
}

/// Parses a state file's bytes, with errors that say what to do.
pub fn parse_state_file(bytes: &[u8], path: &Path, description: &str) -> Result<StreamState, Error> {
    let aside = "restore it from a backup, or move it aside to start again from `since` (events after the old checkpoint would be re-read)";
    let probe: SchemaProbe = serde_json::from_slice(bytes)
        .map_err(|e| Error::state(format!("state file {} is corrupt ({e}); {aside}", path.display())))?;
    if probe.schema > SCHEMA {
        return Err(Error::state(format!(
            "state file {} has schema {} but this slack-audit reads schemas up to {SCHEMA}: it was written by a newer version; upgrade slack-audit (the file was left untouched)",
            path.display(),
            probe.schema
        )));
    }
    if probe.schema == 0 {
        return Err(Error::state(format!("state file {} has an invalid schema 0; {aside}", path.display())));
    }
    let corrupt =
        |e: serde_json::Error| Error::state(format!("state file {} is corrupt ({e}); {aside}", path.display()));
    let (stream, state) = if probe.schema == 1 {
        let file: StateFile<schema1::State> = serde_json::from_slice(bytes).map_err(corrupt)?;
        let state = file.state.migrate(&file.stream);
        (file.stream, state)
    } else {
        let file: StateFile<StreamState> = serde_json::from_slice(bytes).map_err(corrupt)?;
        (file.stream, file.state)
    };
    if stream != description {
        return Err(Error::state(format!(
            "state file {} belongs to stream `{stream}`, not `{description}`; use another state_dir for this configuration",
            path.display(),
        )));
    }
    Ok(state)
}

/// Files written before schema 2 (slack-audit up to e21944b): read and turned into today's
/// state, so existing checkpoints, boundary ids and walks in flight are kept.
mod schema1 {
    use crate::source::dedupe::SeenSet;
    use crate::source::audit::window::{AuditState, InFlight};
    use crate::source::{SourceState, StreamState};
    use crate::source::weblogs::WebState;
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub(super) struct State {
        checkpoint: Option<i64>,
        seen: SeenSet,
        inflight: Option<InFlight>,
        delivered_total: u64,
        /// Access and integration streams only.
        #[serde(default)]
        web: Option<WebState>,
        #[serde(default)]
        last_delivery: Option<i64>,
    }

    impl State {
        /// Today's state of stream `stream` (the file's description: `access` and
        /// `integration` are those sources, any other an audit stream).
        pub(super) fn migrate(self, stream: &str) -> StreamState {
            let source = match stream {
                "access" => SourceState::Access(self.web.unwrap_or_default()),
                "integration" => SourceState::Integration(self.web.unwrap_or_default()),
                _ => SourceState::Audit(AuditState {
                    checkpoint: self.checkpoint,
                    seen: self.seen,
                    inflight: self.inflight,
                }),
            };
            StreamState { delivered_total: self.delivered_total, last_delivery: self.last_delivery, source }
        }
    }
}

impl StreamStore {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `state` atomically; on any error the previous file is left as it was.
    pub fn save(&self, state: &StreamState) -> Result<(), Error> {
        let file = StateFile::<&StreamState> {
            schema: SCHEMA,
            stream: self.stream.clone(),
            updated: crate::config::now_unix(),
            state,
        };
        let bytes = serde_json::to_vec(&file).map_err(|e| Error::state(format!("cannot encode state: {e}")))?;
        write_atomically(&self.path, &bytes).map_err(|e| {
            Error::state(format!(
                "cannot write state file {}: {e}; the previous checkpoint is intact. Free space in or fix permissions of its directory",
                self.path.display()
            ))
        })
    }
}

/// temp file (0600) + write + fsync + rename + fsync of the directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let result = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Reads a stream's state without locking it (for `state show`).
pub fn peek(dir: &Path, name: &str, description: &str) -> Result<Option<StreamState>, Error> {
    let path = dir.join(format!("{name}.json"));
    match fs::read(&path) {
        Ok(bytes) => parse_state_file(&bytes, &path, description).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::state(format!("cannot read state file {}: {e}", path.display()))),
    }
}

/// A stream file found in `state_dir`: its name (without `.json`), the stream (source and
/// filters) it belongs to, and its state, or why it cannot be read.
pub struct StreamFile {
    pub name: String,
    pub stream: String,
    pub state: Result<StreamState, Error>,
}

/// Every stream file in `dir`, sorted by name, without locking: for `state show` and the
/// start-up note about streams a changed filter left behind. Other JSON files (not written as a
/// stream's state) are skipped.
pub fn list_streams(dir: &Path) -> Vec<StreamFile> {
    #[derive(Deserialize)]
    struct StreamProbe {
        stream: String,
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<StreamFile> = entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let name = path.file_name()?.to_str()?.strip_suffix(".json")?.to_string();
            let bytes = fs::read(&path).ok()?;
            let stream = serde_json::from_slice::<StreamProbe>(&bytes).ok()?.stream;
            let state = parse_state_file(&bytes, &path, &stream);
            Some(StreamFile { name, stream, state })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stream_file_is_listed_with_its_stream() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = open_stream(dir.path(), "audit", "audit").unwrap();
        a.save(&state(7)).unwrap();
        let (b, _) = open_stream(dir.path(), "audit-1", "audit action=user_login").unwrap();
        b.save(&state(9)).unwrap();
        fs::write(dir.path().join("other.json"), b"{}").unwrap();
        let got: Vec<(String, String, Option<i64>)> =
            list_streams(dir.path()).into_iter().map(|f| (f.name, f.stream, f.state.unwrap().checkpoint())).collect();
        assert_eq!(
            got,
            vec![
                ("audit".into(), "audit".into(), Some(7)),
                ("audit-1".into(), "audit action=user_login".into(), Some(9))
            ]
        );
    }

    fn state(c: i64) -> StreamState {
        StreamState::audit(crate::source::audit::window::AuditState { checkpoint: Some(c), ..Default::default() })
    }

    #[test]
    fn save_then_reopen_returns_the_state_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let (store, s) = open_stream(dir.path(), "audit", "audit").unwrap();
        assert_eq!(s, StreamState::default());
        store.save(&state(42)).unwrap();
        let mode = fs::metadata(store.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(store);
        let (_store, s) = open_stream(dir.path(), "audit", "audit").unwrap();
        assert_eq!(s.checkpoint(), Some(42));
    }

    #[test]
    fn a_second_owner_of_the_stream_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_a, _) = open_stream(dir.path(), "audit", "audit").unwrap();
        let e = open_stream(dir.path(), "audit", "audit").unwrap_err();
        assert!(e.message().contains("in use by another"), "{e}");
        // another stream in the same directory is fine
        assert!(open_stream(dir.path(), "access", "access").is_ok());
    }

    #[test]
    fn a_locked_stream_is_waited_for_and_the_holder_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = open_stream(dir.path(), "audit", "audit").unwrap();
        // the refusal names this process (the holder) and its command line
        let e = open_stream_waiting(dir.path(), "audit", "audit", Duration::from_millis(300), &|| false).unwrap_err();
        assert!(e.message().contains(&format!("pid {}:", std::process::id())), "{e}");
        assert!(e.message().contains("lock_wait"), "{e}");
        // released while the second one waits: it gets the stream
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(a);
        });
        let got = open_stream_waiting(dir.path(), "audit", "audit", Duration::from_secs(60), &|| false);
        t.join().unwrap();
        assert!(got.is_ok(), "{:?}", got.err());
        // a cancelled wait ends at once, long before its 60 s
        let e = open_stream_waiting(dir.path(), "audit", "audit", Duration::from_secs(60), &|| true).unwrap_err();
        assert!(e.message().contains("in use by another"), "{e}");
    }

    #[test]
    fn the_holders_token_is_never_in_the_lock_error() {
        let args: Vec<String> = [
            "slack-audit",
            "run",
            "--token",
            "xoxp-canary-1",
            "--token=xoxp-canary-2",
            "--since",
            "30d",
            "xoxb-canary-3",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let line = redacted_command_line(&args);
        assert!(!line.contains("canary"), "{line}");
        assert_eq!(line, "slack-audit run --token <redacted> --token=<redacted> --since 30d <redacted>");
    }

    #[test]
    fn corrupt_future_and_foreign_files_are_errors_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json");
        for (bytes, expect) in [
            (&b"{not json"[..], "corrupt"),
            (&br#"{"schema": 99, "whatever": 1}"#[..], "newer version"),
            (&br#"{"schema": 1, "stream": "audit-x", "updated": 0, "state": {"checkpoint": 5, "seen": [], "inflight": null, "delivered_total": 0}}"#[..], "belongs to stream"),
        ] {
            fs::write(&path, bytes).unwrap();
            let e = open_stream(dir.path(), "audit", "audit").unwrap_err();
            assert!(e.message().contains(expect), "{e}");
            assert_eq!(fs::read(&path).unwrap(), bytes);
        }
    }

    #[test]
    fn a_failed_write_keeps_the_previous_state() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = open_stream(dir.path(), "audit", "audit").unwrap();
        store.save(&state(1)).unwrap();
        // a directory where the temp file should go makes the write fail
        fs::create_dir(dir.path().join("audit.json.tmp")).unwrap();
        let e = store.save(&state(2)).unwrap_err();
        assert!(e.message().contains("previous checkpoint is intact"), "{e}");
        let back = peek(dir.path(), "audit", "audit").unwrap().unwrap();
        assert_eq!(back.checkpoint(), Some(1));
    }

    #[test]
    fn schema_1_files_without_the_new_fields_still_load() {
        // Moved from sequence.rs: the oldest schema-1 shape (no `web`, no `last_delivery`).
        let old = r#"{"schema":1,"stream":"audit","updated":0,"state":{"checkpoint":5,"seen":[["a",5]],"inflight":null,"delivered_total":3}}"#;
        let s = parse_state_file(old.as_bytes(), Path::new("audit.json"), "audit").unwrap();
        let audit = s.as_audit().unwrap();
        assert_eq!((audit.checkpoint, s.delivered_total, s.last_delivery), (Some(5), 3, None));
        assert!(audit.seen.contains("a"));
        // and an audit state is written without them
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("web") && !text.contains("last_delivery"), "{text}");
    }

    #[test]
    fn schema_1_web_states_become_their_source() {
        let old = r#"{"schema":1,"stream":"integration","updated":0,"state":{"checkpoint":null,"seen":[],"inflight":null,"delivered_total":4,"web":{"floor":9,"high_water":20,"known":{"k":20},"walked_at":30,"inflight":null},"last_delivery":31}}"#;
        let s = parse_state_file(old.as_bytes(), Path::new("integration.json"), "integration").unwrap();
        let crate::source::SourceState::Integration(w) = &s.source else { panic!("{s:?}") };
        assert_eq!(
            (w.floor, w.walked_at, w.known.len(), s.delivered_total, s.last_delivery),
            (Some(9), Some(30), 1, 4, Some(31))
        );
    }
}
