//! `slack-audit run`: hand every entry to stdout as one JSON line, flush, then acknowledge.

use super::signals::{self, Stop};
use super::ui::Ui;
use super::{exit, stdout};
use slack_audit::batch_encode;
use slack_audit::config::Config;
use slack_audit::error::{Error, ErrorKind};
use slack_audit::logs::Level;
use slack_audit::runtime::{Batch, Collected, Collection, StartOptions};
use std::io::Write;
use std::time::{Duration, Instant};

pub fn run(cfg: Config, once: bool, metrics: Option<std::net::SocketAddr>, ui: &mut Ui) -> i32 {
    // Both watchers start before the state is opened, so that a signal, a vanished reader or a
    // vanished parent also ends a wait for a stream another collector still holds.
    signals::install();
    ui.log(Level::Debug, &super::fds::report());
    // The parent is watched only while stdout is a pipe (see stdout::watch_parent): a collector
    // started in the background by a script that then exits (`nohup ... >file &`) keeps running.
    stdout::watch_parent();
    stdout::watch(|gone| {
        signals::request(match gone {
            stdout::Gone::Reader => Stop::ReaderGone,
            stdout::Gone::Parent => Stop::ParentGone,
        })
    });
    let stopped = || signals::stop_reason().is_some();
    let mut collection =
        match Collection::start_with(cfg, StartOptions { cancelled: Some(&stopped), ..Default::default() }) {
            Ok(c) => c,
            Err(e) => {
                // A wait for a stream another collector holds, ended by a signal or a vanished reader.
                if let (ErrorKind::State, Some(reason)) = (e.kind(), signals::stop_reason()) {
                    ui.log(Level::Info, &format!("{}; nothing was read: {e}", stop_message(reason)));
                    return exit::OK;
                }
                return exit::report(ui, &e);
            }
        };
    if let Some(addr) = metrics {
        match super::metrics::serve(addr, collection.stats_source()) {
            Ok(bound) => ui.log(Level::Info, &format!("metrics at http://{bound}/metrics")),
            Err(e) => {
                return exit::report(ui, &Error::config(format!("--metrics-listen {addr}: cannot listen: {e}")));
            }
        }
    }
    // One page alive instead of two: the worker reads the next page only once `run` has written
    // and dropped the last one (it then reads while `run` waits for the pipe's reader).
    collection.set_read_ahead(false);
    let interrupter = collection.interrupter();
    signals::on_stop(move || interrupter.interrupt());

    // On a pipe, each write holds whole lines and fits in the pipe's free room (or is at most
    // PIPE_BUF bytes, which the kernel makes atomic): such a write never sleeps half done, so a
    // kill -9 never leaves half a line for the reader (Logstash would turn it into a
    // _jsonparsefailure event). Only a line longer than both can be cut.
    let pipe = stdout::Pipe::open();
    let room = || pipe.as_ref().map_or(OUT_CHUNK, |p| p.room().clamp(libc::PIPE_BUF, OUT_CHUNK));
    let mut out = stdout::raw();
    let mut buf = Vec::with_capacity(OUT_CHUNK + (64 << 10));
    let code = loop {
        print_logs(&collection, ui);
        if let Some(reason) = signals::stop_reason() {
            ui.log(Level::Info, stop_message(reason));
            break exit::OK;
        }
        ui.tick(&collection.stats());
        match collection.collect(Duration::from_millis(250)) {
            Ok(Collected::Batch(mut batch)) => {
                let written = match write_in_place(&mut *out, &mut batch, &room) {
                    Ok(true) => Ok(()),
                    Ok(false) => write_batch(&mut *out, &mut buf, &batch, &room),
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    // The reader went away: nothing of this batch is acknowledged, so the next
                    // run delivers it again.
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        ui.log(Level::Info, "stdout closed; exiting without acknowledging the unwritten batch");
                        break exit::OK;
                    }
                    break exit::report(ui, &Error::output(format!("cannot write to stdout: {e}")));
                }
                // Written: the page's body goes back to the pool, and the next page is read
                // into it while the reader drains this one.
                let id = batch.id;
                drop(batch);
                collection.want_next();
                match wait_until_read() {
                    Drain::Read => {}
                    Drain::ReaderGone => {
                        ui.log(
                            Level::Info,
                            "stdout's reader (or the process that started this collector) went away before the whole batch was read; exiting without acknowledging it (the next run delivers it again)",
                        );
                        break exit::OK;
                    }
                    Drain::Unread => {
                        ui.log(
                            Level::Warn,
                            "stopping on signal while stdout's reader had not read the whole batch; it is not acknowledged (the next run delivers it again)",
                        );
                        break exit::OK;
                    }
                }
                if let Err(e) = stdout::sync_if_file() {
                    break exit::report(
                        ui,
                        &Error::output(format!(
                            "cannot flush the stdout file to disk: {e}; the batch is not acknowledged"
                        )),
                    );
                }
                if let Err(e) = collection.ack(id) {
                    break exit::report(ui, &e);
                }
            }
            Ok(Collected::Nothing) | Ok(Collected::Interrupted) => {
                if once && collection.caught_up() {
                    break exit::OK;
                }
            }
            Err(e) => match e.kind() {
                // A later attempt may succeed: the worker keeps trying, `--once` ends here.
                ErrorKind::Transient if !once => {}
                // The collection already queued the error as a log line: add only what to do.
                ErrorKind::Transient => {
                    print_logs(&collection, ui);
                    ui.log(Level::Info, "progress so far is saved; run again later");
                    break exit::code(e.kind());
                }
                // The collection already queued the error as a log line.
                ErrorKind::Refused | ErrorKind::Config => {
                    print_logs(&collection, ui);
                    break exit::code(e.kind());
                }
                ErrorKind::State => {
                    print_logs(&collection, ui);
                    break exit::report(ui, &e);
                }
                ErrorKind::Stopped => break exit::code(e.kind()),
                _ => break exit::report(ui, &e),
            },
        }
    };
    print_logs(&collection, ui);
    ui.summary(&collection.stats());
    collection.shutdown(Duration::from_millis(500));
    code
}

fn stop_message(reason: Stop) -> &'static str {
    match reason {
        Stop::Signal => "stopping on signal; everything written is acknowledged",
        Stop::ReaderGone => "stdout's reader is gone; exiting (nothing it did not read is acknowledged)",
        Stop::ParentGone => {
            "the process that started this collector is gone (e.g. Logstash killed the `sh -c` around it) and stdout is a pipe; exiting (nothing it did not read is acknowledged)"
        }
    }
}

enum Drain {
    /// The reader took every byte out of the pipe (or stdout is not a pipe).
    Read,
    /// The reader (or, stdout being a pipe, the parent) went away first.
    ReaderGone,
    /// A stop was requested and the reader did not empty the pipe within the grace.
    Unread,
}

/// After a signal, how long the reader gets to empty the pipe before `run` exits without
/// acknowledging (the batch is then delivered again: at-least-once).
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Waits until the reader has taken the written batch out of the pipe, then [`stdout::SETTLE`]
/// more: Logstash kills the command and closes the pipe without draining it, so a batch is
/// acknowledged only once nothing of it is left there.
fn wait_until_read() -> Drain {
    let mut since_stop: Option<Instant> = None;
    let mut nap = Duration::from_millis(1);
    loop {
        // A dead parent means the pipe's reader was stopped, even when it still holds the read
        // end (JRuby): what leaves the pipe now may be thrown away, so nothing is acknowledged.
        if stdout::reader_gone() || stdout::parent_gone() {
            return Drain::ReaderGone;
        }
        match stdout::unread_bytes() {
            None => return Drain::Read,
            Some(0) => break,
            Some(_) => {}
        }
        if signals::stop_reason().is_some() && since_stop.get_or_insert_with(Instant::now).elapsed() >= STOP_GRACE {
            return Drain::Unread;
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    }
    std::thread::sleep(stdout::SETTLE);
    if stdout::reader_gone() || stdout::parent_gone() {
        return Drain::ReaderGone;
    }
    Drain::Read
}

/// Output is written in chunks of about this size, so the buffer does not grow to a whole page.
const OUT_CHUNK: usize = 256 << 10;

/// Writes every event of `batch` as one line and flushes: only then may it be acknowledged.
/// Each write holds whole lines, at most `room()` bytes of them (a longer line is written
/// alone); `room` is asked again after every write.
fn write_batch(
    out: &mut impl Write,
    buf: &mut Vec<u8>,
    batch: &Batch,
    room: &dyn Fn() -> usize,
) -> std::io::Result<()> {
    buf.clear();
    let mut chunk = room();
    for i in 0..batch.len() {
        let start = buf.len();
        batch_encode::ndjson_event(buf, batch, i);
        if buf.len() > chunk && start > 0 {
            out.write_all(&buf[..start])?;
            buf.drain(..start);
            chunk = room();
        }
        if buf.len() >= chunk {
            out.write_all(buf)?;
            buf.clear();
            chunk = room();
        }
    }
    out.write_all(buf)?;
    buf.clear();
    out.flush()
}

/// [`write_batch`] for a batch whose lines are its entries' bytes as they are: the page's own
/// bytes are made to hold the lines ([`batch_encode::ndjson_in_place`]) and go out from there
/// with writev(2), one part per run of consecutive lines, instead of being copied into `buf`
/// first (77 MB per 100,000 varied events: that memcpy was about 6 % of the run's CPU samples).
/// False when the batch is not such a batch (nothing written).
///
/// The same rule as `buf`'s writes: each writev holds whole lines, at most `room()` bytes of
/// them (a longer line goes alone). On a pipe, writev and write(2) are one code path in the
/// kernel (pipe_write over an iov_iter; write(2) is its one-part case), and the atomicity and
/// sleeping decisions look only at the total length: a writev that fits in the pipe's free room
/// is copied whole before it returns, one of at most PIPE_BUF bytes is atomic, exactly as a
/// write of the same bytes. So a kill -9 cuts no line this way either.
fn write_in_place(out: &mut impl Write, batch: &mut Batch, room: &dyn Fn() -> usize) -> std::io::Result<bool> {
    use std::io::IoSlice;
    if !batch_encode::ndjson_in_place(batch) {
        return Ok(false);
    }
    let batch = &*batch;
    let body: &[u8] = &batch.page.body;
    let mut spans: Vec<std::ops::Range<usize>> = Vec::new();
    let mut i = 0;
    while i < batch.len() {
        let chunk = room();
        let mut bytes = 0;
        spans.clear();
        while i < batch.len() {
            let line = batch_encode::ndjson_line_span(batch, i);
            if bytes > 0 && bytes + line.len() > chunk {
                break;
            }
            let joins = spans.last().is_some_and(|run| run.end == line.start);
            if !joins && spans.len() == IOV_MAX {
                break;
            }
            bytes += line.len();
            match spans.last_mut() {
                Some(run) if joins => run.end = line.end,
                _ => spans.push(line),
            }
            i += 1;
        }
        let mut parts: Vec<IoSlice<'_>> = spans.iter().map(|r| IoSlice::new(&body[r.clone()])).collect();
        write_all_vectored(out, &mut parts)?;
    }
    out.flush()?;
    Ok(true)
}

/// Parts of one writev: Linux's IOV_MAX (a longer list is refused with EINVAL).
const IOV_MAX: usize = 1024;

/// Writes every byte of `parts` (write_all for writev; std's is unstable). A short write
/// resumes where it stopped.
fn write_all_vectored(out: &mut impl Write, mut parts: &mut [std::io::IoSlice<'_>]) -> std::io::Result<()> {
    while !parts.is_empty() {
        match out.write_vectored(parts) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => std::io::IoSlice::advance_slices(&mut parts, n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn print_logs(c: &Collection, ui: &mut Ui) {
    while let Some((level, msg)) = c.next_log() {
        ui.log(level, &msg);
    }
}
