//! What the CPU benches share: the thread's CPU clock, best/median of repeated runs, and one
//! real page of the simulator.

use slack_audit_sim::{Dataset, Sim, SimConfig};

/// Entries in the page: the API's largest page.
pub const ENTRIES: u32 = 9_999;
/// Timed runs per measurement, after one warm-up.
pub const RUNS: usize = 15;

/// CPU time of the calling thread, in seconds (not wall time: the machine is shared).
pub fn thread_cpu() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Best and median thread CPU seconds of `RUNS` runs after one warm-up.
pub fn measure(mut f: impl FnMut()) -> (f64, f64) {
    f();
    let mut t: Vec<f64> = (0..RUNS)
        .map(|_| {
            let t0 = thread_cpu();
            f();
            thread_cpu() - t0
        })
        .collect();
    t.sort_by(f64::total_cmp);
    (t[0], t[RUNS / 2])
}

/// One page of `ENTRIES` entries of `dataset`, uncompressed, as the simulator sends it.
pub fn sim_page(dataset: Dataset) -> Vec<u8> {
    let sim = Sim::start(SimConfig {
        events: ENTRIES as usize,
        gzip: false,
        max_calls_per_minute: 0,
        dataset,
        ..Default::default()
    })
    .expect("simulator starts");
    let url = format!("{}/logs?oldest=0&limit={ENTRIES}", sim.audit_url());
    let body = ureq::get(&url)
        .header("Authorization", format!("Bearer {}", sim.token()))
        .call()
        .expect("page")
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .expect("page body");
    sim.shutdown();
    body
}
