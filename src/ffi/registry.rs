//! Live handles and batches by id. The pointer handed to C is the id itself, never an address:
//! ids come from one process-wide counter and are never reused, so a stale pointer (a freed
//! batch, a shut-down handle) finds nothing even when the allocator gives its memory to a newer
//! object.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub(crate) type Registry<T> = Mutex<HashMap<usize, Arc<T>>>;

pub(crate) fn lookup<T>(reg: &'static Registry<T>, key: usize) -> Option<Arc<T>> {
    lock(reg).get(&key).cloned()
}

/// Registers `value` and returns its key: a fresh id, never zero (NULL) and never reused in
/// this process. Handles and batches share the counter, so one kind never passes for the other.
pub(crate) fn register<T>(reg: &'static Registry<T>, value: T) -> usize {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    // 2^64 registrations would take centuries; a 32-bit usize wraps after 4e9, and 0 is skipped.
    let key = loop {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed) as usize;
        if id != 0 {
            break id;
        }
    };
    lock(reg).insert(key, Arc::new(value));
    key
}

/// Removes `key`; the object lives on while someone still holds it (a call in progress).
pub(crate) fn unregister<T>(reg: &'static Registry<T>, key: usize) -> Option<Arc<T>> {
    lock(reg).remove(&key)
}

/// Locks `m`, also after a panic poisoned it: the data behind these locks stays consistent
/// (the handle's own `poisoned` flag records the panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
