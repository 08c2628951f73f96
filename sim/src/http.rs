//! A minimal HTTP/1.1 server side on `std::net`, with the hooks fault injection needs
//! (send nothing, reset, or cut a body short).

use std::io::{self, Read, Write};
use std::net::TcpStream;

const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 8 * 1024 * 1024;

pub(crate) struct Request {
    pub method: String,
    pub path: String,
    /// Decoded query (and, for form POSTs, body) parameters in order.
    pub params: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub keep_alive: bool,
}

impl Request {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The last value of a parameter (empty values count as absent).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    pub(crate) fn accepts_gzip(&self) -> bool {
        self.header("accept-encoding").is_some_and(|v| v.split(',').any(|e| e.trim().split(';').next() == Some("gzip")))
    }
}

pub(crate) struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub(crate) fn json(status: u16, body: Vec<u8>) -> Response {
        Response { status, content_type: "application/json; charset=utf-8", headers: Vec::new(), body }
    }

    pub(crate) fn error(status: u16, code: &str) -> Response {
        Response::json(status, format!("{{\"ok\":false,\"error\":\"{code}\"}}").into_bytes())
    }
}

/// Percent-decoding for `application/x-www-form-urlencoded`: `+` is a space, `%2B` a plus.
pub(crate) fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(b[i + 1]), hex(b[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_form(s: &str, into: &mut Vec<(String, String)>) {
    for pair in s.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        into.push((url_decode(k), url_decode(v)));
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Reads one request. `Ok(None)` means the peer closed (or idled out) between requests.
/// `buf` carries bytes read past the end of a request (pipelining) to the next call.
pub(crate) fn read_request(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<Request>> {
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(end) = find_head_end(buf) {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "request head too large"));
        }
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => return Ok(None),
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end - 4]).into_owned();
    buf.drain(..head_end);
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (method, target, version) = match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(t), Some(v)) => (m.to_string(), t.to_string(), v.to_string()),
        _ => return Err(io::Error::new(io::ErrorKind::InvalidData, "bad request line")),
    };
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let get = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let connection = get("connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive =
        if version == "HTTP/1.0" { connection.contains("keep-alive") } else { !connection.contains("close") };
    if get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let chunked = get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let body = if chunked {
        read_chunked(stream, buf)?
    } else {
        let len: usize = get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        if len > MAX_BODY {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
        }
        fill(stream, buf, len)?;
        buf.drain(..len).collect()
    };
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let mut params = Vec::new();
    parse_form(query, &mut params);
    let content_type = get("content-type").unwrap_or("").to_ascii_lowercase();
    if !body.is_empty() {
        if content_type.starts_with("application/json") {
            if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&body) {
                for (k, v) in map {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    params.push((k, v));
                }
            }
        } else {
            parse_form(&String::from_utf8_lossy(&body), &mut params);
        }
    }
    Ok(Some(Request { method, path: path.to_string(), params, headers, keep_alive }))
}

/// Makes sure `buf` holds at least `len` bytes.
fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>, len: usize) -> io::Result<()> {
    let mut chunk = [0u8; 16 * 1024];
    while buf.len() < len {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(())
}

fn read_chunked(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = loop {
            if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
                break p;
            }
            let want = buf.len() + 1;
            fill(stream, buf, want)?;
        };
        let line = String::from_utf8_lossy(&buf[..line_end]).into_owned();
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        buf.drain(..line_end + 2);
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                let end = loop {
                    if let Some(p) = buf.windows(2).position(|w| w == b"\r\n") {
                        break p;
                    }
                    let want = buf.len() + 1;
                    fill(stream, buf, want)?;
                };
                buf.drain(..end + 2);
                if end == 0 {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "body too large"));
        }
        fill(stream, buf, size + 2)?;
        body.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Serializes the status line and headers for a body of `body_len` bytes.
pub(crate) fn head(resp: &Response, body_len: usize, gzip: bool, keep_alive: bool) -> Vec<u8> {
    let mut h = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
        resp.status,
        reason(resp.status),
        resp.content_type,
        body_len
    );
    if gzip {
        h.push_str("Content-Encoding: gzip\r\nVary: Accept-Encoding\r\n");
    }
    // As Slack does: clients may take "now" from it.
    if !resp.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("date")) {
        h.push_str(&format!("Date: {}\r\n", httpdate::fmt_http_date(std::time::SystemTime::now())));
    }
    for (k, v) in &resp.headers {
        h.push_str(k);
        h.push_str(": ");
        h.push_str(v);
        h.push_str("\r\n");
    }
    h.push_str(if keep_alive { "Connection: keep-alive\r\n\r\n" } else { "Connection: close\r\n\r\n" });
    h.into_bytes()
}

/// Bodies above this size get stored (uncompressed) deflate blocks unless a level is forced.
pub(crate) const STORED_ABOVE: usize = 1 << 20;

/// gzip-encodes `body`: deflate at `level` (6 is the usual web server default) or, with
/// `None`, level 1 up to [`STORED_ABOVE`] bytes and stored blocks above it. Stored blocks are
/// valid gzip that costs a copy and a CRC, for when the simulator must not be the bottleneck.
pub(crate) fn gzip(body: &[u8], level: Option<u32>) -> io::Result<Vec<u8>> {
    let level = match level {
        Some(l) => l.min(9),
        None if body.len() > STORED_ABOVE => 0,
        None => 1,
    };
    if level == 0 {
        return Ok(gzip_stored(body));
    }
    let mut enc =
        flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), flate2::Compression::new(level));
    enc.write_all(body)?;
    enc.finish()
}

/// A gzip member made of stored deflate blocks (RFC 1951 3.2.4, RFC 1952).
fn gzip_stored(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 65535 * 5 + 32);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    if body.is_empty() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    let mut chunks = body.chunks(65535).peekable();
    while let Some(c) = chunks.next() {
        out.push(u8::from(chunks.peek().is_none()));
        let len = c.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(c);
    }
    let mut crc = flate2::Crc::new();
    crc.update(body);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out
}

/// Closes the socket with an RST instead of a FIN (SO_LINGER with a zero timeout).
pub(crate) fn reset(stream: TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: the fd is valid for the lifetime of `stream`, and `linger` is a properly sized,
    // initialized struct that outlives the call.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    drop(stream);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_round_trips() {
        for n in [0usize, 1, 65535, 65536, 200_000] {
            let body: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
            for level in [Some(0), Some(1), Some(6), None] {
                let gz = gzip(&body, level).unwrap();
                let mut back = Vec::new();
                flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
                assert_eq!(back, body, "n={n} level={level:?}");
            }
        }
    }

    #[test]
    fn decoding() {
        assert_eq!(url_decode("a+b%2Bc%3D%3d"), "a b+c==");
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz%2"), "%zz%2");
        let mut p = Vec::new();
        parse_form("cursor=ab+/c==&limit=5&x", &mut p);
        assert_eq!(p[0], ("cursor".into(), "ab /c==".into()));
        assert_eq!(p[2], ("x".into(), "".into()));
    }
}
