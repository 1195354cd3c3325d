//! `tls-protocols`, `tls-ciphersuites` and `tls-ciphers` mapped onto what rustls (with the
//! ring provider) offers. rustls has no TLS 1.0/1.1, no CBC or RSA-key-exchange suites and
//! no OpenSSL cipher-string language (`HIGH:!aNULL`): names that map one to one onto a rustls
//! suite are accepted, anything else is refused with the reason, so a configuration never
//! silently means something weaker or different from what it says.

use tokio_rustls::rustls::crypto::ring::cipher_suite as cs;
use tokio_rustls::rustls::{version, SupportedCipherSuite, SupportedProtocolVersion};

/// TLS 1.3 suites by their IANA/OpenSSL names (`tls-ciphersuites`).
const TLS13: &[(&str, SupportedCipherSuite)] = &[
    ("TLS_AES_256_GCM_SHA384", cs::TLS13_AES_256_GCM_SHA384),
    ("TLS_AES_128_GCM_SHA256", cs::TLS13_AES_128_GCM_SHA256),
    (
        "TLS_CHACHA20_POLY1305_SHA256",
        cs::TLS13_CHACHA20_POLY1305_SHA256,
    ),
];

/// TLS 1.2 suites by their OpenSSL names (`tls-ciphers`).
const TLS12: &[(&str, SupportedCipherSuite)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// `tls-protocols`: space-separated `TLSv1.2` / `TLSv1.3` (empty: both, Redis's default).
pub fn protocols(value: &str) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let mut out = Vec::new();
    for word in value.split_whitespace() {
        let v = match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => &version::TLS12,
            "tlsv1.3" => &version::TLS13,
            "tlsv1" | "tlsv1.1" => {
                return Err(format!(
                    "{word} is not supported (rustls implements TLSv1.2 and TLSv1.3 only)"
                ))
            }
            _ => return Err(format!("unknown TLS protocol '{word}'")),
        };
        if !out
            .iter()
            .any(|x: &&SupportedProtocolVersion| x.version == v.version)
        {
            out.push(v);
        }
    }
    if out.is_empty() {
        out = vec![&version::TLS13, &version::TLS12];
    }
    Ok(out)
}

fn pick(
    value: &str,
    table: &[(&str, SupportedCipherSuite)],
    what: &str,
) -> Result<Vec<SupportedCipherSuite>, String> {
    if value.trim().is_empty() || value.trim().eq_ignore_ascii_case("DEFAULT") {
        return Ok(table.iter().map(|(_, s)| *s).collect());
    }
    let mut out = Vec::new();
    for name in value.split(':').map(str::trim).filter(|n| !n.is_empty()) {
        let Some((_, s)) = table.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)) else {
            let known: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "{what} '{name}' is not available (rustls offers: {}; OpenSSL cipher strings such as HIGH or !aNULL are not supported)",
                known.join(":")
            ));
        };
        out.push(*s);
    }
    Ok(out)
}

/// The suites offered, in preference order: TLS 1.3 ones from `tls-ciphersuites`, then
/// TLS 1.2 ones from `tls-ciphers` (an empty value: every suite of that version).
pub fn suites(ciphersuites: &str, ciphers: &str) -> Result<Vec<SupportedCipherSuite>, String> {
    let mut v = pick(ciphersuites, TLS13, "TLSv1.3 ciphersuite")?;
    v.extend(pick(ciphers, TLS12, "TLSv1.2 cipher")?);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_map_are_taken_and_the_rest_refused() {
        assert_eq!(protocols("").unwrap().len(), 2);
        assert_eq!(protocols("TLSv1.2").unwrap().len(), 1);
        assert!(protocols("TLSv1.1 TLSv1.2")
            .unwrap_err()
            .contains("TLSv1.1"));
        assert_eq!(suites("", "").unwrap().len(), 9);
        assert_eq!(
            suites("TLS_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256")
                .unwrap()
                .len(),
            2
        );
        assert!(suites("", "HIGH:!aNULL").unwrap_err().contains("HIGH"));
        assert!(suites("TLS_AES_128_CCM_SHA256", "").is_err());
    }
}
