//! `portcullis-bench external`: the same load generator against another server
//! (Authlib, node-oidc-provider, …) on this machine, for comparison.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use http::{HeaderValue, Uri};

use crate::cli::ExternalArgs;
use crate::load::{basic_auth, form, Plan, Target, Workload};
use crate::report::table;
use crate::rss::{load_average, mib, rss_kib};
use crate::run::{check_loopback_host, introspection_bodies, measure, measure_hello};

/// An endpoint URL split into what the generator needs.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// Address and `Host` header.
    pub(crate) target: Target,
    /// Path and query, e.g. `/oauth/token`.
    pub(crate) path: Uri,
}

/// Parses an `http://` URL on a loopback host.
pub(crate) fn endpoint(url: &str, what: &str) -> Result<Endpoint, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{what}: not a URL ({e}): {url}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "{what}: only http:// is supported (the generator speaks plain HTTP/1.1)"
        ));
    }
    check_loopback_host(&parsed, what)?;
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("{what}: no host"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addr: SocketAddr = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .map_err(|e| format!("{what}: cannot resolve {host}: {e}"))?
        .find(|a| a.ip().is_loopback())
        .ok_or_else(|| format!("{what}: {host} does not resolve to a loopback address"))?;
    let mut target = Target::new(addr)?;
    let authority = match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    };
    target.host =
        HeaderValue::from_str(&authority).map_err(|e| format!("{what}: bad host: {e}"))?;
    let mut path = parsed.path().to_owned();
    if let Some(query) = parsed.query() {
        path.push('?');
        path.push_str(query);
    }
    let path = path
        .parse()
        .map_err(|e| format!("{what}: bad path {path}: {e}"))?;
    Ok(Endpoint { target, path })
}

/// `portcullis-bench external`.
pub(crate) async fn run(args: ExternalArgs) -> Result<(), String> {
    let token = endpoint(&args.token_url, "--token-url")?;
    let introspect = args
        .introspect_url
        .as_deref()
        .map(|url| endpoint(url, "--introspect-url"))
        .transpose()?;
    let auth = basic_auth(&args.client_id, &args.client_secret)?;
    let mut pairs = vec![("grant_type", "client_credentials")];
    if let Some(scope) = &args.scope {
        pairs.push(("scope", scope));
    }
    let cc_body = form(&pairs);
    let pid = args.pid.map(|pid| (pid, true));
    println!(
        "portcullis-bench external '{}': {} connections, {} generator threads, {} s per scenario, load average {}",
        args.label,
        args.load.connections,
        args.load.threads,
        args.load.duration,
        load_average()
    );
    if let Some(pid) = args.pid {
        println!(
            "server pid {pid} (with children): idle RSS {} MiB",
            rss_kib(pid, true).map_or_else(|| "?".to_owned(), |k| format!("{:.1}", mib(k)))
        );
    }
    let duration = Duration::from_secs(args.load.duration);
    let plan = |endpoint: &Endpoint, workload: Workload| Plan {
        target: endpoint.target.clone(),
        path: endpoint.path.clone(),
        auth: auth.clone(),
        workload,
        connections: args.load.connections,
        duration,
    };
    let label = |name: &str| format!("{} {name}", args.label);
    let mut rows = Vec::new();
    rows.push(
        measure(
            label("cc-opaque"),
            plan(&token, Workload::Fixed(cc_body.clone())),
            pid,
        )
        .await,
    );
    if let Some(introspect) = &introspect {
        let path = token.path.to_string();
        let bodies = introspection_bodies(&token.target, &path, &auth, cc_body.clone()).await?;
        let workload = Workload::Introspect(bodies);
        rows.push(measure(label("introspect"), plan(introspect, workload), pid).await);
    }
    if args.with_hello {
        rows.push(measure_hello("hello".to_owned(), &args.load, auth.clone(), cc_body).await);
    }
    println!();
    print!("{}", table(&rows));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_loopback_http_urls() {
        let e = endpoint("http://127.0.0.1:5000/oauth/token?x=1", "t").unwrap();
        assert_eq!(e.target.addr, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(e.target.host, "127.0.0.1:5000");
        assert_eq!(e.path, "/oauth/token?x=1");
        let e = endpoint("http://[::1]:3000/token", "t").unwrap();
        assert_eq!(e.target.addr, "[::1]:3000".parse().unwrap());
        assert!(endpoint("https://127.0.0.1/token", "t").is_err());
        assert!(endpoint("http://192.0.2.1/token", "t").is_err());
        assert!(endpoint("not a url", "t").is_err());
    }
}
