//! HTML templates (minijinja), built in and overridable.
//!
//! The built-in templates are compiled into the binary. When the configuration names a
//! `templates_dir`, a file there with the same name (`login.html`, `consent.html`,
//! `error.html`, `logout.html`, `signed_out.html`, `base.html`, `portcullis.css`)
//! replaces the built-in one. Output is HTML-escaped automatically.
//!
//! Every page also sees `site`: the configured service name (`site.name`) and, when a
//! logo is configured, its address (`site.logo`) — see [`Branding`].
//!
//! Each page has a typed context ([`LoginPage`], [`ConsentPage`], [`ErrorPage`],
//! [`LogoutPage`], [`SignedOutPage`], [`HomePage`]) that names exactly what its template may use,
//! and a [`Page::sample`] that the tests render every template against — so an
//! operator overriding a template knows its variables, and a renamed variable fails a
//! test instead of rendering empty.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Environment;
use serde::Serialize;

/// The built-in templates, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    (
        "signed_out.html",
        include_str!("../templates/signed_out.html"),
    ),
    ("home.html", include_str!("../templates/home.html")),
];

const CSS: &str = include_str!("../templates/portcullis.css");

/// The largest logo file, in bytes.
pub const MAX_LOGO_BYTES: u64 = 256 * 1024;

/// Where the pages load the logo from.
pub const LOGO_PATH: &str = "/static/logo";

/// The configured logo: an image file read once at start-up.
#[derive(Clone)]
pub struct Logo {
    /// The file's bytes.
    pub bytes: axum::body::Bytes,
    /// Its media type, from the file name's extension.
    pub content_type: &'static str,
}

impl Logo {
    /// Reads the image at `path`: a `.png`, `.jpg`/`.jpeg`, `.gif`, `.webp` or `.svg`
    /// file of at most [`MAX_LOGO_BYTES`]. The error says which rule failed and how to
    /// fix it.
    pub fn load(path: &Path) -> Result<Self, std::io::Error> {
        let invalid = |why: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("logo '{}' {why}", path.display()),
            )
        };
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let content_type = match extension.as_deref() {
            Some("png") => "image/png",
            Some("jpg" | "jpeg") => "image/jpeg",
            Some("gif") => "image/gif",
            Some("webp") => "image/webp",
            Some("svg") => "image/svg+xml",
            _ => {
                return Err(invalid(
                    "is not an image the pages can show: name a .png, .jpg, .gif, .webp or \
                     .svg file"
                        .into(),
                ))
            }
        };
        let size = std::fs::metadata(path)
            .map_err(|e| invalid(format!("cannot be read: {e}")))?
            .len();
        if size > MAX_LOGO_BYTES {
            return Err(invalid(format!(
                "is {size} bytes; a logo must be at most {MAX_LOGO_BYTES} bytes (256 KiB)"
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| invalid(format!("cannot be read: {e}")))?;
        Ok(Self {
            bytes: bytes.into(),
            content_type,
        })
    }
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logo")
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// Who runs this sign-in, as every page shows it.
#[derive(Debug, Clone)]
pub struct Branding {
    /// The service name (`service_name`).
    pub name: String,
    /// The logo (`logo`), if any.
    pub logo: Option<Logo>,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            name: "Portcullis".to_owned(),
            logo: None,
        }
    }
}

/// `site` in every template.
#[derive(Debug, Serialize)]
struct Site<'a> {
    /// The service name.
    name: &'a str,
    /// The logo's address, when there is one.
    logo: Option<String>,
}

/// A template failed to load or render.
#[derive(Debug, thiserror::Error)]
#[error("template '{name}' failed: {source}")]
pub struct TemplateError {
    name: String,
    #[source]
    source: minijinja::Error,
}

/// A page's typed context: the template it renders and a sample to test it with.
pub trait Page: Serialize {
    /// The template's name.
    const TEMPLATE: &'static str;

    /// A context with every field set, for tests and for operators' previews.
    fn sample() -> Self
    where
        Self: Sized;
}

/// `login.html`: the sign-in form.
#[derive(Debug, Clone, Serialize)]
pub struct LoginPage {
    /// Where the form posts (with the request id or the local return path).
    pub action: String,
    /// The form's CSRF token.
    pub csrf_token: String,
    /// An error to show above the form.
    pub error: Option<String>,
    /// The username typed before, to fill in again.
    pub username: String,
    /// For a pending authorization request: where "Cancel" goes (the application
    /// hears `access_denied`).
    pub cancel: Option<String>,
    /// For a pending authorization request: the application the user signs in to
    /// ("Sign in to continue to *My App*").
    pub client: Option<ClientLine>,
}

/// The application a page is about: its name and where it will send the user back.
#[derive(Debug, Clone, Serialize)]
pub struct ClientLine {
    /// The client's registered name.
    pub name: String,
    /// The host of the redirect URI the user returns to (`my-app.example`), or `None`
    /// for a redirect URI without one (a native app's private-use scheme).
    pub host: Option<String>,
}

impl ClientLine {
    /// `name`, returning to `redirect_uri`.
    pub fn new(name: &str, redirect_uri: Option<&str>) -> Self {
        let host = redirect_uri
            .and_then(|uri| url::Url::parse(uri).ok())
            .and_then(|url| url.host_str().map(str::to_owned))
            .filter(|host| !host.is_empty());
        Self {
            name: name.to_owned(),
            host,
        }
    }
}

impl Page for LoginPage {
    const TEMPLATE: &'static str = "login.html";
    fn sample() -> Self {
        Self {
            action: "/login?request_id=sample".into(),
            csrf_token: "sample-csrf-token".into(),
            error: Some("The username or password is incorrect.".into()),
            username: "alice".into(),
            cancel: Some("/cancel?request_id=sample".into()),
            client: Some(ClientLine::new(
                "Sample App",
                Some("https://app.example.com/callback"),
            )),
        }
    }
}

/// One permission on the consent page.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeLine {
    /// The scope token.
    pub name: String,
    /// What it means, in words.
    pub description: String,
    /// What of the user's own it shares, in words (an OpenID scope: "your email
    /// address (alice@example.com)"); empty for the others.
    pub shares: Vec<String>,
}

/// `consent.html`: what the client asks for, Allow or Deny.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentPage {
    /// Where the form posts.
    pub action: String,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// The client's name.
    pub client_name: String,
    /// The host of the redirect URI the user returns to, if it has one.
    pub client_host: Option<String>,
    /// Who is signed in.
    pub username: String,
    /// What is asked for.
    pub scopes: Vec<ScopeLine>,
    /// The resources (RFC 8707 `resource`) the access would be for, as the client
    /// named them; empty when it named none.
    pub resources: Vec<String>,
    /// The sign-in page for this request: to continue as someone else.
    pub switch_account: String,
    /// For a client known by its client ID metadata document: the host of its URL
    /// (`app.example.com`), shown as its name, since `client_name` is only what the
    /// document says of itself.
    pub client_id_host: Option<String>,
}

impl Page for ConsentPage {
    const TEMPLATE: &'static str = "consent.html";
    fn sample() -> Self {
        Self {
            action: "/consent?request_id=sample".into(),
            csrf_token: "sample-csrf-token".into(),
            client_name: "Sample App".into(),
            client_host: Some("app.example.com".into()),
            username: "alice".into(),
            scopes: vec![ScopeLine {
                name: "email".into(),
                description: "See your email address".into(),
                shares: vec!["your email address (alice@example.com)".into()],
            }],
            resources: vec!["https://mcp.example.com".into()],
            switch_account: "/login?request_id=sample".into(),
            client_id_host: None,
        }
    }
}

/// `error.html`: a request that cannot go on.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorPage {
    /// The headline.
    pub title: String,
    /// What happened and what to do, in plain words.
    pub message: String,
    /// The technical explanation, folded away under "Technical details".
    pub detail: Option<String>,
    /// The OAuth error code, if any (with the details).
    pub code: Option<String>,
}

impl Page for ErrorPage {
    const TEMPLATE: &'static str = "error.html";
    fn sample() -> Self {
        Self {
            title: "This sign-in request cannot be completed".into(),
            message: "The application that sent you here made a request this server cannot accept."
                .into(),
            detail: Some("The client is not registered.".into()),
            code: Some("invalid_client".into()),
        }
    }
}

/// `logout.html`: confirm signing out.
#[derive(Debug, Clone, Serialize)]
pub struct LogoutPage {
    /// Where the form posts.
    pub action: String,
    /// The session's CSRF token.
    pub csrf_token: String,
    /// Who is signed in.
    pub username: String,
    /// A relying party's logout parameters (`client_id`, `post_logout_redirect_uri`,
    /// `state`), carried through the confirmation as hidden fields.
    pub carried: Vec<(String, String)>,
}

impl Page for LogoutPage {
    const TEMPLATE: &'static str = "logout.html";
    fn sample() -> Self {
        Self {
            action: "/logout".into(),
            csrf_token: "sample-csrf-token".into(),
            username: "alice".into(),
            carried: vec![("state".into(), "sample-state".into())],
        }
    }
}

/// `signed_out.html`: nobody is signed in (any more).
#[derive(Debug, Clone, Serialize)]
pub struct SignedOutPage {}

impl Page for SignedOutPage {
    const TEMPLATE: &'static str = "signed_out.html";
    fn sample() -> Self {
        Self {}
    }
}

/// `home.html`: the server's home page at `/`.
#[derive(Debug, Clone, Serialize)]
pub struct HomePage {
    /// The issuer identifier.
    pub issuer: String,
    /// Who is signed in, if anyone.
    pub username: Option<String>,
    /// No user exists yet: show how to create one.
    pub needs_user: bool,
    /// No client exists yet: show how to register one.
    pub needs_client: bool,
    /// `portcullis/VERSION`.
    pub version: String,
}

impl Page for HomePage {
    const TEMPLATE: &'static str = "home.html";
    fn sample() -> Self {
        Self {
            issuer: "https://auth.example.com".into(),
            username: Some("alice".into()),
            needs_user: true,
            needs_client: true,
            version: "portcullis/0.0.0".into(),
        }
    }
}

/// Every page's template and its sample context, for tests and previews.
pub fn samples() -> Vec<(&'static str, minijinja::Value)> {
    fn sample<P: Page>() -> (&'static str, minijinja::Value) {
        (P::TEMPLATE, minijinja::Value::from_serialize(P::sample()))
    }
    vec![
        sample::<LoginPage>(),
        sample::<ConsentPage>(),
        sample::<ErrorPage>(),
        sample::<LogoutPage>(),
        sample::<SignedOutPage>(),
        sample::<HomePage>(),
    ]
}

/// The page templates and the stylesheet.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    css: Arc<str>,
    logo: Option<Logo>,
}

impl Templates {
    /// Loads the templates, with overrides from `dir` when given, showing `branding`.
    pub fn new(dir: Option<PathBuf>, branding: Branding) -> Result<Self, std::io::Error> {
        Self::with_base_path(dir, branding, "")
    }

    /// Loads the templates, with overrides from `dir` when given, showing `branding`,
    /// for a server whose endpoints are under `base` (the issuer's path, `""` for
    /// none): every template sees it as `base`, and links `{{ base }}/login`.
    pub fn with_base_path(
        dir: Option<PathBuf>,
        branding: Branding,
        base: &str,
    ) -> Result<Self, std::io::Error> {
        let css = match &dir {
            Some(dir) if dir.join("portcullis.css").is_file() => {
                std::fs::read_to_string(dir.join("portcullis.css"))?
            }
            _ => CSS.to_owned(),
        };
        if let Some(dir) = &dir {
            if !dir.is_dir() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("templates_dir '{}' is not a directory", dir.display()),
                ));
            }
        }
        let mut env = Environment::new();
        env.add_global("base", base.to_owned());
        env.set_loader(move |name| {
            if let Some(dir) = &dir {
                // Only the known names are ever loaded, so no path escapes `dir`.
                if BUILT_IN.iter().any(|(known, _)| *known == name) {
                    let path = dir.join(name);
                    if path.is_file() {
                        return std::fs::read_to_string(&path).map(Some).map_err(|e| {
                            minijinja::Error::new(
                                minijinja::ErrorKind::InvalidOperation,
                                format!("cannot read {}: {e}", path.display()),
                            )
                        });
                    }
                }
            }
            Ok(BUILT_IN
                .iter()
                .find(|(known, _)| *known == name)
                .map(|(_, text)| (*text).to_owned()))
        });
        env.add_global(
            "site",
            minijinja::Value::from_serialize(Site {
                name: &branding.name,
                logo: branding.logo.as_ref().map(|_| format!("{base}{LOGO_PATH}")),
            }),
        );
        Ok(Self {
            env: Arc::new(env),
            css: css.into(),
            logo: branding.logo,
        })
    }

    /// Renders template `name` with `context`.
    pub fn render(&self, name: &str, context: minijinja::Value) -> Result<String, TemplateError> {
        let wrap = |source| TemplateError {
            name: name.to_owned(),
            source,
        };
        self.env
            .get_template(name)
            .map_err(wrap)?
            .render(context)
            .map_err(wrap)
    }

    /// Renders `page` with its template.
    pub fn render_page<P: Page>(&self, page: &P) -> Result<String, TemplateError> {
        self.render(P::TEMPLATE, minijinja::Value::from_serialize(page))
    }

    /// The stylesheet.
    pub fn css(&self) -> &str {
        &self.css
    }

    /// The configured logo, if any.
    pub fn logo(&self) -> Option<&Logo> {
        self.logo.as_ref()
    }
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn every_template_renders_and_escapes() {
        let templates = Templates::new(None, Branding::default()).unwrap();
        let evil = "<script>alert(1)</script>";
        let scopes = vec![context! { name => "profile", description => evil }];
        let context = context! {
            action => "/x?a=1&b=2", csrf_token => "tok", error => evil, username => evil,
            client_name => evil, scopes => scopes, title => evil, message => evil, code => "invalid_request",
        };
        for (name, _) in BUILT_IN {
            let html = templates.render(name, context.clone()).unwrap();
            assert!(!html.contains("<script>"), "{name} must escape its input");
            if *name != "base.html" {
                assert!(html.contains("<!doctype html>"), "{name} extends base.html");
            }
        }
        let login = templates.render("login.html", context.clone()).unwrap();
        assert!(login.contains("name=\"username\"") && login.contains("name=\"password\""));
        assert!(login.contains("name=\"csrf_token\" value=\"tok\""));
        let consent = templates.render("consent.html", context).unwrap();
        assert!(consent.contains("name=\"decision\" value=\"allow\""));
        assert!(consent.contains("name=\"decision\" value=\"deny\""));
    }

    /// Every template renders against its page's sample, and shows what the sample
    /// holds: a variable renamed on one side only fails here.
    #[test]
    fn every_template_renders_its_sample() {
        let templates = Templates::new(None, Branding::default()).unwrap();
        let samples = samples();
        for (name, _) in BUILT_IN.iter().filter(|(name, _)| *name != "base.html") {
            assert!(
                samples.iter().any(|(template, _)| template == name),
                "{name} has a typed context with a sample"
            );
        }
        for (name, context) in samples {
            let html = templates.render(name, context).unwrap();
            assert!(html.contains("<!doctype html>"), "{name} extends base.html");
        }
        let login = templates.render_page(&LoginPage::sample()).unwrap();
        // minijinja escapes `/` too.
        assert!(
            login.contains("action=\"&#x2f;login?request_id=sample\""),
            "{login}"
        );
        assert!(login.contains("value=\"sample-csrf-token\""));
        assert!(login.contains("The username or password is incorrect."));
        assert!(login.contains("value=\"alice\""));
        assert!(
            login.contains("Sign in to continue to <span class=\"client\">Sample App</span>")
                && login.contains("<strong class=\"host\">app.example.com</strong>"),
            "{login}"
        );
        // The error names the fields it is about, for screen readers.
        assert!(login.contains("id=\"login-error\""));
        assert_eq!(login.matches("aria-describedby=\"login-error\"").count(), 2);
        assert!(login.contains("<span class=\"service\">Portcullis</span>"));
        let consent = templates.render_page(&ConsentPage::sample()).unwrap();
        for expected in [
            "Sample App",
            "alice",
            "See your email address",
            "<code>email</code>",
            "Shares your email address (alice@example.com)",
            "<strong class=\"host\">app.example.com</strong>",
            "href=\"&#x2f;login?request_id=sample\"",
            "&#x2f;consent?request_id=sample",
        ] {
            assert!(consent.contains(expected), "consent page shows {expected}");
        }
        let error = templates.render_page(&ErrorPage::sample()).unwrap();
        assert!(
            error.contains("The client is not registered.") && error.contains("invalid_client")
        );
        assert!(
            error.contains("<details>") && error.contains("href=\"/\""),
            "{error}"
        );
        let logout = templates.render_page(&LogoutPage::sample()).unwrap();
        assert!(logout.contains("alice") && logout.contains("sample-csrf-token"));
    }

    #[test]
    fn operator_overrides_a_template() {
        let dir = std::env::temp_dir().join(format!("portcullis-tpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("signed_out.html"), "Bye {{ 1 + 1 }}").unwrap();
        let templates = Templates::new(Some(dir), Branding::default()).unwrap();
        assert_eq!(
            templates.render("signed_out.html", context! {}).unwrap(),
            "Bye 2"
        );
        assert!(templates
            .render("login.html", context! {})
            .unwrap()
            .contains("Sign in"));
    }
}
