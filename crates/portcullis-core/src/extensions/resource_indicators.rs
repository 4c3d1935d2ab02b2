//! Resource indicators (RFC 8707): the `resource` parameter of authorization, token and
//! refresh requests, and the audience (`aud`) of the tokens issued.
//!
//! [`ResourceIndicators`] is a [`TokenExtension`]. Registered on the server, it lets
//! `resource` repeat, and:
//!
//! * at the authorization endpoint, checks every `resource` (§2: an absolute URI
//!   without a fragment) and that the client may ask for it — it is the audience of a
//!   registered resource server ([`ResourceServerStore`]) or in the client's own
//!   [`allowed_resources`](Client::allowed_resources) — and records the resources
//!   granted in the authorization code ([`Resources`]); anything else is
//!   `invalid_target`, redirected to the client with `state` and `iss`;
//! * at the token endpoint, for the `authorization_code` grant and refreshes, lets the
//!   request name some of the resources granted (§2.2: a token for one of them), never
//!   another: the grant keeps the resources granted at authorization, so a refresh may
//!   narrow a token to one of them and a later refresh ask for another of them, but no
//!   request ever widens the grant. A grant that began without `resource` takes none
//!   later;
//! * for the other grants (`client_credentials`, ...), checks the token request's
//!   `resource` values like the authorization endpoint does;
//! * sets the token's audience to exactly the resources of the request (or, when it
//!   names none, all the grant's resources). With no resource at all, the token keeps
//!   the client's [`audience`](Client::audience), or, when the client has none, gets
//!   the configured [default resource](ResourceIndicators::with_default_resource).
//!
//! Resources are compared after normalization ([`resource_key`]): the scheme and the
//! host lower-cased, a default port dropped, an empty path read as `/` (so
//! `https://mcp.example.com` and `https://mcp.example.com/` are one resource), dot
//! segments resolved; any other path is kept exactly (`/mcp` and `/mcp/` differ), and so
//! is a query (allowed by §2, though discouraged). A fragment is refused. The audience
//! issued is the resource *as registered* (the resource server's audience, else the
//! allow-list entry), so that the resource server finds the identifier it was
//! configured with in `aud`, whichever spelling the client sent.

use async_trait::async_trait;

use super::TokenExtension;
use crate::authorization::AuthorizationRequest;
use crate::context::{AuthorizationContext, TokenContext};
use crate::error::OAuthError;
use crate::model::{Client, Extras, Resources};
use crate::store::{ClientStore, ResourceServerStore};
use crate::tokens::Issuance;

/// The parameter (RFC 8707 §2).
pub const RESOURCE: &str = "resource";

/// The RFC 8707 extension (see the module documentation).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ResourceIndicators {
    default_resource: Option<String>,
}

impl ResourceIndicators {
    /// The extension, with no default resource.
    pub fn new() -> Self {
        Self::default()
    }

    /// The audience of tokens issued without any `resource` to a client that has no
    /// [`audience`](Client::audience) of its own. Must be an absolute URI without a
    /// fragment (`invalid_target` otherwise, to report as a configuration error).
    pub fn with_default_resource(
        mut self,
        resource: impl Into<String>,
    ) -> Result<Self, OAuthError> {
        let resource = resource.into();
        resource_key(&resource)?;
        self.default_resource = Some(resource);
        Ok(self)
    }

    /// The default resource, if configured.
    pub fn default_resource(&self) -> Option<&str> {
        self.default_resource.as_deref()
    }
}

/// The normalized form of a resource indicator, for comparison (see the module
/// documentation), or `invalid_target` when it is not an absolute URI, has a fragment,
/// or holds whitespace or control characters.
pub fn resource_key(resource: &str) -> Result<String, OAuthError> {
    let shown = || resource.chars().take(60).collect::<String>();
    if resource.contains('#') {
        return Err(OAuthError::invalid_target(format!(
            "the resource '{}' has a fragment, which RFC 8707 §2 forbids",
            shown()
        )));
    }
    // The URL parser would silently drop some of these; a resource holding them is
    // malformed.
    if resource
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(OAuthError::invalid_target(
            "a resource holds whitespace or control characters",
        ));
    }
    match url::Url::parse(resource) {
        Ok(url) => Ok(url.to_string()),
        Err(_) => Err(OAuthError::invalid_target(format!(
            "the resource '{}' is not an absolute URI (RFC 8707 §2)",
            shown()
        ))),
    }
}

/// Each resource in `requested`, in the registered form of the entry of `registered`
/// it normalizes to, deduplicated, in request order; `Err` with the first one that
/// matches nothing.
fn match_registered<'r>(
    requested: &[(&'r str, String)],
    registered: &[(String, String)],
) -> Result<Vec<String>, &'r str> {
    let mut matched: Vec<String> = Vec::new();
    for (raw, key) in requested {
        let Some((_, form)) = registered.iter().find(|(k, _)| k == key) else {
            return Err(raw);
        };
        if !matched.contains(form) {
            matched.push(form.clone());
        }
    }
    Ok(matched)
}

/// Registered values with their keys; values that are no resource indicator (an
/// audience such as `api`) can never be asked for and are left out.
fn keyed(values: impl IntoIterator<Item = String>) -> Vec<(String, String)> {
    values
        .into_iter()
        .filter_map(|value| resource_key(&value).ok().map(|key| (key, value)))
        .collect()
}

/// The `resource` values of a request with their keys (`invalid_target` for a
/// malformed one).
fn requested<'p>(
    values: impl Iterator<Item = &'p str>,
) -> Result<Vec<(&'p str, String)>, OAuthError> {
    values
        .map(|raw| resource_key(raw).map(|key| (raw, key)))
        .collect()
}

fn not_permitted(raw: &str) -> OAuthError {
    OAuthError::invalid_target(format!(
        "the resource '{}' is not a registered resource server, nor one this client may ask for",
        raw.chars().take(60).collect::<String>()
    ))
}

/// The registered forms of `requested`, when `client` may ask for each of them: the
/// audience of a registered resource server (whose spelling wins, so that the
/// resource server finds the audience it was registered with), or in its allow-list.
async fn permitted<S: ClientStore + ResourceServerStore>(
    store: &S,
    client: &S::Client,
    requested: &[(&str, String)],
) -> Result<Vec<String>, OAuthError> {
    let servers = keyed(store.resource_server_audiences().await?);
    let own = keyed(client.allowed_resources());
    let mut granted: Vec<String> = Vec::new();
    for one in requested {
        let one = std::slice::from_ref(one);
        let form = match_registered(one, &servers)
            .or_else(|_| match_registered(one, &own))
            .map_err(not_permitted)?;
        for form in form {
            if !granted.contains(&form) {
                granted.push(form);
            }
        }
    }
    Ok(granted)
}

#[async_trait]
impl<S: ClientStore + ResourceServerStore> TokenExtension<S> for ResourceIndicators {
    fn name(&self) -> &str {
        "resource_indicators"
    }

    fn repeatable_parameters(&self) -> &[&'static str] {
        &[RESOURCE]
    }

    async fn validate_authorization_request(
        &self,
        context: &AuthorizationContext<'_, S>,
        request: &AuthorizationRequest,
        client: &S::Client,
        extras: &mut Extras,
    ) -> Result<(), OAuthError> {
        let asked = requested(request.params().all(RESOURCE))?;
        if asked.is_empty() {
            return Ok(());
        }
        let granted = permitted(context.store(), client, &asked).await?;
        extras.insert::<Resources>(granted);
        Ok(())
    }

    async fn before_issue(
        &self,
        context: &TokenContext<'_, S>,
        issuance: &mut Issuance,
    ) -> Result<(), OAuthError> {
        let asked = requested(context.params().all(RESOURCE))?;
        match issuance.extras.get::<Resources>() {
            Some(granted) => {
                if asked.is_empty() {
                    issuance.audience = granted;
                } else {
                    let granted = keyed(granted);
                    issuance.audience = match_registered(&asked, &granted).map_err(|raw| {
                        OAuthError::invalid_target(format!(
                            "the resource '{}' was not granted in this grant; a token request may only name resources of the authorization request",
                            raw.chars().take(60).collect::<String>()
                        ))
                    })?;
                }
            }
            None if issuance.grant_type == "authorization_code" || issuance.is_rotation() => {
                if !asked.is_empty() {
                    return Err(OAuthError::invalid_target(
                        "this grant was authorized for no resource; send the resource in the authorization request",
                    ));
                }
            }
            None => {
                if !asked.is_empty() {
                    let client = context.client()?;
                    let granted = permitted(context.store(), client, &asked).await?;
                    issuance.audience = granted.clone();
                    issuance.extras.insert::<Resources>(granted);
                }
            }
        }
        if issuance.audience.is_empty() {
            if let Some(default) = &self.default_resource {
                issuance.audience = vec![default.clone()];
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    #[test]
    fn normalization_tolerates_the_trailing_slash_and_case_and_refuses_fragments() {
        let key = |s: &str| resource_key(s).unwrap();
        assert_eq!(
            key("https://mcp.example.com"),
            key("https://mcp.example.com/")
        );
        assert_eq!(key("HTTPS://MCP.Example.COM"), "https://mcp.example.com/");
        assert_eq!(
            key("https://mcp.example.com:443/"),
            "https://mcp.example.com/"
        );
        assert_ne!(
            key("https://mcp.example.com/mcp"),
            key("https://mcp.example.com/mcp/")
        );
        assert_ne!(
            key("https://mcp.example.com/MCP"),
            key("https://mcp.example.com/mcp")
        );
        assert_eq!(
            key("https://api.example/x?tenant=1"),
            "https://api.example/x?tenant=1"
        );
        assert_eq!(key("urn:example:api"), "urn:example:api");
        for bad in [
            "/relative",
            "mcp.example.com",
            "",
            "https://mcp.example.com/#frag",
            "https://mcp.example.com/#",
            "https://mcp.example.com/ x",
            "https://mcp.example.com/\n",
        ] {
            assert_eq!(
                resource_key(bad).unwrap_err().code(),
                ErrorCode::InvalidTarget,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn requested_resources_take_the_registered_form() {
        let registered = keyed(vec![
            "https://mcp.example.com".to_owned(),
            "api".to_owned(),
            "https://b.example/api".to_owned(),
        ]);
        assert_eq!(registered.len(), 2);
        let asked =
            requested(["https://MCP.example.com/", "https://mcp.example.com"].into_iter()).unwrap();
        assert_eq!(
            match_registered(&asked, &registered).unwrap(),
            vec!["https://mcp.example.com".to_owned()]
        );
        let asked = requested(["https://b.example/api/"].into_iter()).unwrap();
        assert_eq!(
            match_registered(&asked, &registered).unwrap_err(),
            "https://b.example/api/"
        );
    }
}
