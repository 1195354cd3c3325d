//! Random ids in Redis's format.

use rand::Rng;

/// 40 random hex digits: the shape of Redis's node ids, replication ids and run ids, which
/// clients and tools parse (and CLUSTER NODES lines are checked against).
pub fn random_hex_id() -> String {
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0'))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn forty_lowercase_hex_digits() {
        let id = super::random_hex_id();
        assert_eq!(id.len(), 40);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(id, super::random_hex_id());
    }
}
