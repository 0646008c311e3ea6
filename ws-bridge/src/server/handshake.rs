//! The WebSocket upgrade request checked without doing anything: [`check`] takes the
//! request and what the connection knows of its client, and says either how to answer
//! ([`Upgrade`]: the accept key, the subprotocol, the token the request carries, the client
//! still to count) or why not ([`Rejection`], with its HTTP status, message and metric).
//! `upgrade.rs` performs the answer.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use ipnet::IpNet;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::config::Config;
use crate::limits::{ClientKey, forwarded_client};
use crate::metrics::Refusal;
use crate::ops::{Body, text};

/// Subprotocols accepted [MQTT-6.0.0-3]. `mqttv3.1` is not: it names MQTT 3.1 (`MQIsdp`,
/// level 3), which the protocol crate does not speak, so a client offering only it would
/// be accepted and then refused at its CONNECT.
const SUBPROTOCOLS: [&str; 1] = ["mqtt"];

/// What the handshake check needs of the configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy<'a> {
    /// Allowed origins: empty refuses browsers, `*` allows any.
    pub(crate) origins: &'a [String],
    /// Accept clients that offer no MQTT subprotocol.
    pub(crate) allow_no_subprotocol: bool,
    /// With edge authentication on, the cookie that may hold the token; `None` looks for no
    /// token.
    pub(crate) token_cookie: Option<&'a str>,
    /// Networks whose X-Forwarded-For is believed.
    pub(crate) trusted_proxies: &'a [IpNet],
}

impl<'a> Policy<'a> {
    /// The policy `config` sets.
    pub(crate) fn of(config: &'a Config) -> Policy<'a> {
        Policy {
            origins: &config.origins,
            allow_no_subprotocol: config.allow_no_subprotocol,
            token_cookie: config.jwt.as_ref().map(|_| config.jwt_cookie.as_str()),
            trusted_proxies: &config.trusted_proxies,
        }
    }
}

/// What the connection knows of the client making the request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer {
    /// The address (or the PROXY protocol source) the connection came from.
    pub(crate) addr: SocketAddr,
    /// It is a trusted proxy: its X-Forwarded-For names the client.
    pub(crate) trusted: bool,
    /// The client was already counted against the per-client limits at accept.
    pub(crate) counted: bool,
}

/// An upgrade to accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upgrade {
    /// The `Sec-WebSocket-Accept` value.
    pub(crate) accept: String,
    /// The subprotocol chosen, if the client offered one we speak.
    pub(crate) protocol: Option<&'static str>,
    /// A token the request carries (`?token=` or the token cookie), when edge
    /// authentication is on.
    pub(crate) token: Option<Bytes>,
    /// The client to count against the per-client limits now: behind a trusted HTTP
    /// proxy, the X-Forwarded-For client; `None` when it was counted at accept.
    pub(crate) count_as: Option<ClientKey>,
}

impl Upgrade {
    /// The `101 Switching Protocols` answer.
    pub(crate) fn response(&self) -> Response<Body> {
        let mut response = Response::new(empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let h = response.headers_mut();
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        if let Ok(accept) = HeaderValue::from_str(&self.accept) {
            h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        if let Some(protocol) = self.protocol {
            h.insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(protocol),
            );
        }
        response
    }
}

/// Why an upgrade is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// Not a GET with `Connection: upgrade` and `Upgrade: websocket`.
    NotWebSocket,
    /// A WebSocket version other than 13.
    Version,
    /// No `Sec-WebSocket-Key`.
    MissingKey,
    /// A browser (it sent an Origin), and no origin is allowed.
    NoOriginAllowed,
    /// An Origin not on the list.
    Origin,
    /// No subprotocol we speak offered, and none is not allowed.
    Subprotocol,
    /// The client connects too often (`--max-connect-rate`).
    ConnectRate,
    /// The client holds too many connections (`--max-connections-per-ip`).
    PerClient,
}

impl Rejection {
    /// The HTTP status of the answer.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Rejection::NotWebSocket | Rejection::Version => StatusCode::UPGRADE_REQUIRED,
            Rejection::MissingKey | Rejection::Subprotocol => StatusCode::BAD_REQUEST,
            Rejection::NoOriginAllowed | Rejection::Origin => StatusCode::FORBIDDEN,
            Rejection::ConnectRate | Rejection::PerClient => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The body of the answer, which the log repeats.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Rejection::NotWebSocket => "this endpoint speaks MQTT over WebSocket\n",
            Rejection::Version => "WebSocket version 13 only\n",
            Rejection::MissingKey => "missing Sec-WebSocket-Key\n",
            Rejection::NoOriginAllowed => {
                "browsers are refused until the bridge is told their origin (--origin)\n"
            }
            Rejection::Origin => "origin not allowed\n",
            Rejection::Subprotocol => "offer the WebSocket subprotocol \"mqtt\" [MQTT-6.0.0-3]\n",
            Rejection::ConnectRate => "connecting too often\n",
            Rejection::PerClient => "too many connections from your address\n",
        }
    }

    /// How the refusal is counted in the metrics.
    pub(crate) fn refusal(self) -> Refusal {
        match self {
            Rejection::NotWebSocket | Rejection::Version | Rejection::MissingKey => {
                Refusal::Handshake
            }
            Rejection::NoOriginAllowed | Rejection::Origin => Refusal::Origin,
            Rejection::Subprotocol => Refusal::Subprotocol,
            Rejection::ConnectRate => Refusal::ConnectRate,
            Rejection::PerClient => Refusal::MaxConnectionsPerIp,
        }
    }

    /// The answer: status and message, and what the client should offer instead.
    pub(crate) fn response(self) -> Response<Body> {
        let mut response = text(self.status(), self.message());
        match self {
            Rejection::NotWebSocket => {
                response
                    .headers_mut()
                    .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            }
            Rejection::Version => {
                response.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
            }
            _ => {}
        }
        response
    }
}

/// Checks a WebSocket upgrade request, in order: a WebSocket GET, version 13, a key, the
/// origin, the subprotocol. The limits are the caller's, on [`Upgrade::count_as`].
pub(crate) fn check<B>(
    req: &Request<B>,
    policy: Policy<'_>,
    peer: Peer,
) -> Result<Upgrade, Rejection> {
    let headers = req.headers();
    if req.method() != Method::GET
        || !header_has_token(headers, header::CONNECTION, "upgrade")
        || !header_has_token(headers, header::UPGRADE, "websocket")
    {
        return Err(Rejection::NotWebSocket);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Err(Rejection::Version);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(Rejection::MissingKey)?;
    if !origin_allowed(policy.origins, headers.get(header::ORIGIN)) {
        return Err(if policy.origins.is_empty() {
            Rejection::NoOriginAllowed
        } else {
            Rejection::Origin
        });
    }
    let protocol = choose_subprotocol(headers);
    if protocol.is_none() && !policy.allow_no_subprotocol {
        return Err(Rejection::Subprotocol);
    }
    // Counted at accept, or (behind a trusted HTTP proxy) now, by X-Forwarded-For.
    let count_as = (!peer.counted).then(|| {
        peer.trusted
            .then(|| forwarded_client(headers, policy.trusted_proxies))
            .flatten()
            .unwrap_or_else(|| ClientKey::ip(peer.addr.ip()))
    });
    Ok(Upgrade {
        accept: derive_accept_key(key.as_bytes()),
        protocol,
        token: policy
            .token_cookie
            .and_then(|cookie| upgrade_token(req, cookie)),
        count_as,
    })
}

/// An empty body.
pub(crate) fn empty() -> Body {
    Full::new(Bytes::new())
        .map_err(|e| match e {})
        .boxed_unsync()
}

/// A token the upgrade request carries for clients that cannot put one in the CONNECT
/// password: the `token` query parameter, or else the cookie named `cookie`.
fn upgrade_token<B>(req: &Request<B>, cookie: &str) -> Option<Bytes> {
    let from_query = req.uri().query().and_then(|query| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix("token="))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    });
    let from_cookie = || {
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                (name == cookie && !value.is_empty()).then(|| value.to_owned())
            })
    };
    from_query.or_else(from_cookie).map(Bytes::from)
}

/// True if a comma-separated header holds `token` (case-insensitive).
fn header_has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The first subprotocol we accept among those the client offered, in our order.
fn choose_subprotocol(headers: &HeaderMap) -> Option<&'static str> {
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    SUBPROTOCOLS.into_iter().find(|p| offered.contains(p))
}

/// A request without Origin is not from a browser (the check protects browsers only) and
/// passes. One with an Origin passes when `*` is allowed, or when it is well-formed and on
/// the list; with no list at all, browsers are refused: a page on any site could otherwise
/// use its visitors' browsers (and their cookies) against the bridge.
fn origin_allowed(allowed: &[String], origin: Option<&HeaderValue>) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    if allowed.iter().any(|a| a == "*") {
        return true;
    }
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let well_formed = origin.split_once("://").is_some_and(|(scheme, host)| {
        matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains(['/', ' ', '@'])
    });
    well_formed && allowed.contains(&origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    /// A browser's upgrade request from https://app.example offering `mqtt`, with the key
    /// of RFC 6455's example, and `extra` headers.
    fn request(uri: &str, extra: &[(&'static str, &'static str)]) -> Request<()> {
        let mut builder = Request::get(uri)
            .header("host", "bridge.example")
            .header("connection", "keep-alive, Upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("origin", "https://app.example")
            .header("sec-websocket-protocol", "mqtt");
        for (k, v) in extra {
            builder = builder.header(*k, *v);
        }
        builder.body(()).expect("a request")
    }

    /// `request` with `name` left out.
    fn request_without(name: &str) -> Request<()> {
        let mut req = request("/mqtt", &[]);
        req.headers_mut().remove(name);
        req
    }

    fn origins() -> Vec<String> {
        vec!["https://app.example".to_owned()]
    }

    fn policy(origins: &[String]) -> Policy<'_> {
        Policy {
            origins,
            allow_no_subprotocol: false,
            token_cookie: None,
            trusted_proxies: &[],
        }
    }

    const PEER: Peer = Peer {
        addr: SocketAddr::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 7)),
            40000,
        ),
        trusted: false,
        counted: true,
    };

    #[test]
    fn accepts_a_browser_upgrade_offering_mqtt() {
        let origins = origins();
        let upgrade = check(&request("/mqtt", &[]), policy(&origins), PEER).expect("accepted");
        assert_eq!(
            upgrade,
            Upgrade {
                // RFC 6455 section 1.3
                accept: "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_owned(),
                protocol: Some("mqtt"),
                token: None,
                count_as: None,
            }
        );
        let response = upgrade.response();
        assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
        let h = response.headers();
        assert_eq!(
            h[header::SEC_WEBSOCKET_ACCEPT],
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert_eq!(h[header::SEC_WEBSOCKET_PROTOCOL], "mqtt");
        assert_eq!(h[header::UPGRADE], "websocket");
    }

    #[test]
    fn rejects_what_is_not_a_websocket_upgrade() {
        let origins = origins();
        let mut post = request("/mqtt", &[]);
        *post.method_mut() = Method::POST;
        for req in [
            post,
            request_without("upgrade"),
            request_without("connection"),
        ] {
            let rejection = check(&req, policy(&origins), PEER).expect_err("refused");
            assert_eq!(rejection, Rejection::NotWebSocket);
            assert_eq!(rejection.status(), StatusCode::UPGRADE_REQUIRED);
            assert_eq!(rejection.response().headers()[header::UPGRADE], "websocket");
        }
    }

    #[test]
    fn rejects_other_websocket_versions_and_a_missing_key() {
        let origins = origins();
        let mut old = request("/mqtt", &[]);
        old.headers_mut()
            .insert("sec-websocket-version", HeaderValue::from_static("8"));
        let rejection = check(&old, policy(&origins), PEER).expect_err("refused");
        assert_eq!(rejection, Rejection::Version);
        assert_eq!(
            rejection.response().headers()[header::SEC_WEBSOCKET_VERSION],
            "13"
        );
        let rejection = check(
            &request_without("sec-websocket-key"),
            policy(&origins),
            PEER,
        )
        .expect_err("refused");
        assert_eq!(
            (rejection, rejection.status(), rejection.refusal()),
            (
                Rejection::MissingKey,
                StatusCode::BAD_REQUEST,
                Refusal::Handshake
            )
        );
    }

    #[test]
    fn rejects_origins_not_allowed_with_403() {
        let origins = origins();
        let evil = request("/mqtt", &[]);
        let mut evil = evil;
        evil.headers_mut()
            .insert("origin", HeaderValue::from_static("https://evil.example"));
        let rejection = check(&evil, policy(&origins), PEER).expect_err("refused");
        assert_eq!(
            (rejection, rejection.status()),
            (Rejection::Origin, StatusCode::FORBIDDEN)
        );
        let rejection = check(&request("/mqtt", &[]), policy(&[]), PEER).expect_err("refused");
        assert_eq!(rejection, Rejection::NoOriginAllowed);
        assert!(rejection.message().contains("--origin"));
        // Not a browser: no Origin, no origin check.
        assert!(check(&request_without("origin"), policy(&[]), PEER).is_ok());
    }

    #[test]
    fn rejects_clients_offering_no_mqtt_subprotocol_unless_allowed() {
        let origins = origins();
        let mut chat = request("/mqtt", &[]);
        chat.headers_mut()
            .insert("sec-websocket-protocol", HeaderValue::from_static("chat"));
        let rejection = check(&chat, policy(&origins), PEER).expect_err("refused");
        assert_eq!(
            (rejection, rejection.status(), rejection.refusal()),
            (
                Rejection::Subprotocol,
                StatusCode::BAD_REQUEST,
                Refusal::Subprotocol
            )
        );
        let lenient = Policy {
            allow_no_subprotocol: true,
            ..policy(&origins)
        };
        let upgrade = check(&chat, lenient, PEER).expect("accepted");
        assert_eq!(upgrade.protocol, None);
        assert!(
            !upgrade
                .response()
                .headers()
                .contains_key(header::SEC_WEBSOCKET_PROTOCOL)
        );
    }

    #[test]
    fn takes_the_token_from_the_query_or_else_the_cookie_when_authenticating() {
        let origins = origins();
        let jwt = Policy {
            token_cookie: Some("mqttwire_token"),
            ..policy(&origins)
        };
        let cookie = [("cookie", "theme=dark; mqttwire_token=from-cookie")];
        let token = |req: &Request<()>, policy| check(req, policy, PEER).expect("accepted").token;
        assert_eq!(
            token(&request("/mqtt?a=1&token=from-query", &cookie), jwt),
            Some(Bytes::from_static(b"from-query"))
        );
        assert_eq!(
            token(&request("/mqtt?token=", &cookie), jwt),
            Some(Bytes::from_static(b"from-cookie"))
        );
        assert_eq!(
            token(&request("/mqtt", &[("cookie", "other=x")]), jwt),
            None
        );
        // Without edge authentication no token is looked for.
        assert_eq!(
            token(&request("/mqtt?token=t", &cookie), policy(&origins)),
            None
        );
    }

    #[test]
    fn counts_the_forwarded_client_behind_a_trusted_proxy() {
        let origins = origins();
        let proxies = ["10.0.0.0/8".parse().expect("a network")];
        let trusting = Policy {
            trusted_proxies: &proxies,
            ..policy(&origins)
        };
        let proxy = Peer {
            addr: "10.0.0.2:5000".parse().expect("addr"),
            trusted: true,
            counted: false,
        };
        let forwarded = request("/mqtt", &[("x-forwarded-for", "198.51.100.9, 10.0.0.3")]);
        let upgrade = check(&forwarded, trusting, proxy).expect("accepted");
        assert_eq!(
            upgrade.count_as,
            Some(ClientKey::ip("198.51.100.9".parse().expect("ip")))
        );
        // A direct client not counted at accept is counted by its address.
        let direct = Peer {
            trusted: false,
            ..proxy
        };
        let upgrade = check(&forwarded, trusting, direct).expect("accepted");
        assert_eq!(
            upgrade.count_as,
            Some(ClientKey::ip("10.0.0.2".parse().expect("ip")))
        );
        assert_eq!(
            check(&forwarded, trusting, PEER)
                .expect("accepted")
                .count_as,
            None
        );
    }

    #[test]
    fn the_limit_rejections_are_429() {
        for rejection in [Rejection::ConnectRate, Rejection::PerClient] {
            assert_eq!(rejection.status(), StatusCode::TOO_MANY_REQUESTS);
        }
        assert_eq!(Rejection::PerClient.refusal(), Refusal::MaxConnectionsPerIp);
        assert_eq!(Rejection::ConnectRate.refusal(), Refusal::ConnectRate);
    }

    #[test]
    fn chooses_mqtt_from_the_offered_subprotocols() {
        assert_eq!(
            choose_subprotocol(&headers(&[("sec-websocket-protocol", "mqttv3.1, mqtt")])),
            Some("mqtt")
        );
        assert_eq!(
            choose_subprotocol(&headers(&[("sec-websocket-protocol", "mqttv3.1")])),
            None
        );
        assert_eq!(
            choose_subprotocol(&headers(&[("sec-websocket-protocol", "chat")])),
            None
        );
        assert_eq!(choose_subprotocol(&headers(&[])), None);
    }

    #[test]
    fn checks_origins_against_the_allow_list() {
        let allowed = vec!["https://app.example.com".to_owned()];
        let ok = HeaderValue::from_static("https://App.Example.com");
        assert!(origin_allowed(&allowed, Some(&ok)));
        assert!(origin_allowed(&allowed, None));
        assert!(!origin_allowed(
            &allowed,
            Some(&HeaderValue::from_static("https://evil.example"))
        ));
        assert!(!origin_allowed(
            &allowed,
            Some(&HeaderValue::from_static("null"))
        ));
        assert!(!origin_allowed(
            &[],
            Some(&HeaderValue::from_static("null"))
        ));
    }

    #[test]
    fn refuses_browsers_without_an_allow_list_unless_any_origin_is_allowed() {
        let page = HeaderValue::from_static("https://anywhere.example");
        assert!(!origin_allowed(&[], Some(&page)));
        assert!(origin_allowed(&[], None), "not a browser");
        assert!(origin_allowed(&["*".to_owned()], Some(&page)));
    }
}
