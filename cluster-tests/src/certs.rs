//! Test certificates made with the `openssl` CLI at test time: a CA, and server/client
//! certificates it signed (for 127.0.0.1 and localhost, usable both ways, as Redis's
//! `utils/gen-test-certs.sh` makes them). EC P-256 keys: quick to generate.

use crate::run_tool;
use std::path::PathBuf;

/// A CA and certificates it signed, in a temporary directory removed on drop.
pub struct Certs {
    pub dir: tempfile::TempDir,
}

fn openssl(args: &[&str]) {
    let (ok, out) = run_tool("openssl", args, None);
    assert!(ok, "openssl {args:?} failed: {out}");
}

impl Certs {
    /// A CA named `ca` with `server` and `client` certificates, keys in PKCS#8 PEM, and
    /// `server.enc.key`: the server key encrypted (PBES2, AES-256-CBC) with `sekret`.
    pub fn new() -> Certs {
        let dir = tempfile::Builder::new()
            .prefix("slotcache-certs-")
            .tempdir()
            .expect("cert dir");
        let c = Certs { dir };
        c.make_ca("ca");
        c.make_cert("ca", "server");
        c.make_cert("ca", "client");
        openssl(&[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:sekret",
            "-in",
            &c.path("server.key"),
            "-out",
            &c.path("server.enc.key"),
        ]);
        c
    }

    /// A self-signed CA: `<name>.crt`, `<name>.key`.
    pub fn make_ca(&self, name: &str) {
        let key = self.path(&format!("{name}.key"));
        self.genkey(&key);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &key,
            "-sha256",
            "-days",
            "2",
            "-subj",
            &format!("/CN=slotcache test {name}"),
            "-out",
            &self.path(&format!("{name}.crt")),
        ]);
    }

    fn genkey(&self, path: &str) {
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            path,
        ]);
    }

    /// A certificate `<name>.crt` / `<name>.key` signed by the CA `ca`.
    pub fn make_cert(&self, ca: &str, name: &str) {
        let key = self.path(&format!("{name}.key"));
        self.genkey(&key);
        let csr = self.path(&format!("{name}.csr"));
        openssl(&[
            "req",
            "-new",
            "-key",
            &key,
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &csr,
        ]);
        let ext = self.path(&format!("{name}.ext"));
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
        )
        .expect("ext file");
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &self.path(&format!("{ca}.crt")),
            "-CAkey",
            &self.path(&format!("{ca}.key")),
            "-CAcreateserial",
            "-days",
            "2",
            "-sha256",
            "-extfile",
            &ext,
            "-out",
            &self.path(&format!("{name}.crt")),
        ]);
    }

    /// The path of a file in the certificate directory, as a string.
    pub fn path(&self, file: &str) -> String {
        let p: PathBuf = self.dir.path().join(file);
        p.to_str().expect("utf-8 path").to_string()
    }

    /// The server options for a node serving TLS on `tls_port` with these certificates.
    pub fn server_args(&self, tls_port: u16) -> Vec<String> {
        vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            self.path("server.crt"),
            "--tls-key-file".into(),
            self.path("server.key"),
            "--tls-ca-cert-file".into(),
            self.path("ca.crt"),
        ]
    }

    /// redis-cli's options to connect with the client certificate.
    pub fn cli_args(&self) -> Vec<String> {
        vec![
            "--tls".into(),
            "--cacert".into(),
            self.path("ca.crt"),
            "--cert".into(),
            self.path("client.crt"),
            "--key".into(),
            self.path("client.key"),
        ]
    }
}

impl Default for Certs {
    fn default() -> Self {
        Self::new()
    }
}
