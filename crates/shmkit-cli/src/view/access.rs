//! Who may use the viewer: the rules every request passes before anything else, as Jupyter's
//! server has them.
//!
//! * **A token.** A random 128-bit token, printed in the URL. A request shows it as the `token`
//!   query parameter, an `Authorization: token …` header, or the cookie set after the first
//!   request that showed it (so links inside the pages need not carry it). Compared in constant
//!   time. Without it: 403 and a page that says where to find the URL.
//! * **The Host header** names this server by an IP address or `localhost`, with its port.
//!   A DNS-rebinding page (`evil.example` resolving to 127.0.0.1) sends its own name as Host
//!   and is refused, even before the token is looked at. Bound to a loopback address, only
//!   loopback addresses and `localhost` are accepted; bound to another address, that address;
//!   bound to all addresses (`0.0.0.0`, `::`), any IP address.
//! * **The Origin** of a WebSocket (and of any request that has one) must be this server:
//!   another site's page cannot open the frames even with the cookie.
//!
//! The server only reads: there is no route that writes a segment.

use std::net::{IpAddr, SocketAddr};

/// The token: 32 hex digits from the system's random source.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Equal, in a time that depends only on the lengths.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The name of the cookie that carries the token: one per port, since cookies are shared by all
/// the ports of a host.
pub fn cookie_name(port: u16) -> String {
    format!("shmkit_view_{port}")
}

/// The token a request shows, if any: from the query, the `Authorization` header or the cookie.
pub fn shown_token<'a>(
    query: Option<&'a str>,
    authorization: Option<&'a str>,
    cookies: Option<&'a str>,
    cookie: &str,
) -> Option<&'a str> {
    let from_query = query.and_then(|q| {
        q.split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .filter(|t| !t.is_empty())
    });
    let from_header = authorization
        .and_then(|a| {
            a.strip_prefix("token ")
                .or_else(|| a.strip_prefix("Token "))
        })
        .map(str::trim);
    let from_cookie = cookies.and_then(|c| {
        c.split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == cookie)
            .map(|(_, v)| v)
    });
    from_query.or(from_header).or(from_cookie)
}

/// Splits a Host header value into host and port: `127.0.0.1:8080`, `[::1]:8080`,
/// `localhost:8080`; the port is `None` when absent.
fn split_host(value: &str) -> Option<(&str, Option<u16>)> {
    if let Some(rest) = value.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host, port));
    }
    match value.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, Some(port.parse().ok()?))),
        Some(_) => None, // a bare IPv6 address without brackets is not a Host
        None => Some((value, None)),
    }
}

/// Whether a Host header (or the host:port of an Origin) names the server listening on `bound`.
pub fn host_allowed(value: &str, bound: SocketAddr) -> bool {
    let Some((host, port)) = split_host(value.trim()) else {
        return false;
    };
    if port.unwrap_or(80) != bound.port() {
        return false;
    }
    let ip = if host.eq_ignore_ascii_case("localhost") {
        None
    } else {
        match host.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => return false, // a DNS name: what rebinding uses
        }
    };
    match (bound.ip(), ip) {
        (b, None) => b.is_loopback() || b.is_unspecified(),
        (b, Some(ip)) if b.is_unspecified() => !ip.is_unspecified() && !ip.is_multicast(),
        (b, Some(ip)) if b.is_loopback() => ip.is_loopback(),
        (b, Some(ip)) => ip == b,
    }
}

/// Whether an Origin header (`http://127.0.0.1:8080`) is this server; `null` and other schemes
/// are not.
pub fn origin_allowed(origin: &str, bound: SocketAddr) -> bool {
    origin
        .strip_prefix("http://")
        .is_some_and(|hostport| host_allowed(hostport, bound))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn tokens_are_random_hex_and_compared_whole() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(same(&a, &a.clone()));
        assert!(!same(&a, &b));
        assert!(!same(&a, &a[..31]));
        assert!(!same(&a, ""));
    }

    #[test]
    fn the_token_from_query_header_or_cookie() {
        let c = "shmkit_view_8080";
        assert_eq!(
            shown_token(Some("a=1&token=abc"), None, None, c),
            Some("abc")
        );
        assert_eq!(shown_token(Some("token="), None, None, c), None);
        assert_eq!(shown_token(None, Some("token abc"), None, c), Some("abc"));
        assert_eq!(shown_token(None, Some("Bearer abc"), None, c), None);
        assert_eq!(
            shown_token(None, None, Some("x=1; shmkit_view_8080=abc"), c),
            Some("abc")
        );
        assert_eq!(
            shown_token(None, None, Some("shmkit_view_9090=abc"), c),
            None
        );
    }

    #[test]
    fn hosts_that_name_this_server_and_no_other() {
        let lo = at("127.0.0.1:8080");
        assert!(host_allowed("127.0.0.1:8080", lo));
        assert!(host_allowed("localhost:8080", lo));
        assert!(host_allowed("LOCALHOST:8080", lo));
        assert!(host_allowed("127.0.0.2:8080", lo));
        assert!(host_allowed("[::1]:8080", lo));
        assert!(!host_allowed("127.0.0.1:8081", lo), "another port");
        assert!(!host_allowed("127.0.0.1", lo), "port 80 is another port");
        assert!(!host_allowed("evil.example:8080", lo), "DNS rebinding");
        assert!(!host_allowed("localhost.evil.example:8080", lo));
        assert!(!host_allowed("192.168.1.5:8080", lo));
        assert!(!host_allowed("", lo));
        assert!(!host_allowed("::1:8080", lo));

        let lan = at("192.168.1.5:8080");
        assert!(host_allowed("192.168.1.5:8080", lan));
        assert!(!host_allowed("localhost:8080", lan));
        assert!(!host_allowed("10.0.0.1:8080", lan));

        let all = at("0.0.0.0:8080");
        assert!(host_allowed("10.0.0.1:8080", all));
        assert!(host_allowed("localhost:8080", all));
        assert!(!host_allowed("box.lan:8080", all));
    }

    #[test]
    fn origins_of_this_server_only() {
        let lo = at("127.0.0.1:8080");
        assert!(origin_allowed("http://127.0.0.1:8080", lo));
        assert!(origin_allowed("http://localhost:8080", lo));
        assert!(!origin_allowed("http://evil.example:8080", lo));
        assert!(!origin_allowed("https://127.0.0.1:8080", lo));
        assert!(!origin_allowed("null", lo));
    }
}
