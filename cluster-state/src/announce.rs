//! How a node presents itself to the cluster and to clients when the address it listens on
//! is not the address others reach it by: a container behind mapped ports, a pod with a
//! stable DNS name and a changing IP (Redis 7.0's `cluster-announce-*` and
//! `cluster-preferred-endpoint-type`).
//!
//! What a node *announces* (ip, ports, hostname) travels to every peer in its bus header and
//! shows in CLUSTER NODES and nodes.conf everywhere. Which of a node's names clients are
//! *sent to* (MOVED/ASK, the first field of a CLUSTER SLOTS entry, CLUSTER SHARDS'
//! `endpoint`) is a per-node choice, `cluster-preferred-endpoint-type`, applied by the node
//! answering.

use super::node::Node;

/// Longest hostname accepted: Redis's `NET_HOST_STR_LEN` is 256 with its terminator.
pub const MAX_HOSTNAME_LEN: usize = 255;

/// What this node announces about itself; a zero port or an empty string means "use what
/// the node actually has" (the bound port, the address peers see).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Announce {
    pub ip: String,
    pub port: u16,
    pub bus_port: u16,
    pub hostname: String,
}

/// `cluster-preferred-endpoint-type`: which of a node's names this node gives clients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Endpoint {
    #[default]
    Ip,
    Hostname,
    /// The client already knows how to reach the nodes (a proxy, a load balancer): no
    /// endpoint is given, only the port.
    Unknown,
}

impl Endpoint {
    /// The configuration word (`ip`, `hostname`, `unknown-endpoint`); anything else is `ip`,
    /// which the config layer never lets through.
    pub fn parse(word: &str) -> Self {
        match word {
            "hostname" => Endpoint::Hostname,
            "unknown-endpoint" => Endpoint::Unknown,
            _ => Endpoint::Ip,
        }
    }

    /// The endpoint text for MOVED/ASK and CLUSTER SHARDS, as Redis's
    /// `getPreferredEndpoint`: `?` for a node without a hostname when hostnames are
    /// preferred, empty when the endpoint is unknown.
    pub fn text(self, n: &Node) -> &str {
        match self {
            Endpoint::Ip => &n.ip,
            Endpoint::Hostname if n.hostname.is_empty() => "?",
            Endpoint::Hostname => &n.hostname,
            Endpoint::Unknown => "",
        }
    }

    /// The first field of a CLUSTER SLOTS node entry: as [`Endpoint::text`], except that an
    /// unknown endpoint is a null, as Redis sends it there.
    pub fn slots_field(self, n: &Node) -> Option<&str> {
        match self {
            Endpoint::Unknown => None,
            _ => Some(self.text(n)),
        }
    }

    /// CLUSTER SLOTS' per-node metadata: the names the endpoint field did not give
    /// (`ip` unless it was the endpoint, `hostname` when the node has one and it was not).
    pub fn slots_metadata(self, n: &Node) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self != Endpoint::Ip {
            out.push(("ip", n.ip.clone()));
        }
        if self != Endpoint::Hostname && !n.hostname.is_empty() {
            out.push(("hostname", n.hostname.clone()));
        }
        out
    }
}

/// Whether `s` may be announced as a hostname: at most [`MAX_HOSTNAME_LEN`] letters, digits,
/// hyphens and dots (Redis 7.0's rule). It ends up after a comma in CLUSTER NODES and
/// nodes.conf, so separators must never pass.
///
/// # Errors
/// Redis's reason, for CONFIG SET's error and the startup error.
pub fn check_hostname(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_HOSTNAME_LEN {
        return Err("Hostnames must be less than 256 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err("Hostnames may only contain alphanumeric characters, hyphens or dots");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ip: &str, hostname: &str) -> Node {
        let mut n = Node::new("a".repeat(40), ip.into(), 7000, 17000, 0);
        n.hostname = hostname.into();
        n
    }

    #[test]
    fn endpoints_follow_the_preference_as_redis_7_0_gives_them() {
        let named = node("10.0.0.1", "node1.test");
        let bare = node("10.0.0.2", "");
        assert_eq!(Endpoint::Ip.text(&named), "10.0.0.1");
        assert_eq!(Endpoint::Hostname.text(&named), "node1.test");
        assert_eq!(Endpoint::Hostname.text(&bare), "?");
        assert_eq!(Endpoint::Unknown.text(&named), "");
        assert_eq!(Endpoint::Unknown.slots_field(&named), None);
        assert_eq!(
            Endpoint::Ip.slots_metadata(&named),
            vec![("hostname", "node1.test".to_string())]
        );
        assert!(Endpoint::Ip.slots_metadata(&bare).is_empty());
        assert_eq!(
            Endpoint::Hostname.slots_metadata(&named),
            vec![("ip", "10.0.0.1".to_string())]
        );
        assert_eq!(Endpoint::Unknown.slots_metadata(&named).len(), 2);
    }

    #[test]
    fn hostnames_are_letters_digits_hyphens_and_dots() {
        for ok in ["", "node-1.svc.cluster.local", "A1"] {
            assert!(check_hostname(ok).is_ok(), "{ok:?}");
        }
        for bad in ["a_b", "a,b", "a b", "a@b", "a:b", "a\nb"] {
            assert!(check_hostname(bad).is_err(), "{bad:?}");
        }
        assert!(check_hostname(&"a".repeat(255)).is_ok());
        assert!(check_hostname(&"a".repeat(256)).is_err());
    }
}
