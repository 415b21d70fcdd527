//! The client's address behind an ingress: the socket's peer, unless that peer is one of the
//! configured trusted proxies (`trusted_proxies`, CIDRs), in which case the address the proxies
//! recorded — `X-Forwarded-For`, else `Forwarded: for=` (RFC 7239) — read from the right,
//! skipping further trusted hops. A header from an untrusted peer is never believed, so a client
//! cannot pick its own rate-limit bucket.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The address to key per-client limits on.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?;
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let hops = forwarded_for(headers);
    // The rightmost address not belonging to our own proxies is the one that reached them.
    Some(
        hops.into_iter()
            .rev()
            .find(|ip| !is_trusted(ip))
            .unwrap_or(peer),
    )
}

/// The addresses of the forwarding chain, leftmost (original client) first.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let xff: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| parse_addr(part.trim()))
        .collect();
    if !xff.is_empty() {
        return xff;
    }
    headers
        .get_all("forwarded")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("for")
                    .then(|| parse_addr(v.trim().trim_matches('"')))
                    .flatten()
            })
        })
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:5678`.
fn parse_addr(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Some(rest) = raw.strip_prefix('[') {
        return rest.split_once(']').and_then(|(ip, _)| ip.parse().ok());
    }
    raw.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let spoof = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), &spoof, &trusted),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), &spoof, &[]),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(client_ip(None, &spoof, &trusted), None);
    }

    #[test]
    fn behind_trusted_proxies_the_rightmost_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        let chain = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.2.3")]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &chain, &trusted),
            Some(ip("198.51.100.7")),
            "a client-supplied leftmost entry is not believed"
        );
        let forwarded = headers(&[(
            "forwarded",
            "for=\"[2001:db8::7]:4711\";proto=https, for=10.9.9.9",
        )]);
        assert_eq!(
            client_ip(Some(ip("fd00::1")), &forwarded, &trusted),
            Some(ip("2001:db8::7"))
        );
        let none = headers(&[]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &none, &trusted),
            Some(ip("10.0.0.1"))
        );
        let junk = headers(&[("x-forwarded-for", "unknown, not-an-ip")]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), &junk, &trusted),
            Some(ip("10.0.0.1"))
        );
    }
}
