//! A stand-in for Logstash's `pipe` input (logstash-plugins/logstash-input-pipe 3.x,
//! lib/logstash/inputs/pipe.rb, the version Logstash 8 ships; line numbers as of v3.1.0 and
//! its main branch at 55fcf49), so tests can drive the exact
//! command and codec of `logstash-example.conf`. Logstash itself (a JVM application) is not
//! available here. What is reproduced, with the plugin's lines:
//!
//! - L54 `pipe = @pipe = IO.popen(@command, "r")`: Ruby's popen rule ([`popen_argv`]).
//! - L56-57 `pipe.each do |line| line = line.chomp`: buffered line reads, newline removed
//!   before the codec sees the line.
//! - L60 `@codec.decode(line) do |event| ... queue << event`: [`Codec::decode`] for `json`,
//!   `json_lines` and `plain`.
//! - L67 `pipe.close` after EOF (waits for the child), then L74 `Stud.stoppable_sleep(10)`
//!   before running the command again ([`Pipe::restart_sleep`]).
//! - L80-87 `stop`: `Process.kill("KILL", pipe.pid)` then `pipe.close`, which drops whatever
//!   was not read yet ([`Session::stop`]). As on JRuby (Logstash's runtime; measured by
//!   tests/logstash_jruby.rs), `close` returns at once but does not take the read end from a
//!   reader thread already blocked in read(2): that thread keeps it open until data or EOF
//!   comes, so under `sh -c` an idle orphaned collector sees no POLLERR ([`Closable`]).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The `pipe { ... }` input of a Logstash config, as far as the harness needs it.
#[derive(Debug, Clone)]
pub struct PipeConf {
    pub command: String,
    pub codec: Codec,
    /// Commented-out `command => "..."` lines (the variants the config documents).
    pub commented_commands: Vec<String>,
    /// Every `SLACK_AUDIT_*` variable the config's comments mention.
    pub env_vars: Vec<String>,
    /// The whole text, for field references of the filters.
    pub text: String,
}

/// The codecs the harness reproduces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Codec {
    /// logstash-codec-json: one event per decode call; `target` puts the object under a field.
    Json { target: Option<String> },
    /// logstash-codec-json_lines: buffers text and emits at each "\n".
    JsonLines { target: Option<String> },
    /// The input's default.
    Plain,
}

/// Parses the (uncommented) `pipe` input of `text`.
pub fn parse_conf(text: &str) -> PipeConf {
    let live: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
    let start = live.iter().position(|l| l.trim_start().starts_with("pipe {")).expect("a `pipe {` input");
    let mut command = None;
    let mut codec = Codec::Plain;
    let mut depth = 0i32;
    for l in &live[start..] {
        let t = l.trim();
        if let Some(rest) = t.strip_prefix("command") {
            command = Some(quoted(rest).expect("command => \"...\""));
        }
        if let Some(rest) = t.strip_prefix("codec") {
            let rest = rest.trim_start().trim_start_matches("=>").trim();
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let target = rest.find("target").and_then(|i| quoted(&rest[i..]));
            codec = match name.as_str() {
                "json" => Codec::Json { target },
                "json_lines" => Codec::JsonLines { target },
                "plain" => Codec::Plain,
                other => panic!("the harness does not know codec {other:?}"),
            };
        }
        depth += t.matches('{').count() as i32 - t.matches('}').count() as i32;
        if depth <= 0 {
            break;
        }
    }
    let commented_commands = text
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .filter_map(|l| l.trim_start().strip_prefix("command").and_then(quoted))
        .collect();
    let mut env_vars: Vec<String> = Vec::new();
    for (i, _) in text.match_indices("SLACK_AUDIT_") {
        let name: String =
            text[i..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
        if !env_vars.contains(&name) {
            env_vars.push(name);
        }
    }
    PipeConf {
        command: command.expect("the pipe input has a command"),
        codec,
        commented_commands,
        env_vars,
        text: text.to_string(),
    }
}

/// The first "..." string of `s` (Logstash strings here hold no escaped quotes).
fn quoted(s: &str) -> Option<String> {
    let a = s.find('"')?;
    let b = s[a + 1..].find('"')?;
    Some(s[a + 1..a + 1 + b].to_string())
}

/// Ruby's `IO.popen(String)` rule (MRI process.c `rb_exec_fillarg`; JRuby's ShellLauncher
/// follows it): a command with a shell metacharacter, a `NAME=value` first word, or a first
/// word that is a POSIX shell builtin or reserved word runs as `/bin/sh -c command`;
/// otherwise it is split on blanks and exec'd directly.
pub fn popen_argv(command: &str) -> Vec<String> {
    const META: &str = "*?{}[]<>()~&|\\$;'`\"\n#";
    const SH_WORDS: &[&str] = &[
        "!", ".", ":", "break", "case", "continue", "do", "done", "elif", "else", "esac", "eval", "exec", "exit",
        "export", "fi", "for", "if", "in", "readonly", "return", "set", "shift", "then", "times", "trap", "unset",
        "until", "while",
    ];
    let first = command.split([' ', '\t']).find(|w| !w.is_empty()).unwrap_or("");
    let shell = command.chars().any(|c| META.contains(c)) || first.contains('=') || SH_WORDS.contains(&first);
    if shell {
        vec!["/bin/sh".into(), "-c".into(), command.into()]
    } else {
        command.split([' ', '\t']).filter(|w| !w.is_empty()).map(String::from).collect()
    }
}

impl Codec {
    /// `@codec.decode(line)`: the events one chomped line yields. `buffer` is the codec's state.
    pub fn decode(&self, line: &str, buffer: &mut String) -> Vec<serde_json::Value> {
        match self {
            Codec::Json { target } => {
                if line.trim().is_empty() {
                    return vec![];
                }
                match serde_json::from_str::<serde_json::Value>(line) {
                    Ok(v @ serde_json::Value::Object(_)) => vec![targeted(v, target)],
                    Ok(serde_json::Value::Array(a)) => a.into_iter().map(|v| targeted(v, target)).collect(),
                    _ => vec![serde_json::json!({"message": line, "tags": ["_jsonparsefailure"]})],
                }
            }
            Codec::JsonLines { target } => {
                // BufferedTokenizer with delimiter "\n": a chomped line never holds one.
                buffer.push_str(line);
                let mut out = Vec::new();
                while let Some(i) = buffer.find('\n') {
                    let token: String = buffer.drain(..=i).collect();
                    out.extend(Codec::Json { target: target.clone() }.decode(token.trim_end(), &mut String::new()));
                }
                out
            }
            Codec::Plain => vec![serde_json::json!({ "message": line })],
        }
    }
}

/// `target => "[a][b]"`: the decoded object goes under that field.
fn targeted(v: serde_json::Value, target: &Option<String>) -> serde_json::Value {
    match target {
        None => v,
        Some(t) => {
            let mut out = v;
            for part in field_path(t).into_iter().rev() {
                out = serde_json::json!({ part: out });
            }
            out
        }
    }
}

/// "[a][b]" → ["a", "b"]; "a" → ["a"].
pub fn field_path(reference: &str) -> Vec<String> {
    let r = reference.trim();
    if !r.starts_with('[') {
        return vec![r.to_string()];
    }
    r.trim_start_matches('[').trim_end_matches(']').split("][").map(String::from).collect()
}

/// The value of a field reference in an event.
pub fn get<'a>(event: &'a serde_json::Value, reference: &str) -> Option<&'a serde_json::Value> {
    field_path(reference).iter().try_fold(event, |v, k| v.get(k))
}

/// One popen of the command: the child, and the thread that reads it (L56-66).
pub struct Session {
    pub child: Child,
    closed: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    pub started: Instant,
}

/// The input: the command, its codec and environment, and the queue events go to.
pub struct Pipe {
    pub command: String,
    pub codec: Codec,
    pub env: Vec<(String, String)>,
    /// L74: the plugin sleeps 10 s before running an exited command again; tests shorten it.
    pub restart_sleep: Duration,
    /// `queue << event`
    pub queue: Arc<Mutex<Vec<serde_json::Value>>>,
    /// Lines read from the pipe (before the codec), for tests that show a codec emitting nothing.
    pub lines: Arc<AtomicUsize>,
    /// Where the command's stderr goes (Logstash's own stderr; a file here).
    pub stderr: std::path::PathBuf,
    /// A pipeline slower than the collector: the reader pauses this long every 16 lines
    /// (`queue << event` blocks when the workers and outputs lag), so the pipe fills up.
    pub slow_reader: Option<Duration>,
}

impl Pipe {
    pub fn new(command: &str, codec: Codec, env: Vec<(String, String)>, stderr: std::path::PathBuf) -> Pipe {
        Pipe {
            command: command.to_string(),
            codec,
            env,
            restart_sleep: Duration::from_secs(10),
            queue: Arc::default(),
            lines: Arc::default(),
            stderr,
            slow_reader: None,
        }
    }

    /// L54: `IO.popen(@command, "r")`, and a thread running L56-66 on its output.
    pub fn start(&self) -> Session {
        let argv = popen_argv(&self.command);
        let err = std::fs::OpenOptions::new().create(true).append(true).open(&self.stderr).unwrap();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(err);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("popen {argv:?}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let closed = Arc::new(AtomicBool::new(false));
        let (queue, lines, codec, closed2) =
            (self.queue.clone(), self.lines.clone(), self.codec.clone(), closed.clone());
        let slow = self.slow_reader;
        let reader = std::thread::spawn(move || {
            // Ruby's IO reads through its own buffer: what it holds when `close` comes is lost.
            let mut r = BufReader::with_capacity(8192, Closable { inner: stdout, closed: closed2.clone() });
            let mut buf = String::new();
            let mut codec_state = String::new();
            loop {
                buf.clear();
                match r.read_line(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                // L57 `line.chomp` (Ruby's chomp drops "\n", "\r\n" or "\r")
                let line = buf.strip_suffix('\n').unwrap_or(&buf);
                let line = line.strip_suffix('\r').unwrap_or(line);
                // `pipe.close` from `stop` makes the next read raise: nothing more is queued.
                if closed2.load(Ordering::SeqCst) {
                    return;
                }
                let n = lines.fetch_add(1, Ordering::SeqCst);
                if let Some(pause) = slow.filter(|_| n % 16 == 15) {
                    std::thread::sleep(pause);
                }
                let events = codec.decode(line, &mut codec_state);
                queue.lock().unwrap().extend(events);
            }
        });
        Session { child, closed, reader: Some(reader), started: Instant::now() }
    }

    pub fn events(&self) -> Vec<serde_json::Value> {
        self.queue.lock().unwrap().clone()
    }

    pub fn event_count(&self) -> usize {
        self.queue.lock().unwrap().len()
    }
}

impl Session {
    /// L80-84 `stop`: SIGKILL to the popen'd pid, then close the read end (unread data is
    /// dropped) and, as Ruby's close of a popen'd IO does, reap the child. Returns at once, as
    /// JRuby's close does: the reader thread (the plugin's `run`) ends only when its pending
    /// read returns, i.e. once every writer of the pipe is gone ([`Stopped::reader_returned`]).
    pub fn stop(mut self) -> Stopped {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        self.closed.store(true, Ordering::SeqCst);
        let status = self.child.wait().unwrap();
        Stopped { status, reader: self.reader.take() }
    }

    /// L56-67 when the command ends by itself: read to EOF, then `pipe.close` (reaps it).
    /// Panics after `limit`.
    pub fn wait_eof(mut self, limit: Duration) -> std::process::ExitStatus {
        let t0 = Instant::now();
        while !self.reader.as_ref().unwrap().is_finished() {
            if t0.elapsed() > limit {
                let pid = self.child.id();
                self.stop();
                panic!("command (pid {pid}) did not end within {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.reader.take().unwrap().join().unwrap();
        self.child.wait().unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// What [`Session::stop`] leaves: the command's exit status and the reader thread, which may
/// still be blocked in read(2) holding the pipe's read end.
pub struct Stopped {
    pub status: std::process::ExitStatus,
    reader: Option<JoinHandle<()>>,
}

impl Stopped {
    /// True once the reader thread (the plugin's `run`, which Logstash's pipeline shutdown and
    /// reload wait for) has returned.
    pub fn reader_returned(&self) -> bool {
        self.reader.as_ref().is_none_or(|r| r.is_finished())
    }
}

/// The read end as the plugin's reader sees it on JRuby: a read started after `close` raises
/// ("closed stream") and lets the descriptor go, but a read already blocked in read(2) when
/// `close` comes stays there, holding the read end open (the writer sees no POLLERR) until
/// data or EOF arrives; what it then returns is dropped. tests/logstash_jruby.rs shows both on
/// the real runtime: an idle orphan of `sh -c` kept the pipe (and its lock) until it exited,
/// and readers stopped while busy ended with IOError "closed stream".
struct Closable {
    inner: ChildStdout,
    closed: Arc<AtomicBool>,
}

impl Read for Closable {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("closed stream"));
        }
        let n = self.inner.read(buf)?;
        if self.closed.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("closed stream"));
        }
        Ok(n)
    }
}

/// Pids whose parent is `ppid` (from /proc), e.g. the collector under `sh -c`.
pub fn children_of(ppid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        if let Some((_, ppid_now, _)) = proc_stat(pid) {
            if ppid_now == ppid {
                out.push(pid);
            }
        }
    }
    out
}

/// (state, ppid, comm) of a process from /proc/PID/stat.
pub fn proc_stat(pid: u32) -> Option<(char, u32, String)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let mut rest = s[close + 2..].split(' ');
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((state, ppid, comm))
}

/// True while `pid` runs (a zombie, waiting for init to reap it, has exited).
pub fn alive(pid: u32) -> bool {
    matches!(proc_stat(pid), Some((s, _, _)) if s != 'Z' && s != 'X')
}

/// The `slack-audit` the Logstash tests run: this build, or `SLACK_AUDIT_TEST_BIN` (a path to
/// another build's `slack-audit`, e.g. to show what an older one does).
pub fn test_bin() -> std::path::PathBuf {
    std::env::var_os("SLACK_AUDIT_TEST_BIN")
        .map_or_else(|| std::path::PathBuf::from(env!("CARGO_BIN_EXE_slack-audit")), std::path::PathBuf::from)
}
