//! Who a client is, for the per-client connection limit: its address (an IPv6 client by
//! its /64, which one host usually holds whole), the PROXY protocol source behind a trusted
//! load balancer, or the X-Forwarded-For entry a trusted HTTP proxy reported; and the
//! guard that counts a client's open connections.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use hyper::header::HeaderMap;
use ipnet::IpNet;

/// A client as the limits count it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    /// An IPv4 address, or an IPv6 /64 (low 64 bits zero).
    Ip(IpAddr),
    /// An X-Forwarded-For entry that is not an address (`unknown`, an obfuscated name):
    /// still the client its proxy saw, counted under that name.
    Named(Box<str>),
}

impl ClientKey {
    /// The key of `ip`: IPv4 (also when mapped into IPv6) as it is, IPv6 by its /64.
    pub(crate) fn ip(ip: IpAddr) -> ClientKey {
        ClientKey::Ip(match canonical(ip) {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !u128::from(u64::MAX);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
            v4 => v4,
        })
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientKey::Ip(IpAddr::V6(v6)) => write!(f, "{v6}/64"),
            ClientKey::Ip(ip) => write!(f, "{ip}"),
            ClientKey::Named(name) => write!(f, "{name:?}"),
        }
    }
}

/// Whether `ip` is in one of the trusted proxy networks.
pub(crate) fn is_trusted(networks: &[IpNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    networks.iter().any(|n| n.contains(&ip))
}

/// The client a trusted proxy reports in X-Forwarded-For: walking from the right (the
/// entry the nearest proxy added), the first hop that is not a trusted proxy. An entry that
/// is not an address is that client too: it does not fall back to the proxy, which would
/// put every client behind it in one bucket. `None` when every entry is a trusted proxy or
/// the header is absent.
pub(crate) fn forwarded_client(headers: &HeaderMap, trusted: &[IpNet]) -> Option<ClientKey> {
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| {
            // A header value that is not text is one entry that is not an address.
            value.to_str().unwrap_or("?").split(',')
        })
        .map(str::trim)
        .collect();
    for entry in entries.into_iter().rev() {
        match parse_hop(entry) {
            Some(ip) if is_trusted(trusted, ip) => continue,
            Some(ip) => return Some(ClientKey::ip(ip)),
            None => return Some(ClientKey::Named(truncate(entry, 64).into())),
        }
    }
    None
}

/// Counts a client's open connections (HTTP and WebSocket) while held.
#[derive(Debug)]
pub(crate) struct ClientGuard {
    map: Arc<Mutex<HashMap<ClientKey, usize>>>,
    key: ClientKey,
}

/// The open connections of every client.
pub(crate) type ClientCounts = Arc<Mutex<HashMap<ClientKey, usize>>>;

impl ClientGuard {
    /// Counts one more connection for `key`, unless it has `max` already.
    pub(crate) fn acquire(map: &ClientCounts, key: ClientKey, max: usize) -> Option<ClientGuard> {
        let mut counts = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = counts.entry(key.clone()).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(ClientGuard {
            map: map.clone(),
            key,
        })
    }

    /// The client it counts.
    pub(crate) fn key(&self) -> &ClientKey {
        &self.key
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        let mut counts = self
            .map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// An IPv4-mapped IPv6 address as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An X-Forwarded-For hop: an address, with or without a port (`1.2.3.4:5678`,
/// `[2001:db8::1]:443`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

fn truncate(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(
                "x-forwarded-for",
                HeaderValue::from_str(v).expect("a value"),
            );
        }
        headers
    }

    fn key(ip: &str) -> ClientKey {
        ClientKey::ip(ip.parse().expect("an address"))
    }

    #[test]
    fn counts_an_ipv6_client_by_its_64() {
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert_eq!(key("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn walks_x_forwarded_for_from_the_right_to_the_first_untrusted_hop() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("a network")];
        // The client may put anything on the left; only what trusted proxies added counts.
        let headers = xff(&["6.6.6.6, 203.0.113.5", "10.0.0.2"]);
        assert_eq!(
            forwarded_client(&headers, &trusted),
            Some(key("203.0.113.5"))
        );
        let headers = xff(&["203.0.113.5:4711, 10.0.0.3"]);
        assert_eq!(
            forwarded_client(&headers, &trusted),
            Some(key("203.0.113.5"))
        );
        assert_eq!(forwarded_client(&xff(&["10.0.0.1"]), &trusted), None);
        assert_eq!(forwarded_client(&HeaderMap::new(), &trusted), None);
    }

    #[test]
    fn an_unparsable_entry_is_the_client_not_a_fallback_to_the_proxy() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("a network")];
        let headers = xff(&["203.0.113.5, unknown, 10.0.0.2"]);
        assert_eq!(
            forwarded_client(&headers, &trusted),
            Some(ClientKey::Named("unknown".into()))
        );
        // Garbage left of a real client is never reached.
        let headers = xff(&["garbage, 203.0.113.9"]);
        assert_eq!(
            forwarded_client(&headers, &trusted),
            Some(key("203.0.113.9"))
        );
    }

    #[test]
    fn counts_connections_per_client_up_to_the_limit() {
        let map = ClientCounts::default();
        let a = ClientGuard::acquire(&map, key("192.0.2.1"), 2).expect("first");
        let _b = ClientGuard::acquire(&map, key("192.0.2.1"), 2).expect("second");
        assert!(ClientGuard::acquire(&map, key("192.0.2.1"), 2).is_none());
        assert!(ClientGuard::acquire(&map, key("192.0.2.2"), 2).is_some());
        drop(a);
        assert!(ClientGuard::acquire(&map, key("192.0.2.1"), 2).is_some());
    }
}
