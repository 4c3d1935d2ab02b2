//! Issue 14, item 4: property tests (proptest) for the invariants of redirect URI
//! matching and scope arithmetic, over generated inputs rather than chosen examples.
//! The fuzz targets (`fuzz/`) assert the same invariants on arbitrary bytes.

use portcullis_core::redirect_uri::{
    redirect_uri_matches, redirect_uri_matches_with, validate_redirect_uri, RedirectUriMatching,
};
use portcullis_core::Scope;
use proptest::prelude::*;

/// The hosts redirect URIs are made of: ordinary names, the loopback literals
/// (whose port may vary, RFC 8252 §7.3), `localhost` (whose port may vary only with
/// the leeway) and near-misses of them.
const HOSTS: &[&str] = &[
    "app.example.com",
    "APP.example.com",
    "127.0.0.1",
    "127.0.0.2",
    "[::1]",
    "localhost",
    "localhost.example",
    "127.0.0.1.example",
];

/// One redirect URI, as its parts.
#[derive(Debug, Clone)]
struct Parts {
    scheme: &'static str,
    host: &'static str,
    port: Option<u16>,
    path: String,
    query: Option<String>,
}

impl Parts {
    fn uri(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        let query = self
            .query
            .as_ref()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        format!("{}://{}{port}{}{query}", self.scheme, self.host, self.path)
    }

    /// The URI without its port: what may vary is exactly the port.
    fn without_port(&self) -> Parts {
        Parts {
            port: None,
            ..self.clone()
        }
    }
}

fn segment() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&b"abcAB09-._~%2F"[..]), 0..6)
        .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        prop::sample::select(&["http", "https"][..]),
        prop::sample::select(HOSTS),
        prop::option::of(prop::sample::select(&[80u16, 443, 3000, 8080, 51004][..])),
        prop::collection::vec(segment(), 0..3),
        prop::option::of(segment()),
    )
        .prop_map(|(scheme, host, port, segments, query)| Parts {
            scheme,
            host,
            port,
            path: segments.iter().map(|s| format!("/{s}")).collect(),
            query: query.map(|q| format!("x={q}")),
        })
}

/// What matching must say, written independently of the implementation: equal
/// strings match; otherwise only http URIs of the same loopback IP literal (or of
/// `localhost`, with the leeway) that are equal once their ports are removed.
fn expected(registered: &Parts, requested: &Parts, localhost_leeway: bool) -> bool {
    if registered.uri() == requested.uri() {
        return true;
    }
    let varies = |p: &Parts| {
        p.scheme == "http"
            && (p.host == "127.0.0.1"
                || p.host == "[::1]"
                || (localhost_leeway && p.host == "localhost"))
    };
    varies(registered)
        && varies(requested)
        && registered.without_port().uri() == requested.without_port().uri()
}

fn scope_token() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&b"abcdefgz:._-!#~"[..]), 1..6)
        .prop_map(|bytes| bytes.into_iter().map(char::from).collect())
}

fn scope() -> impl Strategy<Value = Scope> {
    prop::collection::vec(scope_token(), 0..6).prop_map(Scope::from_tokens)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matching_is_exact_but_for_the_port_of_a_loopback_literal(
        registered in parts(),
        requested in parts(),
    ) {
        prop_assert_eq!(
            redirect_uri_matches(&registered.uri(), &requested.uri()),
            expected(&registered, &requested, false),
            "{} vs {}", registered.uri(), requested.uri()
        );
        prop_assert_eq!(
            redirect_uri_matches_with(
                &registered.uri(),
                &requested.uri(),
                RedirectUriMatching::new().with_localhost_port_leeway(true),
            ),
            expected(&registered, &requested, true),
            "{} vs {} (localhost leeway)", registered.uri(), requested.uri()
        );
    }

    #[test]
    fn a_registrable_uri_matches_itself_and_never_with_a_fragment(uri in parts()) {
        let uri = uri.uri();
        if validate_redirect_uri(&uri).is_ok() {
            prop_assert!(redirect_uri_matches(&uri, &uri), "{}", uri);
        }
        let with_fragment = format!("{uri}#x");
        prop_assert!(!redirect_uri_matches(&with_fragment, &with_fragment));
        prop_assert!(!redirect_uri_matches(&uri, &with_fragment));
    }

    #[test]
    fn the_leeway_only_ever_adds_matches(registered in parts(), requested in parts()) {
        let (a, b) = (registered.uri(), requested.uri());
        if redirect_uri_matches(&a, &b) {
            prop_assert!(redirect_uri_matches_with(
                &a,
                &b,
                RedirectUriMatching::new().with_localhost_port_leeway(true)
            ));
        }
    }

    #[test]
    fn a_scope_prints_back_to_itself(a in scope()) {
        let printed = a.to_string();
        prop_assert_eq!(Scope::parse(&printed).unwrap(), a);
    }

    #[test]
    fn scope_intersection_is_the_common_part(a in scope(), b in scope()) {
        let both = a.intersection(&b);
        prop_assert_eq!(&both, &b.intersection(&a));
        prop_assert!(both.is_subset_of(&a) && both.is_subset_of(&b));
        for token in a.iter() {
            prop_assert_eq!(both.contains(token), b.contains(token));
        }
        prop_assert_eq!(a.is_subset_of(&b), a.intersection(&b) == a);
        prop_assert!(a.is_subset_of(&a));
        prop_assert!(Scope::empty().is_subset_of(&a));
    }

    #[test]
    fn a_scope_is_a_set_whatever_the_order_and_repeats(tokens in prop::collection::vec(scope_token(), 0..6)) {
        let mut reversed = tokens.clone();
        reversed.reverse();
        let mut doubled = tokens.clone();
        doubled.extend(tokens.iter().cloned());
        let scope = Scope::from_tokens(tokens.clone());
        prop_assert_eq!(&scope, &Scope::from_tokens(reversed));
        prop_assert_eq!(&scope, &Scope::from_tokens(doubled));
        prop_assert_eq!(Scope::parse(&tokens.join(" ")).unwrap(), scope);
    }
}
