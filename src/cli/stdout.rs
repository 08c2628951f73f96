//! What `run` can learn about the reader of its stdout without writing to it.
//!
//! - Gone: poll(2) on fd 1 with no events still reports POLLERR (a pipe whose read end is
//!   closed) or POLLHUP (a hung-up socket or terminal). GNU `tail -f` watches its output the
//!   same way, so that `tail -f | consumer` ends when the consumer does, even while idle.
//! - Unread bytes: on a pipe, FIONREAD on the write end counts what the reader has not taken
//!   yet. Logstash's `pipe` input stops a command with SIGKILL and closes the pipe without
//!   draining it, so bytes still in the pipe at that moment are dropped: `run` acknowledges a
//!   batch only once the pipe is empty.

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

const STDOUT: libc::c_int = libc::STDOUT_FILENO;

/// True when stdout's reader is gone.
pub fn reader_gone() -> bool {
    poll_gone(0) == Some(true)
}

/// Polls stdout for POLLERR/POLLHUP up to `timeout_ms`: Some(true) gone, Some(false) not (yet),
/// None when there is nothing to watch (stdout is closed).
fn poll_gone(timeout_ms: libc::c_int) -> Option<bool> {
    let mut p = libc::pollfd { fd: STDOUT, events: 0, revents: 0 };
    // SAFETY: one valid pollfd on the stack, count 1.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    if n < 0 {
        return Some(false); // EINTR: ask again
    }
    if p.revents & libc::POLLNVAL != 0 {
        return None;
    }
    Some(p.revents & (libc::POLLERR | libc::POLLHUP) != 0)
}

/// What [`watch`] saw go away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    /// stdout's reader (POLLERR/POLLHUP).
    Reader,
    /// The process `run` started under, while stdout is a pipe ([`watch_parent`]).
    Parent,
}

/// The parent pid the process started under ([`record_parent`]).
static STARTED_UNDER: AtomicI32 = AtomicI32::new(0);

/// The parent pid `run` watches; 0 when the parent is not watched.
static PARENT: AtomicI32 = AtomicI32::new(0);

/// Records the parent pid; call it first thing in `main`, so that a parent that dies while the
/// command parses its arguments and configuration is still seen gone.
pub fn record_parent() {
    // SAFETY: getppid has no arguments and cannot fail.
    STARTED_UNDER.store(unsafe { libc::getppid() }, Ordering::SeqCst);
}

/// Starts watching the parent process recorded by [`record_parent`] when stdout is a pipe;
/// call it first thing in `run`.
///
/// Why: Logstash's `pipe` input runs a command with a shell metacharacter (say a `2>>` redirect)
/// under `/bin/sh -c`, and dash does not exec the last command. Its stop is `Process.kill("KILL",
/// pid)` of the shell, then `pipe.close` (logstash-input-pipe 3.1.0, lib/logstash/inputs/pipe.rb
/// L83-84). On JRuby that close returns at once while the input's reader thread, blocked in
/// read(2) in `pipe.each` (L56), keeps the read end open: the orphaned collector never sees
/// POLLERR and would keep its state lock until the JVM exits. Its parent dying is then the only
/// sign, and a collector whose stdout is a pipe lives only as long as the process that started
/// it.
///
/// How: `getppid()` is polled (see [`watch`]) and compared with the pid recorded at start. It
/// changes as soon as the parent process is gone, however it died (SIGKILL included), since the
/// kernel reparents the orphan to init or to a subreaper. PR_SET_PDEATHSIG is not used: it fires
/// when the parent *thread* that forked exits, and a JVM may start a command from a thread that
/// ends while the JVM (and the command's reader) lives on. Polling also needs no pid handed down
/// by the parent: the window between fork and [`record_parent`] is the exec and the dynamic
/// loader, and a parent that dies in it leaves a collector started under init, not watched.
///
/// Not watched: stdout that is not a pipe (a file, the journal, a terminal), so `nohup
/// slack-audit run >file &` from a script that then exits keeps running; and a collector whose
/// parent is already init.
pub fn watch_parent() {
    let ppid = STARTED_UNDER.load(Ordering::SeqCst);
    if ppid > 1 && unread_bytes().is_some() {
        PARENT.store(ppid, Ordering::SeqCst);
    }
}

/// True when the parent [`watch_parent`] recorded is gone (this process was reparented).
pub fn parent_gone() -> bool {
    let ppid = PARENT.load(Ordering::SeqCst);
    // SAFETY: getppid has no arguments and cannot fail.
    ppid != 0 && unsafe { libc::getppid() } != ppid
}

/// Starts a thread that calls `on_gone` once, within about a second of stdout's reader going
/// away (or within [`PARENT_POLL`] of the watched parent's death), whatever the rest of the
/// process is doing (idle, sleeping through `interval`, waiting on a rate limit or for a
/// locked stream).
pub fn watch(on_gone: impl Fn(Gone) + Send + 'static) {
    std::thread::spawn(move || loop {
        // A pipe or socket wakes poll at once when its reader goes; the timeout only bounds how
        // long a stdout that cannot report it (a file, /dev/null) keeps this thread asleep, and
        // how often the parent is looked at.
        let timeout = if PARENT.load(Ordering::SeqCst) != 0 { PARENT_POLL.as_millis() as libc::c_int } else { 1000 };
        match poll_gone(timeout) {
            Some(true) => return on_gone(Gone::Reader),
            Some(false) => {}
            None => return,
        }
        if parent_gone() {
            return on_gone(Gone::Parent);
        }
    });
}

/// How often [`watch`] asks for the parent pid when it is watched.
pub const PARENT_POLL: Duration = Duration::from_millis(200);

/// fd 1 without std's line buffering, so each `write` is one write(2) of exactly what `run`
/// chose to put together. Never closed (ManuallyDrop).
pub fn raw() -> std::mem::ManuallyDrop<std::fs::File> {
    use std::os::unix::io::FromRawFd;
    // SAFETY: fd 1 stays open for the whole process; ManuallyDrop never closes it.
    std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(STDOUT) })
}

/// Bytes written to stdout that its reader has not taken yet, when stdout is a pipe.
pub fn unread_bytes() -> Option<usize> {
    // SAFETY: fstat and ioctl(FIONREAD) on fd 1 write only into the locals passed.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(STDOUT, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFIFO {
            return None;
        }
        let mut n: libc::c_int = 0;
        if libc::ioctl(STDOUT, libc::FIONREAD, &mut n) != 0 {
            return None;
        }
        Some(n.max(0) as usize)
    }
}

/// Stdout when it is a pipe: how much a write can hand over without sleeping.
pub struct Pipe {
    capacity: usize,
}

impl Pipe {
    /// Some when stdout is a pipe. Asks the kernel for a 1 MiB pipe (the default
    /// /proc/sys/fs/pipe-max-size; a smaller pipe is kept when refused), so pages go out in
    /// few large writes instead of thousands of PIPE_BUF-sized ones.
    pub fn open() -> Option<Pipe> {
        unread_bytes()?;
        // SAFETY: fcntl on fd 1 with integer arguments only.
        let capacity = unsafe {
            libc::fcntl(STDOUT, libc::F_SETPIPE_SZ, 1 << 20);
            libc::fcntl(STDOUT, libc::F_GETPIPE_SZ)
        };
        Some(Pipe { capacity: capacity.max(0) as usize })
    }

    /// Bytes a write can put in the pipe now without waiting for the reader, with two pages of
    /// margin (the pipe fills page by page, and the last page written may be partly used). A
    /// write that fits is copied whole before write(2) returns, so no signal can cut it.
    pub fn room(&self) -> usize {
        let unread = unread_bytes().unwrap_or(self.capacity);
        self.capacity.saturating_sub(unread + 2 * 4096)
    }
}

/// When stdout is a regular file, flushes its written data to disk (fdatasync): the
/// checkpoint is fsynced before it moves, so the lines it covers must be on disk first, or a
/// power loss could keep the checkpoint and lose the lines.
pub fn sync_if_file() -> std::io::Result<()> {
    // SAFETY: fstat and fdatasync on fd 1 write only into the local passed.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(STDOUT, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Ok(());
        }
        if libc::fdatasync(STDOUT) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// How long `run` leaves a reader that took the last bytes of a batch into its own buffer to
/// process them before the batch is acknowledged.
pub const SETTLE: Duration = Duration::from_millis(50);
