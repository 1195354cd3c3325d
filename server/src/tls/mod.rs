//! TLS for client connections, replication and the cluster bus, with rustls (no OpenSSL).
//!
//! The configuration (`tls-*` parameters) is turned into [`Contexts`]: the acceptor for the
//! client port, the acceptor for the cluster bus (which always asks for a client certificate:
//! only holders of a certificate from the cluster CA may speak on it) and the connector used
//! to dial primaries and other nodes. The current contexts are held in [`Tls`]; CONFIG SET
//! builds new ones first and swaps them in only when they loaded, so a bad certificate leaves
//! the node serving with the old ones. Connections already open keep their session.

pub mod files;
pub mod sessions;
pub mod stream;
pub mod suites;
pub mod verify;

pub use stream::Stream;

use parking_lot::RwLock;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls::crypto::{ring, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use tokio_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// `tls-auth-clients`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client must present a certificate from the CA.
    Required,
    /// A certificate is checked if presented; none is fine.
    Optional,
    /// None is asked for.
    No,
}

/// The `tls-*` parameters, typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    pub port: u16,
    pub cert_file: String,
    pub key_file: String,
    pub key_file_pass: String,
    pub client_cert_file: String,
    pub client_key_file: String,
    pub client_key_file_pass: String,
    pub ca_cert_file: String,
    pub ca_cert_dir: String,
    pub auth_clients: ClientAuth,
    pub protocols: String,
    pub ciphersuites: String,
    pub ciphers: String,
    pub prefer_server_ciphers: bool,
    pub session_caching: bool,
    pub session_cache_size: usize,
    pub session_cache_timeout: u64,
    pub replication: bool,
    pub cluster: bool,
}

impl TlsConfig {
    /// Whether anything uses TLS (Redis loads certificates only then).
    pub fn in_use(&self) -> bool {
        self.port != 0 || self.replication || self.cluster
    }
}

/// What new connections use.
pub struct Contexts {
    /// The client port (`tls-port`), asking for certificates per `tls-auth-clients`.
    pub clients: TlsAcceptor,
    /// The cluster bus: mutual TLS, a certificate from the CA required.
    pub bus: TlsAcceptor,
    /// Dialing primaries and other nodes, presenting `tls-client-cert-file` (or
    /// `tls-cert-file`).
    pub connector: TlsConnector,
}

impl Contexts {
    /// Dials over TLS on an open TCP connection to `host`.
    pub async fn connect(&self, tcp: tokio::net::TcpStream, host: &str) -> std::io::Result<Stream> {
        let name = ServerName::try_from(host.trim_matches(|c| c == '[' || c == ']').to_string())
            .map_err(|e| std::io::Error::other(format!("bad TLS server name {host}: {e}")))?;
        let s = self.connector.connect(name, tcp).await?;
        Ok(Stream::Tls(Box::new(tokio_rustls::TlsStream::Client(s))))
    }
}

/// The contexts in use (none while TLS is off).
#[derive(Default)]
pub struct Tls {
    current: RwLock<Option<Arc<Contexts>>>,
}

impl Tls {
    pub fn get(&self) -> Option<Arc<Contexts>> {
        self.current.read().clone()
    }

    pub fn install(&self, c: Option<Contexts>) {
        *self.current.write() = c.map(Arc::new);
    }
}

/// How long a TLS handshake may take before the connection is dropped: a peer that opens
/// connections and never finishes them must not hold them forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The ring provider, by choice: aws-lc-rs (rustls's default) builds C with cmake and takes
/// minutes; ring's one deprecation note is that it lacks post-quantum key exchange.
#[allow(deprecated)]
fn provider(cfg: &TlsConfig) -> Result<Arc<CryptoProvider>, String> {
    let mut p = ring::default_provider();
    p.cipher_suites = suites::suites(&cfg.ciphersuites, &cfg.ciphers)?;
    Ok(Arc::new(p))
}

fn server_config(
    cfg: &TlsConfig,
    provider: &Arc<CryptoProvider>,
    roots: &Arc<RootCertStore>,
    auth: ClientAuth,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, String> {
    let versions = suites::protocols(&cfg.protocols)?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS protocols and ciphers: {e}"))?;
    let builder = match auth {
        ClientAuth::No => builder.with_no_client_auth(),
        ClientAuth::Required | ClientAuth::Optional => {
            if roots.is_empty() {
                return Err(
                    "tls-auth-clients asks for client certificates: set tls-ca-cert-file or tls-ca-cert-dir"
                        .into(),
                );
            }
            let v = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
            let v = if auth == ClientAuth::Optional {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| e.to_string())?)
        }
    };
    let mut sc = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    sc.ignore_client_order = cfg.prefer_server_ciphers;
    if cfg.session_caching {
        sc.session_storage = Arc::new(sessions::SessionCache::new(
            cfg.session_cache_size,
            Duration::from_secs(cfg.session_cache_timeout),
        ));
    } else {
        sc.session_storage = Arc::new(NoServerSessionStorage {});
        sc.send_tls13_tickets = 0;
    }
    Ok(sc)
}

/// Loads certificates and keys and builds the contexts; the error says what failed.
pub fn build(cfg: &TlsConfig) -> Result<Contexts, String> {
    if cfg.cert_file.is_empty() || cfg.key_file.is_empty() {
        return Err("TLS needs tls-cert-file and tls-key-file".into());
    }
    let provider = provider(cfg)?;
    let chain = files::certs(&cfg.cert_file)?;
    let key = files::key(&cfg.key_file, &cfg.key_file_pass)?;
    let roots = Arc::new(files::roots(&cfg.ca_cert_file, &cfg.ca_cert_dir)?);
    let clients = server_config(
        cfg,
        &provider,
        &roots,
        cfg.auth_clients,
        chain.clone(),
        key.clone_key(),
    )?;
    // The bus asks for a certificate whatever tls-auth-clients says; without a CA it
    // cannot, which only matters when tls-cluster is on.
    let bus_auth = if roots.is_empty() {
        ClientAuth::No
    } else {
        ClientAuth::Required
    };
    if cfg.cluster && roots.is_empty() {
        return Err("tls-cluster needs tls-ca-cert-file or tls-ca-cert-dir".into());
    }
    let bus = server_config(
        cfg,
        &provider,
        &roots,
        bus_auth,
        chain.clone(),
        key.clone_key(),
    )?;
    let (client_chain, client_key) = if cfg.client_cert_file.is_empty() {
        (chain, key)
    } else {
        (
            files::certs(&cfg.client_cert_file)?,
            files::key(&cfg.client_key_file, &cfg.client_key_file_pass)?,
        )
    };
    let versions = suites::protocols(&cfg.protocols)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS protocols and ciphers: {e}"))?;
    let connector = if roots.is_empty() {
        None
    } else {
        let inner = tokio_rustls::rustls::client::WebPkiServerVerifier::builder_with_provider(
            roots,
            provider.clone(),
        )
        .build()
        .map_err(|e| e.to_string())?;
        Some(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verify::ChainOnly(inner)))
                .with_client_auth_cert(client_chain, client_key)
                .map_err(|e| format!("client certificate and key: {e}"))?,
        )
    };
    let connector = match connector {
        Some(c) => c,
        None if cfg.replication || cfg.cluster => {
            return Err("tls-replication and tls-cluster need tls-ca-cert-file or tls-ca-cert-dir to check the peer's certificate".into())
        }
        // Nothing dials out over TLS: a connector that trusts nothing.
        None => ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| e.to_string())?
            .with_root_certificates(RootCertStore::empty())
            .with_no_client_auth(),
    };
    Ok(Contexts {
        clients: TlsAcceptor::from(Arc::new(clients)),
        bus: TlsAcceptor::from(Arc::new(bus)),
        connector: TlsConnector::from(Arc::new(connector)),
    })
}

/// Builds the contexts the configuration asks for: `Ok(None)` when TLS is not in use.
pub fn load(cfg: &TlsConfig) -> Result<Option<Contexts>, String> {
    if !cfg.in_use() {
        return Ok(None);
    }
    build(cfg).map(Some)
}
