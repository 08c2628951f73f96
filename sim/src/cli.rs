//! `slack-audit sim`: the simulator in the foreground until SIGTERM/SIGINT or a duration.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::{Sim, SimConfig};

static STOP_SIGNAL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP_SIGNAL.store(true, Ordering::SeqCst);
}

/// Runs the simulator in the foreground for `slack-audit sim`: prints
/// `listening on http://127.0.0.1:PORT` as one line on stdout, serves until SIGTERM/SIGINT or
/// until `duration` seconds pass, then prints the final stats as JSON on stderr.
/// `port` (when not 0) overrides `config.port`.
pub fn run_cli(mut config: SimConfig, port: u16, duration: Option<u64>) -> io::Result<()> {
    if port != 0 {
        config.port = port;
    }
    STOP_SIGNAL.store(false, Ordering::SeqCst);
    let handler = on_stop_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    let (old_int, old_term) = unsafe { (libc::signal(libc::SIGINT, handler), libc::signal(libc::SIGTERM, handler)) };
    let result = (|| {
        let sim = Sim::start(config)?;
        {
            let mut out = io::stdout().lock();
            writeln!(out, "listening on http://{}", sim.addr())?;
            out.flush()?;
        }
        let deadline = duration.map(|d| Instant::now() + Duration::from_secs(d));
        while !STOP_SIGNAL.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let stats = sim.stats();
        sim.shutdown();
        eprintln!("sim stats: {}", serde_json::to_string(&stats).unwrap_or_default());
        Ok(())
    })();
    // SAFETY: restores the dispositions that were in place before.
    unsafe {
        libc::signal(libc::SIGINT, old_int);
        libc::signal(libc::SIGTERM, old_term);
    }
    result
}
