//! Issue 20, reaching Slack from an enterprise network, with real parts: stunnel in front of the
//! simulator with a certificate from a private CA (made here with openssl), and tinyproxy with
//! `BasicAuth`. `ca_file`, `SSL_CERT_FILE`, an untrusted CA (fails fast, issuer named), `proxy`
//! with a password (the exact set through the proxy; the password in no output), a wrong proxy
//! password (fails fast), `no_proxy`, and the Fluent Bit plugin with `ca_file` and `proxy`.
//! scripts/install-deps.sh installs openssl, stunnel4 and tinyproxy.

mod cbuild;
mod common;
mod flb;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "auditor";
const PASSWORD: &str = "Canary-Proxy-Pw-731";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_listening(port: u16, what: &str, child: &mut Child) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} exited at start ({st}): run scripts/install-deps.sh");
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{what} did not start");
        std::thread::sleep(Duration::from_millis(30));
    }
}

/// A child process killed on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out =
        Command::new("openssl").current_dir(dir).args(args).output().expect("openssl: run scripts/install-deps.sh");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The parts: a simulator, stunnel with a private CA's certificate in front of it, tinyproxy
/// with a password, and a second CA that signed nothing.
struct Net {
    sim: slack_audit_sim::Sim,
    dir: tempfile::TempDir,
    tls_port: u16,
    proxy_port: u16,
    _stunnel: Daemon,
    _proxy: Daemon,
}

impl Net {
    fn start() -> Net {
        let sim = sim(3_000, 500, |c| c.max_calls_per_minute = 0);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca_subj = "/O=Example Corp/CN=Example Corp Inspection CA";
        openssl(
            d,
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", ca_subj, "-keyout", "ca.key",
                "-out", "ca.pem",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=Other CA",
                "-keyout",
                "other.key",
                "-out",
                "other.pem",
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
            ],
        );
        std::fs::write(d.join("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                "server.pem",
            ],
        );
        let sim_port: u16 = sim.audit_url().split(':').nth(2).unwrap().split('/').next().unwrap().parse().unwrap();
        let tls_port = free_port();
        std::fs::write(
            d.join("stunnel.conf"),
            format!(
                "foreground = yes\npid =\noutput = {}\n[sim]\naccept = 127.0.0.1:{tls_port}\nconnect = 127.0.0.1:{sim_port}\ncert = {}\nkey = {}\n",
                d.join("stunnel.log").display(),
                d.join("server.pem").display(),
                d.join("server.key").display()
            ),
        )
        .unwrap();
        let mut stunnel = Command::new("stunnel4")
            .arg(d.join("stunnel.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stunnel4: run scripts/install-deps.sh");
        wait_listening(tls_port, "stunnel4", &mut stunnel);
        let proxy_port = free_port();
        std::fs::write(
            d.join("tinyproxy.conf"),
            format!(
                "Port {proxy_port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 20\nBasicAuth {USER} {PASSWORD}\nLogLevel Info\nLogFile \"{}\"\nPidFile \"{}\"\n",
                d.join("tinyproxy.log").display(),
                d.join("tinyproxy.pid").display()
            ),
        )
        .unwrap();
        let mut proxy = Command::new("tinyproxy")
            .arg("-d")
            .arg("-c")
            .arg(d.join("tinyproxy.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy: run scripts/install-deps.sh");
        wait_listening(proxy_port, "tinyproxy", &mut proxy);
        Net { sim, dir, tls_port, proxy_port, _stunnel: Daemon(stunnel), _proxy: Daemon(proxy) }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn api_url(&self) -> String {
        format!("https://localhost:{}/audit/v1", self.tls_port)
    }

    fn proxy(&self, password: &str) -> String {
        format!("http://{USER}:{password}@127.0.0.1:{}", self.proxy_port)
    }

    fn proxy_log(&self) -> String {
        std::fs::read_to_string(self.path("tinyproxy.log")).unwrap_or_default()
    }

    /// The CLI with no proxy or trust settings from this process's environment.
    fn cli(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_slack-audit"));
        for v in
            ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"]
        {
            c.env_remove(v);
        }
        c.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
        c.args(["--log-level", "debug"]).args(args).env("SLACK_AUDIT_TOKEN", TOKEN).stdin(Stdio::null());
        c
    }

    /// `run --once` into a fresh state directory; the output and the ids printed.
    fn run_once(&self, state: &str, args: &[&str]) -> (Output, Vec<String>) {
        let state = self.path(state);
        let api = self.api_url();
        let mut all = vec!["run", "--once", "--api-url", &api, "--lag", "0", "--limit", "1000"];
        let state_s = state.display().to_string();
        all.extend(["--state-dir", &state_s]);
        all.extend(args);
        let out = self.cli(&all).output().unwrap();
        let ids = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| entry_id(l.as_bytes()))
            .collect();
        (out, ids)
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// No output and no file under `dir` holds the proxy password.
fn assert_no_password(what: &str, texts: &[&str], dir: Option<&Path>) {
    for t in texts {
        assert!(!t.contains(PASSWORD) && !t.contains("Canary-Proxy"), "{what}: the proxy password is shown: {t}");
    }
    if let Some(dir) = dir {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            assert!(!text.contains("Canary-Proxy"), "{what}: {} holds the proxy password", p.display());
        }
    }
}

#[test]
fn a_private_ca_and_an_authenticating_proxy() {
    let net = Net::start();
    let ca = net.path("ca.pem").display().to_string();

    // ca_file: the exact set over TLS signed by the private CA.
    let (out, ids) = net.run_once("s1", &["--ca-file", &ca]);
    assert!(out.status.success(), "ca_file: {}", stderr(&out));
    assert_eq!(compare(&ids, &net.sim.dataset()), 0, "duplicates");
    assert!(stderr(&out).contains(&format!("and ca_file {ca} (1 certificate)")), "no trust line: {}", stderr(&out));

    // SSL_CERT_FILE: the CA as the system trust store, as OpenSSL and curl read it.
    let out = net.cli(&["check", "--api-url", &net.api_url()]).env("SSL_CERT_FILE", &ca).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "SSL_CERT_FILE: {said}{}", stderr(&out));
    assert!(said.contains(&format!("SSL_CERT_FILE {ca}")) && said.contains("ok: TLS"), "{said}");

    // An untrusted CA: one attempt, exit 2 (not 75), issuer and subject named, what to do said.
    let other = net.path("other.pem").display().to_string();
    let (out, ids) = net.run_once("s2", &["--ca-file", &other, "--max-retries", "8"]);
    let err = stderr(&out);
    eprintln!("untrusted CA: {err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(ids.is_empty());
    assert!(
        err.contains("Example Corp Inspection CA") && err.contains("CN=localhost"),
        "issuer/subject not named: {err}"
    );
    assert!(err.contains("ca_file") && err.contains("update-ca-certificates"), "{err}");
    assert!(!err.contains("retry 1/"), "a certificate failure was retried: {err}");
    assert_eq!(err.lines().filter(|l| l.contains("failed verification")).count(), 1, "said twice: {err}");
    let out = net.cli(&["check", "--api-url", &net.api_url()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("TLS failed") && stderr(&out).contains("Example Corp Inspection CA"),
        "{}",
        stderr(&out)
    );

    // proxy with a password: the exact set through the proxy, the password nowhere.
    let proxy = net.proxy(PASSWORD);
    let before = net.proxy_log().matches("CONNECT").count();
    let (out, ids) = net.run_once("s3", &["--ca-file", &ca, "--proxy", &proxy]);
    let (so, se) = (String::from_utf8_lossy(&out.stdout).into_owned(), stderr(&out));
    assert!(out.status.success(), "proxy: {se}");
    assert_eq!(compare(&ids, &net.sim.dataset()), 0, "duplicates");
    assert!(net.proxy_log().matches("CONNECT").count() > before, "nothing went through the proxy: {}", net.proxy_log());
    assert!(se.contains(&format!("through the proxy http://{USER}:***@127.0.0.1:{}", net.proxy_port)), "{se}");
    assert_no_password("run through the proxy", &[&so, &se], Some(&net.path("s3")));
    let out = net.cli(&["check", "--api-url", &net.api_url(), "--ca-file", &ca, "--proxy", &proxy]).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(out.status.success() && said.contains("ok: proxy CONNECT"), "{said}");
    assert_no_password("check through the proxy", &[&said], None);
    let out = net.cli(&["validate", "--proxy", &proxy]).output().unwrap();
    assert_no_password("validate", &[&String::from_utf8_lossy(&out.stdout), &stderr(&out)], None);
    // A bad proxy value is not echoed with its password.
    let out = net.cli(&["validate", "--proxy", &format!("ftp://{USER}:{PASSWORD}@x:1")]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_no_password("bad proxy value", &[&stderr(&out)], None);

    // A wrong proxy password: one attempt, exit 2, the proxy and its status named.
    let wrong = net.proxy("Canary-Proxy-wrong");
    let (out, _) = net.run_once("s4", &["--ca-file", &ca, "--proxy", &wrong, "--max-retries", "8"]);
    let err = stderr(&out);
    eprintln!("wrong proxy password: {err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("127.0.0.1:{}", net.proxy_port))
            && (err.contains("HTTP 407") || err.contains("HTTP 401")),
        "{err}"
    );
    assert!(!err.contains("retry 1/"), "a proxy refusal was retried: {err}");
    assert_no_password("wrong password", &[&err], Some(&net.path("s4")));

    // no_proxy: a proxy that is not there, bypassed for localhost.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let (out, ids) = net.run_once("s5", &["--ca-file", &ca, "--proxy", &dead, "--no-proxy", "example.com,localhost"]);
    assert!(out.status.success(), "no_proxy: {}", stderr(&out));
    assert_eq!(compare(&ids, &net.sim.dataset()), 0, "duplicates");
}

/// The Fluent Bit plugin (in the Fluent Bit host emulator) with `ca_file` and `proxy`: the
/// exact set, the password in none of its output.
#[test]
fn the_fluent_bit_plugin_through_the_proxy_with_ca_file() {
    cbuild::build_c();
    let net = Net::start();
    let out = net.path("flb.txt");
    let mut props = flb::props(&net.sim, &net.path("flb-state"), 1000);
    props.retain(|p| !p.starts_with("api_url="));
    props.push(format!("api_url={}", net.api_url()));
    props.push(format!("ca_file={}", net.path("ca.pem").display()));
    props.push(format!("proxy={}", net.proxy(PASSWORD)));
    let n = net.sim.dataset().len();
    let mut host = flb::host();
    for v in
        ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"]
    {
        host.env_remove(v);
    }
    let r = flb::run(host, &["-n", &n.to_string(), "-t", "60000"], &[(&out, props)], net.sim.token());
    assert!(r.out.status.success(), "{}", cbuild::describe(&r.out));
    let ids: Vec<String> = flb::records(&out).into_iter().map(|(id, _, _)| id).collect();
    assert_eq!(compare(&ids, &net.sim.dataset()), 0, "duplicates");
    assert!(net.proxy_log().contains("CONNECT"), "nothing went through the proxy");
    assert_no_password("plugin", &[&r.stderr(), &String::from_utf8_lossy(&r.out.stdout)], Some(&net.path("flb-state")));
}
