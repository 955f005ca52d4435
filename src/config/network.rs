//! How connections reach the receiver: through an HTTP proxy (`set_proxy`, else
//! `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` as Go reads them) or over a Unix domain socket
//! (`set_unix_socket`, or a gRPC `unix:` endpoint).

use std::fmt;

use http::header::HeaderValue;
use http::Uri;
use hyper_util::client::proxy::matcher::Matcher;

use super::endpoint::{check_port, port_text, without_user_info};
use crate::error::{Error, Result};

/// The proxy an exporter's connections go through: the proxy's address and, when its URL
/// had user information, the `Proxy-Authorization` value (never shown).
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// `http://host:port/` of the proxy, without user information.
    pub uri: Uri,
    /// `Basic base64(user:password)`, marked sensitive.
    pub authorization: Option<HeaderValue>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("uri", &self.uri)
            .field("authorization", &self.authorization.as_ref().map(|_| "***"))
            .finish()
    }
}

/// What the code said about proxies. No `Debug`: a URL may hold a password.
#[derive(Clone, Default)]
pub(super) enum ProxyChoice {
    /// Whatever the environment says (the default).
    #[default]
    FromEnvironment,
    /// No proxy, whatever the environment says.
    Off,
    /// This proxy for every endpoint (`NO_PROXY` does not apply), as [`parse_proxy_url`]
    /// gives it.
    Url(String),
}

/// The proxy variables of the environment, read once; values that are not usable proxy
/// URLs are left out (with a warning).
#[derive(Clone, Default)]
pub(super) struct EnvProxies {
    http: Option<String>,
    https: Option<String>,
    no: String,
}

impl fmt::Debug for EnvProxies {
    // The URLs may hold passwords.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvProxies")
            .field("http", &self.http.as_ref().map(|_| "***"))
            .field("https", &self.https.as_ref().map(|_| "***"))
            .field("no", &self.no)
            .finish()
    }
}

impl EnvProxies {
    /// Reads `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY`, each upper case first, then lower
    /// case (as Go does); an empty value means unset. In a CGI program (`REQUEST_METHOD` set)
    /// `HTTP_PROXY` may come from a request's `Proxy:` header, so it is ignored, as Go does.
    pub(super) fn read(
        lookup: &dyn Fn(&str) -> Option<String>,
        warnings: &mut Vec<String>,
    ) -> Self {
        let first = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| {
                let value = lookup(name).filter(|v| !v.trim().is_empty())?;
                Some((name, value.trim().to_string()))
            })
        };
        let mut usable = |found: Option<(&str, String)>| {
            let (name, value) = found?;
            match parse_proxy_url(&value) {
                Ok(url) => Some(url),
                Err(e) => {
                    warnings.push(format!(
                        "environment variable {name} ignored: {}",
                        e.message()
                    ));
                    None
                }
            }
        };
        let https = usable(first(["HTTPS_PROXY", "https_proxy"]));
        let mut http = usable(first(["HTTP_PROXY", "http_proxy"]));
        if http.is_some() && lookup("REQUEST_METHOD").is_some_and(|v| !v.is_empty()) {
            warnings.push(
                "environment variable HTTP_PROXY ignored: REQUEST_METHOD is set (a CGI \
                 program, where a request can set it)"
                    .into(),
            );
            http = None;
        }
        EnvProxies {
            http,
            https,
            no: first(["NO_PROXY", "no_proxy"])
                .map(|(_, v)| v)
                .unwrap_or_default(),
        }
    }
}

/// The proxy for `endpoint`, if any. gRPC goes through `HTTPS_PROXY` whatever the
/// endpoint's scheme, as gRPC's own clients do; OTLP/HTTP picks the variable by the
/// endpoint's scheme.
pub(super) fn resolve_proxy(
    choice: &ProxyChoice,
    env: &EnvProxies,
    endpoint: &Uri,
    grpc: bool,
) -> Result<Option<Proxy>> {
    let matcher = match choice {
        ProxyChoice::Off => return Ok(None),
        ProxyChoice::Url(url) => Matcher::builder().all(url.as_str()).build(),
        ProxyChoice::FromEnvironment => {
            let mut builder = Matcher::builder().no(env.no.as_str());
            if let Some(https) = &env.https {
                builder = builder.https(https.as_str());
            }
            if let Some(http) = env.http.as_ref().filter(|_| !grpc) {
                builder = builder.http(http.as_str());
            }
            builder.build()
        }
    };
    let mut target = endpoint.clone();
    if grpc {
        // Only the scheme changes: which variable applies, not where the call goes.
        let mut parts = target.into_parts();
        parts.scheme = Some(http::uri::Scheme::HTTPS);
        target = Uri::from_parts(parts).map_err(|e| Error::invalid(format!("endpoint: {e}")))?;
    }
    Ok(matcher.intercept(&target).map(|intercept| Proxy {
        uri: intercept.uri().clone(),
        authorization: intercept.basic_auth().cloned(),
    }))
}

/// Checks a proxy URL, `http://[user:password@]host[:port]` (no scheme means `http`, as
/// curl and Go take it), and returns it with its scheme. Messages never show the user
/// information.
pub(super) fn parse_proxy_url(raw: &str) -> Result<String> {
    let shown = without_user_info(raw);
    let raw = raw.trim();
    let with_scheme;
    let url = if raw.contains("://") {
        raw
    } else {
        with_scheme = format!("http://{raw}");
        &with_scheme
    };
    let uri: Uri = url
        .parse()
        .map_err(|e| Error::invalid(format!("proxy {shown:?} is not a valid URL: {e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(Error::invalid(format!(
                "proxy {shown:?}: TLS to the proxy (https://) is not supported; use http://"
            )))
        }
        Some(other) => {
            return Err(Error::invalid(format!(
                "proxy {shown:?}: scheme {other:?} is not supported (only HTTP proxies: http://)"
            )))
        }
        None => unreachable!("a scheme was added"),
    }
    let authority = uri
        .authority()
        .ok_or_else(|| Error::invalid(format!("proxy {shown:?} has no host")))?;
    let host_port = authority
        .as_str()
        .rsplit_once('@')
        .map_or(authority.as_str(), |(_, hp)| hp);
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err(Error::invalid(format!("proxy {shown:?} has no host")));
    }
    if let Some(port) = port_text(authority.as_str()) {
        check_port(port).map_err(|why| Error::invalid(format!("proxy {shown:?}: {why}")))?;
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn env(vars: &'static [(&'static str, &'static str)]) -> (EnvProxies, Vec<String>) {
        let mut warnings = Vec::new();
        (EnvProxies::read(&lookup(vars), &mut warnings), warnings)
    }

    fn proxy_for(env: &EnvProxies, endpoint: &'static str, grpc: bool) -> Option<String> {
        resolve_proxy(
            &ProxyChoice::FromEnvironment,
            env,
            &Uri::from_static(endpoint),
            grpc,
        )
        .unwrap()
        .map(|p| p.uri.to_string())
    }

    #[test]
    fn the_endpoint_scheme_picks_the_variable_and_grpc_takes_https_proxy() {
        let (env, warnings) = env(&[
            ("HTTP_PROXY", "http://plain:3128"),
            ("https_proxy", "secure:3129"),
        ]);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            proxy_for(&env, "http://c:4318/v1/metrics", false).as_deref(),
            Some("http://plain:3128/")
        );
        assert_eq!(
            proxy_for(&env, "https://c:4318/v1/metrics", false).as_deref(),
            Some("http://secure:3129/")
        );
        assert_eq!(
            proxy_for(&env, "http://c:4317", true).as_deref(),
            Some("http://secure:3129/")
        );
    }

    #[test]
    fn upper_case_wins_and_empty_means_unset() {
        let (env, _) = env(&[
            ("HTTPS_PROXY", ""),
            ("https_proxy", "user:pw@lower:1"),
            ("HTTP_PROXY", "upper:2"),
            ("http_proxy", "lower:2"),
        ]);
        assert_eq!(
            proxy_for(&env, "https://c/", false).as_deref(),
            Some("http://lower:1/")
        );
        assert_eq!(
            proxy_for(&env, "http://c/", false).as_deref(),
            Some("http://upper:2/")
        );
    }

    #[test]
    fn no_proxy_bypasses_by_domain_suffix_ip_network_and_star() {
        let (env, _) = env(&[
            ("HTTPS_PROXY", "http://p:1"),
            ("NO_PROXY", "example.com, 10.0.0.0/8,::1"),
        ]);
        for bypassed in [
            "https://example.com/",
            "https://collector.example.com:4318/",
            "https://10.1.2.3:4318/",
            "https://[::1]:4318/",
        ] {
            let uri = Uri::try_from(bypassed).unwrap();
            let got = resolve_proxy(&ProxyChoice::FromEnvironment, &env, &uri, false).unwrap();
            assert_eq!(got, None, "{bypassed}");
        }
        assert!(proxy_for(&env, "https://notexample.com/", false).is_some());
        let (env, _) = self::env(&[("HTTPS_PROXY", "p:1"), ("no_proxy", "*")]);
        assert_eq!(proxy_for(&env, "https://anything/", false), None);
    }

    #[test]
    fn set_proxy_overrides_the_environment_and_no_proxy() {
        let (env, _) = env(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", "c")]);
        let uri = Uri::from_static("https://c:4318/");
        let url = parse_proxy_url("u:p%40ss@mine:8080").unwrap();
        let chosen = resolve_proxy(&ProxyChoice::Url(url), &env, &uri, false)
            .unwrap()
            .unwrap();
        assert_eq!(chosen.uri, "http://mine:8080/");
        // base64("u:p@ss")
        assert_eq!(chosen.authorization.unwrap(), "Basic dTpwQHNz");
        assert_eq!(
            resolve_proxy(&ProxyChoice::Off, &env, &uri, false).unwrap(),
            None
        );
    }

    #[test]
    fn bad_proxy_urls_are_refused_without_showing_credentials() {
        for bad in [
            "socks5://user:hunter2@p:1080",
            "https://user:hunter2@p:3128",
            "http://user:hunter2@p:99999",
            "http://user:hunter2@:3128",
            "http://user:hunter2@p:port",
            "user:hunter2@p:port",
        ] {
            let err = parse_proxy_url(bad).expect_err(bad);
            assert!(!err.message().contains("hunter2"), "{err}");
            assert!(err.message().contains("***@"), "{err}");
        }
        for good in [
            "http://p:3128",
            "p:3128",
            "http://u:pw@p",
            "http://[::1]:3128/",
        ] {
            parse_proxy_url(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
    }

    #[test]
    fn bad_environment_proxies_are_warnings_naming_the_variable_without_credentials() {
        let (env, warnings) = env(&[("HTTPS_PROXY", "socks5://u:hunter2@p:1")]);
        assert_eq!(proxy_for(&env, "https://c/", false), None);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("HTTPS_PROXY"), "{warnings:?}");
        assert!(!warnings[0].contains("hunter2"), "{warnings:?}");
    }

    #[test]
    fn http_proxy_is_ignored_in_a_cgi_program() {
        let (env, warnings) = env(&[("HTTP_PROXY", "p:1"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(proxy_for(&env, "http://c/", false), None);
        assert!(warnings[0].contains("REQUEST_METHOD"), "{warnings:?}");
    }
}
