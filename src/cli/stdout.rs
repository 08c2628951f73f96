//! What `run` can learn about the reader of its stdout without writing to it.
//!
//! - Gone: poll(2) on fd 1 with no events still reports POLLERR (a pipe whose read end is
//!   closed) or POLLHUP (a hung-up socket or terminal). GNU `tail -f` watches its output the
//!   same way, so that `tail -f | consumer` ends when the consumer does, even while idle.
//! - Unread bytes: on a pipe, FIONREAD on the write end counts what the reader has not taken
//!   yet. Logstash's `pipe` input stops a command with SIGKILL and closes the pipe without
//!   draining it, so bytes still in the pipe at that moment are dropped: `run` acknowledges a
//!   batch only once the pipe is empty.

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

/// Starts a thread that calls `on_gone` once, within about a second of stdout's reader going
/// away, whatever the rest of the process is doing (idle, sleeping through `interval`, waiting
/// on a rate limit or for a locked stream).
pub fn watch(on_gone: impl Fn() + Send + 'static) {
    std::thread::spawn(move || loop {
        // A pipe or socket wakes poll at once when its reader goes; the timeout only bounds how
        // long a stdout that cannot report it (a file, /dev/null) keeps this thread asleep.
        match poll_gone(1000) {
            Some(true) => return on_gone(),
            Some(false) => {}
            None => return,
        }
    });
}

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
