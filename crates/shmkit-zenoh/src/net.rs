//! How a bridge meets other Zenoh nodes: endpoints, mode, scouting, TLS, a Zenoh configuration
//! file — turned into a [`zenoh::Config`] and checked for safety.
//!
//! # Secure by default
//!
//! * Nothing listens unless told: a bridge with no `listen` endpoint only connects out (Zenoh's
//!   own default, a peer listening on every interface, is not used).
//! * Multicast scouting is off unless asked for (it announces the bridge on the local network
//!   and connects to whatever answers).
//! * Endpoints on the loopback interface (`127.0.0.0/8`, `::1`, `localhost`) are fine as they
//!   are. Anything else — another address, a wildcard such as `0.0.0.0`, a host name, an
//!   interface — and multicast scouting need Zenoh's encryption and access control: `tls/`
//!   endpoints with mutual TLS (every peer shows a certificate signed by the given CA; see
//!   [`Tls`]), or TLS with Zenoh's `access_control` switched on in the Zenoh configuration file.
//!   Otherwise the bridge refuses to start ([`ErrorKind::Insecure`]) — unless
//!   [`NetOptions::insecure`] says to go on, and then [`Bridge::warnings`](crate::Bridge::warnings)
//!   says loudly what is exposed.
//!
//! A Zenoh configuration file ([`NetOptions::zenoh_config`], JSON5 as Zenoh's own) sets
//! everything else; options set here override it, the defaults above apply where it says
//! nothing, and the safety check applies to the result.

use std::path::{Path, PathBuf};

use zenoh::config::{Config, EndPoint};

use crate::error::{Error, ErrorKind, Result};

/// The Zenoh node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Talks to other peers directly (and to routers). The default.
    #[default]
    Peer,
    /// Talks through one router only.
    Client,
    /// Routes for others (rarely what a bridge should be).
    Router,
}

impl Mode {
    /// `peer`, `client` or `router`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Peer => "peer",
            Mode::Client => "client",
            Mode::Router => "router",
        }
    }
}

/// Mutual TLS: this node's certificate and key, and the authority that signs every peer's
/// certificate. Peers without a certificate from that authority cannot connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// The certificate authority (PEM) that signs the peers' certificates.
    pub ca: PathBuf,
    /// This node's certificate (PEM), signed by `ca`; when it connects, its name or address
    /// must match the endpoint it connects to.
    pub cert: PathBuf,
    /// This node's private key (PEM).
    pub key: PathBuf,
}

/// How the bridge meets other Zenoh nodes.
///
/// ```
/// use shmkit_zenoh::NetOptions;
///
/// let net = NetOptions::new().listen("tcp/127.0.0.1:7447");
/// let (config, warnings) = net.to_zenoh()?;
/// assert!(warnings.is_empty());
/// # drop(config);
///
/// // Off loopback without TLS: refused, unless accepted as insecure.
/// let err = NetOptions::new().listen("tcp/0.0.0.0:7447").to_zenoh().unwrap_err();
/// assert_eq!(err.kind(), shmkit_zenoh::ErrorKind::Insecure);
/// # Ok::<(), shmkit_zenoh::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct NetOptions {
    mode: Option<Mode>,
    listen: Vec<String>,
    connect: Vec<String>,
    scouting: Option<bool>,
    zenoh_config: Option<PathBuf>,
    tls: Option<Tls>,
    insecure: bool,
}

/// The transports this build of the bridge speaks.
const PROTOCOLS: [&str; 2] = ["tcp", "tls"];

impl NetOptions {
    /// Defaults: a peer, listening nowhere, connecting nowhere, without multicast scouting.
    pub fn new() -> NetOptions {
        NetOptions::default()
    }

    /// The Zenoh mode (default: the configuration file's, else peer).
    pub fn mode(mut self, mode: Mode) -> NetOptions {
        self.mode = Some(mode);
        self
    }

    /// Listens on `endpoint` (`tcp/127.0.0.1:7447`, `tls/10.0.0.1:7447`); repeatable.
    pub fn listen(mut self, endpoint: impl Into<String>) -> NetOptions {
        self.listen.push(endpoint.into());
        self
    }

    /// Connects to `endpoint` (retrying until it answers); repeatable.
    pub fn connect(mut self, endpoint: impl Into<String>) -> NetOptions {
        self.connect.push(endpoint.into());
        self
    }

    /// Multicast scouting on or off (default off, or the configuration file's setting).
    pub fn scouting(mut self, on: bool) -> NetOptions {
        self.scouting = Some(on);
        self
    }

    /// A Zenoh configuration file (JSON5, as Zenoh's `DEFAULT_CONFIG.json5`) for everything
    /// else; the options set here override it, and the bridge's defaults (no listening, no
    /// multicast scouting) apply to what it does not set.
    pub fn zenoh_config(mut self, path: impl Into<PathBuf>) -> NetOptions {
        self.zenoh_config = Some(path.into());
        self
    }

    /// Mutual TLS for `tls/` endpoints.
    pub fn tls(mut self, tls: Tls) -> NetOptions {
        self.tls = Some(tls);
        self
    }

    /// Goes on with endpoints off this machine that lack encryption or access control; the
    /// bridge then warns about it ([`Bridge::warnings`](crate::Bridge::warnings)).
    pub fn insecure(mut self, yes: bool) -> NetOptions {
        self.insecure = yes;
        self
    }

    /// The Zenoh configuration these options make, and the warnings to show (insecure
    /// endpoints the caller accepted).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidEndpoint`] for an endpoint Zenoh cannot parse or this build cannot
    /// speak; [`ErrorKind::InvalidConfig`] for an unreadable or malformed configuration file
    /// or TLS files that do not exist; [`ErrorKind::Insecure`] for endpoints off loopback
    /// without TLS and access control (unless [`insecure`](Self::insecure)).
    pub fn to_zenoh(&self) -> Result<(Config, Vec<String>)> {
        // The file's own text too, to tell the keys it sets from Zenoh's defaults.
        let (mut config, file) = match &self.zenoh_config {
            Some(path) => {
                let bad = |why: String| {
                    Error::new(
                        ErrorKind::InvalidConfig,
                        format!("read the Zenoh configuration {}", path.display()),
                        why,
                    )
                };
                let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
                let raw: serde_json::Value =
                    json5::from_str(&text).map_err(|e| bad(format!("it is not JSON5: {e}")))?;
                let config = Config::from_json5(&text).map_err(|e| bad(e.to_string()))?;
                (config, Some(raw))
            }
            None => (Config::default(), None),
        };
        let file_sets = |path: &[&str]| {
            file.as_ref()
                .is_some_and(|v| path.iter().try_fold(v, |v, k| v.get(*k)).is_some())
        };
        let set = |config: &mut Config, key: &str, value: String| {
            config.insert_json5(key, &value).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidConfig,
                    format!("set the Zenoh option {key} to {value}"),
                    e.to_string(),
                )
            })
        };
        if let Some(mode) = self.mode {
            set(&mut config, "mode", json_string(mode.as_str()))?;
        }
        for (key, endpoints, what) in [
            ("listen", &self.listen, "listen on"),
            ("connect", &self.connect, "connect to"),
        ] {
            for e in endpoints {
                check_endpoint(e, what)?;
            }
            // No endpoint given means none, unless the file lists some: not Zenoh's default of
            // a peer listening on every interface.
            if !endpoints.is_empty() || !file_sets(&[key, "endpoints"]) {
                let list: Vec<String> = endpoints.iter().map(|e| json_string(e)).collect();
                set(
                    &mut config,
                    &format!("{key}/endpoints"),
                    format!("[{}]", list.join(",")),
                )?;
            }
        }
        let scouting = self
            .scouting
            .or((!file_sets(&["scouting", "multicast", "enabled"])).then_some(false));
        if let Some(on) = scouting {
            set(&mut config, "scouting/multicast/enabled", on.to_string())?;
        }
        if let Some(tls) = &self.tls {
            for (what, path) in [
                ("certificate authority", &tls.ca),
                ("certificate", &tls.cert),
                ("private key", &tls.key),
            ] {
                check_file(what, path)?;
            }
            let p = |path: &Path| json_string(&path.to_string_lossy());
            for (key, value) in [
                ("root_ca_certificate", p(&tls.ca)),
                ("listen_certificate", p(&tls.cert)),
                ("listen_private_key", p(&tls.key)),
                ("connect_certificate", p(&tls.cert)),
                ("connect_private_key", p(&tls.key)),
                ("enable_mtls", "true".into()),
            ] {
                set(&mut config, &format!("transport/link/tls/{key}"), value)?;
            }
        }
        let warnings = self.check_safety(&config)?;
        Ok((config, warnings))
    }

    /// Refuses (or, if insecure was accepted, describes) what the final configuration exposes.
    fn check_safety(&self, config: &Config) -> Result<Vec<String>> {
        let mode = read_json(config, "mode")
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "peer".into());
        let protected = read_json(config, "transport/link/tls/enable_mtls")
            .is_some_and(|v| v == serde_json::Value::Bool(true))
            || read_json(config, "access_control/enabled")
                .is_some_and(|v| v == serde_json::Value::Bool(true));
        let mut exposed = Vec::new();
        for (key, what) in [
            ("listen/endpoints", "listens on"),
            ("connect/endpoints", "connects to"),
        ] {
            for e in endpoints_of(read_json(config, key), &mode) {
                let Ok(ep) = e.parse::<EndPoint>() else {
                    return Err(Error::new(
                        ErrorKind::InvalidEndpoint,
                        format!("use the endpoint {e:?} of the Zenoh configuration"),
                        "Zenoh cannot parse it",
                    ));
                };
                let tls = ep.protocol().as_str() == "tls";
                if on_loopback(&ep) || (tls && protected) {
                    continue;
                }
                exposed.push(if tls {
                    format!("{what} {e} with TLS but without client certificates or access control")
                } else {
                    format!("{what} {e} without encryption")
                });
            }
        }
        if read_json(config, "scouting/multicast/enabled").is_some_and(|v| v == true) {
            exposed
                .push("announces itself and connects to peers found by multicast scouting".into());
        }
        if exposed.is_empty() {
            return Ok(Vec::new());
        }
        if self.insecure {
            return Ok(exposed
                .into_iter()
                .map(|what| {
                    format!(
                        "INSECURE: the bridge {what}: anyone who reaches it can read every \
                         exported frame and inject frames into every import"
                    )
                })
                .collect());
        }
        Err(Error::new(
            ErrorKind::Insecure,
            "start the bridge",
            format!(
                "it {}, which would let anyone on that network read every exported frame and \
                 inject frames into every import",
                exposed.join(", and ")
            ),
        )
        .hint(
            "use tls/ endpoints with mutual TLS (--tls-ca, --tls-cert, --tls-key) or Zenoh's \
             access control, keep to 127.0.0.1, or accept the risk on a network you trust \
             (--insecure)",
        ))
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A configuration value, if set.
fn read_json(config: &Config, key: &str) -> Option<serde_json::Value> {
    let text = config.get_json(key).ok()?;
    serde_json::from_str(&text)
        .ok()
        .filter(|v: &serde_json::Value| !v.is_null())
}

/// The endpoints of a `listen` or `connect` value: a list, or one list per mode, whose items
/// are endpoints or groups (`{locators: [...]}`).
fn endpoints_of(value: Option<serde_json::Value>, mode: &str) -> Vec<String> {
    let list = match value {
        Some(serde_json::Value::Object(per_mode)) => per_mode.get(mode).cloned(),
        other => other,
    };
    let mut out = Vec::new();
    for item in list
        .as_ref()
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
    {
        match item {
            serde_json::Value::String(s) => out.push(s.clone()),
            other => {
                let locators = other.get("locators").and_then(|l| l.as_array());
                match locators {
                    Some(ls) => out.extend(ls.iter().filter_map(|l| l.as_str().map(String::from))),
                    // Something we cannot read is judged as exposed.
                    None => out.push(other.to_string()),
                }
            }
        }
    }
    out
}

/// Whether the endpoint's address is on the loopback interface.
fn on_loopback(ep: &EndPoint) -> bool {
    let address = ep.address();
    let addr = address.as_str();
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    // An interface given in the endpoint's configuration (#iface=eth0) is not loopback.
    let iface = ep.config().as_str().contains("iface=");
    !iface
        && (host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()))
}

/// Checks that `text` is an endpoint this build can use.
fn check_endpoint(text: &str, what: &str) -> Result<()> {
    let bad = |why: String| {
        Error::new(ErrorKind::InvalidEndpoint, format!("{what} {text:?}"), why)
            .hint("endpoints look like tcp/127.0.0.1:7447 or tls/10.0.0.2:7447")
    };
    let ep: EndPoint = text.parse().map_err(|e| bad(format!("{e}")))?;
    let proto = ep.protocol();
    if !PROTOCOLS.contains(&proto.as_str()) {
        return Err(bad(format!(
            "this build speaks {} only, not {}",
            PROTOCOLS.join("/ and ") + "/",
            proto.as_str()
        )));
    }
    let address = ep.address();
    let port_ok = address
        .as_str()
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if !port_ok {
        return Err(bad("it needs a host and a port: ADDRESS:PORT".into()));
    }
    Ok(())
}

/// Checks that a TLS file exists, for a clear error before Zenoh's.
fn check_file(what: &str, path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("use the TLS {what} {}", path.display()),
            "it is not a file",
        )),
        Err(e) => Err(Error::new(
            ErrorKind::InvalidConfig,
            format!("use the TLS {what} {}", path.display()),
            e.to_string(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(config: &Config) -> Vec<String> {
        endpoints_of(read_json(config, "listen/endpoints"), "peer")
    }

    #[test]
    fn nothing_listens_or_scouts_unless_told() {
        let (config, warnings) = NetOptions::new().to_zenoh().unwrap();
        assert!(warnings.is_empty());
        assert!(listen(&config).is_empty());
        assert_eq!(
            read_json(&config, "scouting/multicast/enabled"),
            Some(serde_json::Value::Bool(false))
        );
        let (config, _) = NetOptions::new()
            .listen("tcp/127.0.0.1:7447")
            .listen("tcp/[::1]:7448")
            .connect("tcp/localhost:7449")
            .mode(Mode::Client)
            .to_zenoh()
            .unwrap();
        assert_eq!(listen(&config), ["tcp/127.0.0.1:7447", "tcp/[::1]:7448"]);
        assert_eq!(read_json(&config, "mode"), Some("client".into()));
    }

    #[test]
    fn off_loopback_needs_tls_and_access_control_or_a_loud_warning() {
        for (ep, listen) in [
            ("tcp/0.0.0.0:7447", true),
            ("tcp/10.200.0.1:7447", false),
            ("tcp/example.org:7447", false),
            ("tcp/127.0.0.1:7447#iface=eth0", true),
            ("tls/10.200.0.1:7447", true),
        ] {
            let net = if listen {
                NetOptions::new().listen(ep)
            } else {
                NetOptions::new().connect(ep)
            };
            let e = net.clone().to_zenoh().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Insecure, "{ep}: {e}");
            assert!(e.to_string().contains(ep.split('#').next().unwrap()), "{e}");
            let (_, warnings) = net.insecure(true).to_zenoh().unwrap();
            assert_eq!(warnings.len(), 1, "{ep}");
            assert!(warnings[0].starts_with("INSECURE"), "{}", warnings[0]);
        }
        let e = NetOptions::new().scouting(true).to_zenoh().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Insecure);
        assert!(e.to_string().contains("multicast"), "{e}");
    }

    #[test]
    fn mutual_tls_makes_an_endpoint_acceptable_off_loopback() {
        let dir = std::env::temp_dir().join(format!("shmkit-zenoh-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |n: &str| {
            let p = dir.join(n);
            std::fs::write(&p, "not checked here").unwrap();
            p
        };
        let tls = Tls {
            ca: file("ca.pem"),
            cert: file("cert.pem"),
            key: file("key.pem"),
        };
        let (config, warnings) = NetOptions::new()
            .listen("tls/10.200.0.1:7447")
            .tls(tls.clone())
            .to_zenoh()
            .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(
            read_json(&config, "transport/link/tls/enable_mtls"),
            Some(serde_json::Value::Bool(true))
        );
        // TLS does not make plain TCP acceptable.
        let e = NetOptions::new()
            .listen("tcp/10.200.0.1:7447")
            .tls(tls.clone())
            .to_zenoh()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Insecure);
        let missing = Tls {
            key: dir.join("missing.pem"),
            ..tls
        };
        let e = NetOptions::new().tls(missing).to_zenoh().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.to_string().contains("missing.pem"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_endpoints_and_config_files_are_clear_errors() {
        for (ep, says) in [
            ("127.0.0.1:7447", ""),
            ("udp/127.0.0.1:7447", "speaks tcp/ and tls/ only"),
            ("tcp/127.0.0.1", "ADDRESS:PORT"),
            ("tcp/127.0.0.1:99999", "ADDRESS:PORT"),
        ] {
            let e = NetOptions::new().connect(ep).to_zenoh().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidEndpoint, "{ep}: {e}");
            assert!(e.to_string().contains(says), "{e}");
            assert!(e.to_string().contains("tcp/127.0.0.1:7447 or"), "{e}");
        }
        let e = NetOptions::new()
            .zenoh_config("/nonexistent/zenoh.json5")
            .to_zenoh()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.to_string().contains("/nonexistent/zenoh.json5"), "{e}");
    }

    #[test]
    fn a_config_file_is_checked_too_and_options_override_it() {
        let path = std::env::temp_dir().join(format!("shmkit-zenoh-{}.json5", std::process::id()));
        std::fs::write(
            &path,
            r#"{ mode: "peer", listen: { endpoints: ["tcp/0.0.0.0:7447"] } }"#,
        )
        .unwrap();
        let e = NetOptions::new()
            .zenoh_config(&path)
            .to_zenoh()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Insecure, "{e}");
        let (config, warnings) = NetOptions::new()
            .zenoh_config(&path)
            .listen("tcp/127.0.0.1:7447")
            .to_zenoh()
            .unwrap();
        assert!(warnings.is_empty());
        assert_eq!(listen(&config), ["tcp/127.0.0.1:7447"]);
        std::fs::write(&path, "{ this is not json5").unwrap();
        let e = NetOptions::new()
            .zenoh_config(&path)
            .to_zenoh()
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        std::fs::remove_file(&path).unwrap();
    }
}
