//! HTML templates (minijinja), built in and overridable.
//!
//! The built-in templates are compiled into the binary. When the configuration names a
//! `templates_dir`, a file there with the same name (`login.html`, `consent.html`,
//! `error.html`, `logout.html`, `signed_out.html`, `base.html`, `portcullis.css`)
//! replaces the built-in one. Output is HTML-escaped automatically.

use std::path::PathBuf;
use std::sync::Arc;

use minijinja::Environment;

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
];

const CSS: &str = include_str!("../templates/portcullis.css");

/// A template failed to load or render.
#[derive(Debug, thiserror::Error)]
#[error("template '{name}' failed: {source}")]
pub struct TemplateError {
    name: String,
    #[source]
    source: minijinja::Error,
}

/// The page templates and the stylesheet.
#[derive(Clone)]
pub struct Templates {
    env: Arc<Environment<'static>>,
    css: Arc<str>,
}

impl Templates {
    /// Loads the templates, with overrides from `dir` when given.
    pub fn new(dir: Option<PathBuf>) -> Result<Self, std::io::Error> {
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
        Ok(Self {
            env: Arc::new(env),
            css: css.into(),
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

    /// The stylesheet.
    pub fn css(&self) -> &str {
        &self.css
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    #[test]
    fn every_template_renders_and_escapes() {
        let templates = Templates::new(None).unwrap();
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

    #[test]
    fn operator_overrides_a_template() {
        let dir = std::env::temp_dir().join(format!("portcullis-tpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("signed_out.html"), "Bye {{ 1 + 1 }}").unwrap();
        let templates = Templates::new(Some(dir)).unwrap();
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
