//! Address allow/deny lists of the HTTP listeners (`api_acl`, `metrics_acl`, the Go tool's
//! `ACLConfig`): IPv4/IPv6 addresses and CIDR blocks. Unlike the Go tool, an entry that does
//! not parse is a configuration error — a typo never switches the list off (fail closed).
//!
//! `mode: allow` (the default): only addresses on `allow_list` get in, minus those on
//! `deny_list`. `mode: deny`: everyone but `deny_list`. The deny list always wins. Lists apply
//! to TCP peers; a Unix-socket peer is checked by the file's permissions instead (0600).
//! `trust_proxy` uses the first `X-Forwarded-For` address instead of the peer's, for a
//! manager behind a reverse proxy — only then, since anyone can send that header.

// Wired to the loop as a part once the parts registry lands; until then only tests use it.
#![allow(dead_code)]

use std::net::IpAddr;

/// One address block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `192.168.1.5`, `fd00::/8`, `::1`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let bad =
            || format!("{s:?} is not an IP address or CIDR block (such as 10.0.0.0/8 or fd00::/8)");
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p.parse::<u8>().map_err(|_| bad())?)),
            None => (s, None),
        };
        let net: IpAddr = ip.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        if prefix > max {
            return Err(format!("{s:?}: a prefix length is at most {max}"));
        }
        Ok(Cidr { net, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, canonical(ip)) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 client on a dual-stack socket shows as `::ffff:a.b.c.d`: compare it as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acl {
    /// `mode: allow`: only `allow` gets in.
    pub allow_mode: bool,
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
    pub trust_proxy: bool,
}

impl Acl {
    /// Whether a client at `peer` (or, with `trust_proxy`, at the `X-Forwarded-For` address)
    /// may be served.
    pub fn permits(&self, peer: IpAddr, forwarded_for: Option<&[u8]>) -> bool {
        let ip = match forwarded_for.filter(|_| self.trust_proxy) {
            Some(h) => match first_forwarded(h) {
                Some(ip) => ip,
                // A header we cannot read: judge by the one address we know.
                None => peer,
            },
            None => peer,
        };
        if self.deny.iter().any(|c| c.contains(ip)) {
            return false;
        }
        !self.allow_mode || self.allow.iter().any(|c| c.contains(ip))
    }
}

fn first_forwarded(h: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(h).ok()?;
    s.split(',').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks_and_addresses() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains(ip("10.1.200.3")) && !c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("fd00::1")));
        assert!(!Cidr::parse("::/0").unwrap().contains(ip("8.8.8.8")));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        assert!(Cidr::parse("fd00::/8").unwrap().contains(ip("fdff::1")));
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "example.com",
            "::1/129",
            "1.2.3.4/x",
            "",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_and_deny_wins() {
        let acl = Acl {
            allow_mode: true,
            allow: vec![Cidr::parse("127.0.0.0/8").unwrap()],
            deny: vec![Cidr::parse("127.0.0.9").unwrap()],
            trust_proxy: false,
        };
        assert!(acl.permits(ip("127.0.0.1"), None));
        assert!(!acl.permits(ip("127.0.0.9"), None));
        assert!(!acl.permits(ip("10.0.0.1"), None));
        // The header is ignored unless the proxy is trusted.
        assert!(acl.permits(ip("127.0.0.1"), Some(b"10.0.0.1")));
        let proxied = Acl {
            trust_proxy: true,
            ..acl.clone()
        };
        assert!(!proxied.permits(ip("127.0.0.1"), Some(b"10.0.0.1, 127.0.0.1")));
        assert!(proxied.permits(ip("127.0.0.1"), Some(b"garbage")));
        let deny_mode = Acl {
            allow_mode: false,
            ..acl
        };
        assert!(deny_mode.permits(ip("10.0.0.1"), None));
        assert!(!deny_mode.permits(ip("127.0.0.9"), None));
    }
}
