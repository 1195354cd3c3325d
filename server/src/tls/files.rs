//! Reading certificates, keys and CAs from PEM files (`tls-cert-file`, `tls-key-file`,
//! `tls-key-file-pass`, `tls-ca-cert-file`, `tls-ca-cert-dir`). Errors name the file and
//! what is wrong with it: they end up in the log and in CONFIG SET's refusal.

use std::path::Path;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::RootCertStore;

/// Certificate files larger than this are refused: a chain is a few kilobytes.
const MAX_PEM_BYTES: u64 = 4 << 20;

fn read(path: &str, what: &str) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{what} '{path}': {e}"))?;
    if meta.len() > MAX_PEM_BYTES {
        return Err(format!(
            "{what} '{path}' is larger than {MAX_PEM_BYTES} bytes"
        ));
    }
    std::fs::read(path).map_err(|e| format!("{what} '{path}': {e}"))
}

/// Every certificate in a PEM file, in order (the leaf first, then its chain).
pub fn certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path, "certificate file")?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("certificate file '{path}': {e:?}"))?;
    if certs.is_empty() {
        return Err(format!("certificate file '{path}' holds no certificate"));
    }
    Ok(certs)
}

/// The private key in a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC), or PKCS#8 encrypted
/// with `pass` (PBES2: PBKDF2 or scrypt with AES-CBC, what `openssl pkcs8 -topk8 -v2` and
/// `openssl genpkey -aes256` write). Legacy OpenSSL-encrypted PEM (`Proc-Type: 4,ENCRYPTED`)
/// is refused: convert it with `openssl pkcs8 -topk8`.
pub fn key(path: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path, "key file")?;
    let text = String::from_utf8_lossy(&pem);
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "key file '{path}' uses legacy OpenSSL PEM encryption, which is not supported: convert it to encrypted PKCS#8 with 'openssl pkcs8 -topk8 -v2 aes-256-cbc'"
        ));
    }
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        if pass.is_empty() {
            return Err(format!(
                "key file '{path}' is encrypted and tls-key-file-pass is not set"
            ));
        }
        let (label, der) =
            pkcs8::der::pem::decode_vec(&pem).map_err(|e| format!("key file '{path}': {e}"))?;
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(format!(
                "key file '{path}': unexpected PEM section '{label}'"
            ));
        }
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der.as_slice())
            .map_err(|e| format!("key file '{path}': {e}"))?;
        let plain = info.decrypt(pass.as_bytes()).map_err(|e| {
            format!("key file '{path}' could not be decrypted with tls-key-file-pass: {e}")
        })?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| format!("key file '{path}': {e:?}"))
}

/// The trusted CAs: every certificate of `file`, and of each file in `dir` (OpenSSL's
/// hashed-directory layout is read as plain files; what does not parse is skipped).
pub fn roots(file: &str, dir: &str) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    if !file.is_empty() {
        for c in certs(file)? {
            store
                .add(c)
                .map_err(|e| format!("CA certificate file '{file}': {e}"))?;
        }
    }
    if !dir.is_empty() {
        let entries = std::fs::read_dir(Path::new(dir))
            .map_err(|e| format!("CA certificate dir '{dir}': {e}"))?;
        for entry in entries.flatten().take(10_000) {
            let p = entry.path();
            if !p.is_file() {
                continue;
            }
            if let Ok(cs) = certs(&p.to_string_lossy()) {
                for c in cs {
                    let _ = store.add(c);
                }
            }
        }
    }
    Ok(store)
}
