//! Response types (OAuth 2.0 Multiple Response Type Encoding Practices §5): a
//! `response_type` is a set of space-separated values, compared as a set — `id_token
//! code` is `code id_token`. Used by the server's dispatch and by clients'
//! registrations alike.

/// The response-type values in the order a canonical `response_type` lists them.
const ORDER: [&str; 4] = ["code", "id_token", "token", "none"];

/// `value` as a set, in the canonical order (`code`, `id_token`, `token`, then any
/// other value as sent): `id_token code` gives `code id_token`. A value listed twice
/// or an empty value is `None`.
pub fn canonical_response_type(value: &str) -> Option<String> {
    let mut parts: Vec<&str> = value.split(' ').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    // A stable sort: values this order does not know keep the order they came in.
    parts.sort_by_key(|part| ORDER.iter().position(|o| o == part).unwrap_or(ORDER.len()));
    for (i, part) in parts.iter().enumerate() {
        if parts[i + 1..].contains(part) {
            return None;
        }
    }
    Some(parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_are_compared_as_sets() {
        assert_eq!(canonical_response_type("code").as_deref(), Some("code"));
        assert_eq!(
            canonical_response_type("id_token code").as_deref(),
            Some("code id_token")
        );
        assert_eq!(
            canonical_response_type("token id_token code").as_deref(),
            Some("code id_token token")
        );
        assert_eq!(
            canonical_response_type("token code").as_deref(),
            Some("code token")
        );
        assert_eq!(
            canonical_response_type("x-custom code").as_deref(),
            Some("code x-custom")
        );
        for bad in [
            "",
            " ",
            "code  token",
            "code code",
            "token id_token token",
            "a b a",
        ] {
            assert_eq!(canonical_response_type(bad), None, "{bad:?}");
        }
    }
}
