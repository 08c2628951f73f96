//! The `slack-audit` command: `run` prints Slack entries as NDJSON for pipes (Logstash `pipe`,
//! Fluent Bit `in_exec`, Vector `exec`, cron); `sim` runs the bundled Slack simulator.

mod cli;

fn main() {
    std::process::exit(cli::main());
}

/// For `slack-audit run`: pages are single multi-megabyte buffers allocated and freed on two threads. glibc raises its
/// mmap threshold to the size of the last freed mmapped block, after which such pages come from
/// the heap arenas and fragment them: peak RSS then creeps up with the length of a backfill.
/// A fixed 1 MiB threshold keeps every page in its own mapping, returned whole when freed. The
/// command owns its process, so it may set this; the library never does.
pub(crate) fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; called before the collection's threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
