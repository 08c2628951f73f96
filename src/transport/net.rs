//! The way to Slack from an enterprise network: which certificates are trusted (the system's
//! trust store as OpenSSL and curl find it, plus `ca_file`; Mozilla's roots only where the
//! system has none), which proxy carries the requests (`proxy`/`no_proxy`, else the
//! environment), and what a refused certificate or a refusing proxy means.
//!
//! ureq makes the connections; this module gives it a connector chain of its own (CONNECT
//! proxy, TCP, then [`TlsConnector`]) because ureq's TLS connector takes no custom certificate
//! verifier, and the one here ([`Remembering`]) keeps the certificate it refused so the error
//! can name its issuer and subject. Nothing here prints a proxy password: proxies are shown
//! through [`shown_proxy`].

use crate::config::Config;
use crate::error::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned};
use std::fmt;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport, TransportAdapter,
};
use ureq::{Proxy, ProxyProtocol};

/// The certificates of the system trust store, loaded once per process (a Fluent Bit with
/// several inputs, a collector per `check`), with the text that says where they came from.
struct SystemRoots {
    certs: Vec<CertificateDer<'static>>,
    source: String,
}

fn system_roots() -> &'static SystemRoots {
    static ROOTS: OnceLock<SystemRoots> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        let file = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty());
        let dir = std::env::var_os("SSL_CERT_DIR").filter(|v| !v.is_empty());
        let mut places = Vec::new();
        if file.is_some() || dir.is_some() {
            if let Some(f) = file {
                places.push(format!("SSL_CERT_FILE {}", Path::new(&f).display()));
            }
            if let Some(d) = dir {
                places.push(format!("SSL_CERT_DIR {}", Path::new(&d).display()));
            }
        } else {
            let probe = openssl_probe::probe();
            places.extend(probe.cert_file.iter().map(|f| f.display().to_string()));
            places.extend(probe.cert_dir.iter().map(|d| d.display().to_string()));
        }
        let places = if places.is_empty() { "no file found".to_string() } else { places.join(", ") };
        SystemRoots {
            source: format!("the system trust store ({places}: {} certificates)", loaded.certs.len()),
            certs: loaded.certs,
        }
    })
}

/// What a client built from one [`Config`] trusts and which proxy it uses.
pub struct Network {
    pub(crate) tls: Arc<ClientConfig>,
    /// The end-entity certificate of the last failed verification (DER).
    pub(crate) refused_cert: Arc<Mutex<Option<Vec<u8>>>>,
    pub(crate) proxy: Option<Proxy>,
    trusted: Arc<Trusted>,
    insecure: bool,
    /// Which proxy is used, password replaced by `***`.
    pub route: String,
}

impl Network {
    /// Loads the trust store and `ca_file`, and settles the proxy. Errors are
    /// [`ErrorKind::Config`](crate::error::ErrorKind::Config): `ca_file` unreadable or without a
    /// certificate.
    pub fn new(cfg: &Config, reads: &[&str]) -> Result<Network, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut extra = Vec::new();
        if let Some(path) = &cfg.ca_file {
            let what = format!("option `ca_file`: {}", path.display());
            let loaded = rustls_native_certs::load_certs_from_paths(Some(path), None);
            if let Some(e) = loaded.errors.first() {
                return Err(Error::config(format!("{what} cannot be read: {e}; give the path of a PEM file")));
            }
            let mut probe = RootCertStore::empty();
            let (added, _) = probe.add_parsable_certificates(loaded.certs.iter().cloned());
            if added == 0 {
                return Err(Error::config(format!(
                    "{what} holds no usable PEM certificate (-----BEGIN CERTIFICATE-----); give your CA's certificate in PEM form"
                )));
            }
            extra.push((path.display().to_string(), loaded.certs));
        }
        let (proxy, from) = proxy_for(cfg)?;
        let trusted = Arc::new(Trusted { extra, provider: provider.clone(), built: OnceLock::new() });
        // The system trust store (about 150 files on Debian: 5 % of a 30,000-event run's
        // instructions) is read when a connection first needs TLS, or now when one will: then a
        // bad store shows at startup and the log can say what is trusted. `reads`: the base
        // URLs the caller will read (the collector: its sources' tiers).
        let https = |url: &str| url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        let tls_ahead = reads.iter().any(|u| https(u))
            || proxy.as_ref().is_some_and(|p| p.protocol() == ProxyProtocol::Https);
        if tls_ahead && !cfg.tls_insecure {
            trusted.verifier().map_err(Error::config)?;
        }
        let refused_cert = Arc::new(Mutex::new(None));
        let remembering = Remembering { trusted: trusted.clone(), insecure: cfg.tls_insecure, refused: refused_cert.clone() };
        let tls = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| Error::config(format!("TLS setup failed: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(remembering))
            .with_no_client_auth();
        let route = match &proxy {
            Some(p) => format!("through the proxy {} ({from})", shown_proxy(p)),
            None => "direct (no proxy configured)".to_string(),
        };
        Ok(Network { tls: Arc::new(tls), refused_cert, proxy, trusted, insecure: cfg.tls_insecure, route })
    }

    /// Which certificates are trusted, as the startup log and `check` say it (file paths only).
    pub fn trust(&self) -> String {
        match self.trusted.built.get() {
            _ if self.insecure => "no certificate at all (tls_insecure)".into(),
            Some(Ok((_, text))) => text.clone(),
            Some(Err(e)) => format!("nothing: {e}"),
            None => "nothing yet: no URL is https (the system trust store is read if a connection needs TLS)".into(),
        }
    }

    /// The line the startup log and `check` print.
    pub fn summary(&self) -> String {
        format!("network: trusting {}; {}", self.trust(), self.route)
    }

    /// Whether a request to `host` goes through the proxy.
    pub fn proxied(&self, url: &str) -> Option<&Proxy> {
        let p = self.proxy.as_ref()?;
        let uri: ureq::http::Uri = url.parse().ok()?;
        (!p.is_no_proxy(&uri)).then_some(p)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `proto://user:***@host:port`: a proxy as it may be shown.
pub fn shown_proxy(p: &Proxy) -> String {
    let scheme = if p.protocol() == ProxyProtocol::Https { "https" } else { "http" };
    let user = match (p.username(), p.password()) {
        (Some(u), Some(_)) => format!("{u}:***@"),
        (Some(u), None) => format!("{u}@"),
        (None, Some(_)) => "***@".to_string(),
        (None, None) => String::new(),
    };
    format!("{scheme}://{user}{}:{}", p.host(), p.port())
}

/// The `NO_PROXY` list, curl's way: `example.com` also covers its subdomains, `.example.com`
/// and `*.example.com` the subdomains, `*` everything. Ports and CIDR ranges are not understood.
fn no_proxy_entries(list: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let e = e.to_ascii_lowercase();
        if e == "*" || e.starts_with('.') || e.starts_with('*') || e.parse::<std::net::IpAddr>().is_ok() {
            out.push(e);
        } else {
            out.push(format!(".{e}"));
            out.push(e);
        }
    }
    out
}

/// The proxy to use and where it came from: `proxy` (with `no_proxy`, else `NO_PROXY`), else
/// the environment (`ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY`, lower case too) with `no_proxy`
/// if set.
fn proxy_for(cfg: &Config) -> Result<(Option<Proxy>, &'static str), Error> {
    let env_no_proxy = || ["NO_PROXY", "no_proxy"].iter().find_map(|v| std::env::var(v).ok());
    let no_proxy = cfg.no_proxy.clone().or_else(env_no_proxy).unwrap_or_default();
    let build = |proto: ProxyProtocol, host: &str, port: u16, user: Option<&str>, pass: Option<&str>| {
        let mut b = Proxy::builder(proto).host(host).port(port);
        if let Some(u) = user {
            b = b.username(u);
        }
        if let Some(p) = pass {
            b = b.password(p);
        }
        for e in no_proxy_entries(&no_proxy) {
            b = b.no_proxy(&e);
        }
        b.build().map_err(|e| Error::config(format!("the proxy cannot be used: {e}")))
    };
    if let Some(p) = &cfg.proxy {
        let proto = if p.https { ProxyProtocol::Https } else { ProxyProtocol::Http };
        let pass = p.password.as_ref().map(|s| s.expose());
        return Ok((Some(build(proto, &p.host, p.port, p.user.as_deref(), pass)?), "option proxy"));
    }
    let Some(env) = Proxy::try_from_env() else { return Ok((None, "")) };
    if !matches!(env.protocol(), ProxyProtocol::Http | ProxyProtocol::Https) {
        return Err(Error::config(format!(
            "the proxy in the environment ({}) is not an http:// or https:// proxy; slack-audit supports CONNECT proxies only: set the option `proxy`",
            env.protocol()
        )));
    }
    let proxy = build(env.protocol(), env.host(), env.port(), env.username(), env.password())?;
    Ok((Some(proxy), "from the environment"))
}

/// What is trusted: the system trust store (or, where it has none, Mozilla's roots) plus
/// `ca_file`'s certificates, made into a verifier once, when first needed.
#[derive(Debug)]
struct Trusted {
    /// `ca_file`'s path as shown and its certificates (checked usable by [`Network::new`]).
    extra: Vec<(String, Vec<CertificateDer<'static>>)>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    /// The verifier and the text saying what it trusts, or why it cannot be built.
    built: OnceLock<Result<(Arc<WebPkiServerVerifier>, String), String>>,
}

impl Trusted {
    fn verifier(&self) -> Result<&(Arc<WebPkiServerVerifier>, String), String> {
        self.built
            .get_or_init(|| {
                let mut roots = RootCertStore::empty();
                let system = system_roots();
                let (added, _) = roots.add_parsable_certificates(system.certs.iter().cloned());
                let mut trust = if added > 0 {
                    system.source.clone()
                } else {
                    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
                    format!(
                        "the bundled Mozilla roots ({} certificates), as the system has no trust store",
                        webpki_roots::TLS_SERVER_ROOTS.len()
                    )
                };
                for (path, certs) in &self.extra {
                    let (added, _) = roots.add_parsable_certificates(certs.iter().cloned());
                    trust.push_str(&format!(" and ca_file {path} ({added} certificate{})", plural(added)));
                }
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                    .build()
                    .map(|v| (v, trust))
                    .map_err(|e| format!("the trusted certificates cannot be used: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The verifier, for a handshake under way.
    fn inner(&self) -> Result<&WebPkiServerVerifier, rustls::Error> {
        self.verifier().map(|(v, _)| &**v).map_err(rustls::Error::General)
    }
}

/// The certificate verifier: the system's (webpki with the trusted roots), which remembers the
/// end-entity certificate of a failed verification for the error message.
#[derive(Debug)]
struct Remembering {
    trusted: Arc<Trusted>,
    insecure: bool,
    refused: Arc<Mutex<Option<Vec<u8>>>>,
}

impl ServerCertVerifier for Remembering {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.insecure {
            return Ok(ServerCertVerified::assertion());
        }
        let verdict = self.trusted.inner()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        if verdict.is_err() {
            *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(end_entity.to_vec());
        }
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trusted.inner()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trusted.inner()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        // The provider's schemes: what webpki's verifier answers too, without reading the store.
        self.trusted.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Issuer and subject of a DER certificate, as `issued by "…" to "…"`.
pub fn describe_certificate(der: &[u8]) -> String {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => format!("issued by \"{}\" to \"{}\"", cert.issuer(), cert.subject()),
        Err(_) => "not readable as X.509".into(),
    }
}

/// ureq's connector chain with [`TlsConnector`] in place of ureq's own TLS connector.
pub(crate) fn connector(tls: Arc<ClientConfig>) -> impl Connector<()> {
    use ureq::unversioned::transport::{ConnectProxyConnector, TcpConnector};
    ().chain(ConnectProxyConnector::default()).chain(TcpConnector::default()).chain(TlsConnector { config: tls })
}

/// Wraps the connection (direct, or the tunnel through a CONNECT proxy) in rustls, as ureq's
/// own `RustlsConnector` does, with this module's verifier. A handshake error comes back as
/// `ureq::Error::Rustls`, so a refused certificate is told apart by its type.
struct TlsConnector {
    config: Arc<ClientConfig>,
}

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConnector")
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else { return Ok(None) };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or("");
        let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let name = ServerName::try_from(host.to_string()).map_err(|_| ureq::Error::Tls("invalid TLS server name"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        if let Err(e) = conn.complete_io(&mut sock) {
            return Err(match e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
                Some(tls) => ureq::Error::Rustls(tls.clone()),
                None => ureq::Error::Io(e),
            });
        }
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(TlsTransport { buffers, stream: StreamOwned { conn, sock } })))
    }
}

pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// How a request failed, for the retry loop and for `check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// Refused, reset, timed out, truncated: try again.
    Transient { step: Step, message: String },
    /// A certificate that fails verification or a proxy that refuses (401, 403, 407): a
    /// configuration problem that retrying cannot fix.
    Setup { step: Step, message: String },
}

/// The steps of reaching Slack, in order (`slack-audit check` names the one that failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Dns,
    Connect,
    ProxyConnect,
    Tls,
    Http,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::Dns => "DNS",
            Step::Connect => "TCP connect",
            Step::ProxyConnect => "proxy CONNECT",
            Step::Tls => "TLS",
            Step::Http => "HTTP",
        }
    }
}

impl HttpError {
    pub fn message(&self) -> &str {
        match self {
            HttpError::Transient { message, .. } | HttpError::Setup { message, .. } => message,
        }
    }
    pub fn step(&self) -> Step {
        match self {
            HttpError::Transient { step, .. } | HttpError::Setup { step, .. } => *step,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// The status a CONNECT proxy answered, from ureq's `ConnectProxyFailed` text
/// ("proxy server responded 407/407"): ureq keeps the status only there.
fn proxy_status(reason: &str) -> Option<u16> {
    let rest = reason.strip_prefix("proxy server responded ")?;
    rest.get(..3)?.parse().ok()
}

/// Turns ureq's error for a request to `url` into an [`HttpError`] that says what to do. Never
/// holds the proxy password or the token (neither is in ureq's errors nor in `url`).
pub(crate) fn classify(e: ureq::Error, url: &str, net: &Network) -> HttpError {
    let host = url.split("://").nth(1).and_then(|r| r.split('/').next()).unwrap_or(url).to_string();
    let transient = |step, message| HttpError::Transient { step, message };
    match e {
        ureq::Error::Timeout(t) => transient(Step::Http, format!("request timed out ({t})")),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => match net.proxied(url) {
            Some(p) => transient(
                Step::Connect,
                format!("network error: the proxy {}:{} refused the connection ({io})", p.host(), p.port()),
            ),
            None => transient(Step::Connect, format!("network error: {io}")),
        },
        ureq::Error::Io(io) => transient(Step::Http, format!("network error: {io}")),
        ureq::Error::HostNotFound => match net.proxied(url) {
            Some(p) => transient(
                Step::Dns,
                format!("the proxy host {} was not found (check the proxy setting and DNS)", p.host()),
            ),
            None => transient(Step::Dns, format!("host {host} not found (check api_url and DNS)")),
        },
        ureq::Error::ConnectionFailed => match net.proxied(url) {
            Some(p) => {
                transient(Step::Connect, format!("connection to the proxy {}:{} failed", p.host(), p.port()))
            }
            None => transient(Step::Connect, format!("connection to {host} failed")),
        },
        ureq::Error::ConnectProxyFailed(reason) => {
            let proxy = net.proxied(url).map(|p| format!("{}:{}", p.host(), p.port())).unwrap_or_default();
            match proxy_status(&reason) {
                Some(status @ (401 | 407)) => HttpError::Setup {
                    step: Step::ProxyConnect,
                    message: format!(
                        "the proxy {proxy} refused the CONNECT to {host} with HTTP {status} (authentication required or wrong): check the user and password in `proxy` (or HTTPS_PROXY); the password is given as http://user:password@host:port"
                    ),
                },
                Some(403) => HttpError::Setup {
                    step: Step::ProxyConnect,
                    message: format!(
                        "the proxy {proxy} refused the CONNECT to {host} with HTTP 403 (forbidden by its policy): ask the proxy's administrators to allow {host}, or set `no_proxy` if Slack is reachable without it"
                    ),
                },
                Some(status) => transient(
                    Step::ProxyConnect,
                    format!("the proxy {proxy} could not open a tunnel to {host}: it answered HTTP {status}"),
                ),
                None => transient(Step::ProxyConnect, format!("the proxy {proxy} failed: {reason}")),
            }
        }
        ureq::Error::Rustls(rustls::Error::InvalidCertificate(why)) => {
            let cert = net.refused_cert.lock().unwrap_or_else(|e| e.into_inner()).take();
            let who = cert.map(|der| describe_certificate(&der)).unwrap_or_else(|| "not seen".into());
            HttpError::Setup {
                step: Step::Tls,
                message: format!(
                    "the TLS certificate of {host} failed verification ({why:?}); it is {who}. If your network inspects TLS with a company CA, set `ca_file` to that CA's PEM file or install the CA in the system trust store (update-ca-certificates); trusting now {}",
                    net.trust()
                ),
            }
        }
        ureq::Error::Rustls(other) => transient(Step::Tls, format!("TLS error with {host}: {other}")),
        ureq::Error::Tls(t) => transient(Step::Tls, format!("TLS error with {host}: {t}")),
        other => transient(Step::Http, format!("HTTP error: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_follows_curl() {
        assert_eq!(no_proxy_entries(" a.com, .b.org,*,10.0.0.1,"), vec![".a.com", "a.com", ".b.org", "*", "10.0.0.1"]);
    }

    #[test]
    fn the_proxy_status_is_read_from_ureqs_reason() {
        assert_eq!(proxy_status("proxy server responded 407/407"), Some(407));
        assert_eq!(proxy_status("proxy server did not respond"), None);
    }

    #[test]
    fn a_proxy_is_shown_without_its_password() {
        let p = Proxy::builder(ProxyProtocol::Http)
            .host("proxy.corp")
            .port(3128)
            .username("alice")
            .password("canary-pw")
            .build()
            .unwrap();
        assert_eq!(shown_proxy(&p), "http://alice:***@proxy.corp:3128");
    }

    /// A network for the URLs the configured sources' tiers read, as the collector builds it.
    fn network(pairs: &[(&str, &str)]) -> Network {
        let mut all = vec![("token", "xoxp-x"), ("no_proxy", "*")];
        all.extend_from_slice(pairs);
        let cfg = Config::from_pairs(all).unwrap();
        let web = cfg.sources.iter().any(|s| *s != crate::config::Source::Audit);
        let mut reads = vec![crate::transport::governor::Tier::AuditLogs.base_url(&cfg)];
        if web {
            reads.push(crate::transport::governor::Tier::WebApiLogs.base_url(&cfg));
        }
        Network::new(&cfg, &reads).unwrap()
    }

    #[test]
    fn the_trust_store_is_read_when_a_url_the_sources_read_is_https() {
        // Plain http for what is read (the simulator): nothing read yet, and a handshake (a
        // redirect to https) reads it then.
        let plain = network(&[("api_url", "http://127.0.0.1:9/audit/v1")]);
        assert!(plain.trust().starts_with("nothing yet"), "{}", plain.trust());
        plain.trusted.inner().expect("the verifier is built when a handshake needs it");
        assert!(!plain.trust().starts_with("nothing"), "{}", plain.trust());
        // The Web API's https URL counts once a Web API source is configured.
        let web = network(&[("api_url", "http://127.0.0.1:9/audit/v1"), ("sources", "audit,access")]);
        assert!(!web.trust().starts_with("nothing"), "{}", web.trust());
        let https = network(&[]);
        assert!(https.trust().contains("certificates"), "{}", https.trust());
    }
}
