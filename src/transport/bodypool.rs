//! Page bodies given back when their page is dropped, reused by the next reads. Shared by the
//! transport ([`crate::transport::http`], which reads into them) and the pages ([`crate::source::slack::Page`],
//! which give them back), so neither has to know the other.

use std::sync::{Arc, Mutex};

/// Bodies of dropped pages, for the next reads. A backfill then reads every page into one of a
/// few buffers allocated once, instead of allocating and freeing a multi-megabyte buffer per page, which fragments the
/// allocator's heap (peak RSS then grows with the backfill) and faults fresh pages in each time.
#[derive(Default)]
pub struct BodyPool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// About the pages alive at once: one being read, one in the mailbox, one with the host.
const POOL_MAX: usize = 4;

impl BodyPool {
    /// An empty buffer with room for `want` bytes. A pooled buffer far larger than needed (the
    /// backfill is over, pages are small now) is freed rather than kept.
    pub fn take(&self, want: usize) -> Vec<u8> {
        let pooled = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(mut v) if v.capacity() >= want && v.capacity() <= want.saturating_mul(4) => {
                v.clear();
                v
            }
            // Too small (or far too large): freed before the new one is allocated. Growing it
            // instead would make realloc copy it, with both alive at once; and the slack lets
            // the next, slightly larger pages fit.
            other => {
                drop(other);
                Vec::with_capacity(want.saturating_add(want / 8))
            }
        }
    }

    /// Takes back a body that is no longer used.
    pub fn give(&self, v: Vec<u8>) {
        if v.capacity() >= 64 * 1024 {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            if free.len() < POOL_MAX {
                free.push(v);
            }
        }
    }
}

impl std::fmt::Debug for BodyPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyPool")
    }
}

/// A buffer that goes back to its pool when dropped: a page's body that now holds something else
/// (the batch's Fluent Bit records written over it), so the next read takes it once the host is
/// done with it. Without a pool it is an ordinary buffer.
pub struct Pooled {
    bytes: Vec<u8>,
    pool: Option<Arc<BodyPool>>,
}

impl Pooled {
    pub fn new(bytes: Vec<u8>, pool: Option<Arc<BodyPool>>) -> Pooled {
        Pooled { bytes, pool }
    }
}

impl std::ops::Deref for Pooled {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give(std::mem::take(&mut self.bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pooled_buffer_goes_back_when_dropped() {
        let pool = Arc::new(BodyPool::default());
        let v = Vec::with_capacity(100 * 1024);
        let ptr = v.as_ptr();
        drop(Pooled::new(v, Some(pool.clone())));
        let next_read = pool.take(90 * 1024);
        assert_eq!(next_read.as_ptr(), ptr, "the next read takes the same buffer");
        drop(Pooled::new(vec![1, 2, 3], None));
    }
}
