//! The accept loop (one thread per connection, tracked so shutdown can close and join them) and
//! each connection's keep-alive loop: read a request, route it, gzip the body when asked, and
//! carry out resets and truncated answers.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::http;
use crate::lock;
use crate::router::{route, Outcome};
use crate::shared::Shared;
use crate::stats::inc;

pub(crate) fn accept_loop(s: Arc<Shared>, listener: TcpListener) {
    let mut next_id = 0u64;
    for stream in listener.incoming() {
        if s.shutdown.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        inc(&s.c.connections);
        next_id += 1;
        let id = next_id;
        if let Ok(clone) = stream.try_clone() {
            lock(&s.conns).insert(id, clone);
        }
        let s2 = Arc::clone(&s);
        let spawned = std::thread::Builder::new().name("sim-conn".into()).spawn(move || {
            serve_conn(&s2, stream);
            lock(&s2.conns).remove(&id);
        });
        let mut threads = lock(&s.threads);
        threads.retain(|h| !h.is_finished());
        match spawned {
            Ok(h) => threads.push(h),
            Err(_) => {
                lock(&s.conns).remove(&id);
            }
        }
    }
}

fn serve_conn(s: &Shared, mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(s.idle_timeout));
    let mut buf = Vec::new();
    while !s.shutdown.load(Ordering::Relaxed) {
        let req = match http::read_request(&mut stream, &mut buf) {
            Ok(Some(r)) => r,
            _ => return,
        };
        let (gzip_on, gzip_level) = {
            let k = lock(&s.knobs);
            (k.gzip, k.gzip_level)
        };
        let gzip_ok = req.accepts_gzip() && gzip_on;
        let keep_alive = req.keep_alive;
        let (mut resp, truncate) = match route(s, &req) {
            Outcome::Reset { rst } => {
                if rst {
                    http::reset(stream);
                } else {
                    let _ = stream.shutdown(Shutdown::Both);
                }
                return;
            }
            Outcome::Send(r) => (r, false),
            Outcome::Truncate(r) => (r, true),
        };
        let body = if gzip_ok {
            match http::gzip(&resp.body, gzip_level) {
                Ok(b) => b,
                Err(_) => return,
            }
        } else {
            std::mem::take(&mut resp.body)
        };
        let head = http::head(&resp, body.len(), gzip_ok, keep_alive && !truncate);
        let sent = if truncate {
            let cut = (body.len() / 2).min(body.len().saturating_sub(1));
            stream.write_all(&head).and_then(|_| stream.write_all(&body[..cut])).and_then(|_| stream.flush())
        } else {
            stream.write_all(&head).and_then(|_| stream.write_all(&body))
        };
        if sent.is_err() || truncate || !keep_alive {
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
    }
}
