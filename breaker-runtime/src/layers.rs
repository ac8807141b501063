//! A registry's configuration layers, and which of them supplied each field of a breaker.

use std::collections::{BTreeMap, HashMap};

use breaker_core::{Config, ConfigBuilder, ConfigError, KEYS};

use crate::sources::{SourceConfig, SourceError};

/// The configuration layers of a registry, lowest precedence first.
#[derive(Debug, Default, Clone)]
pub(crate) struct Layers {
    pub(crate) code_default: ConfigBuilder,
    pub(crate) attribute: HashMap<String, (ConfigBuilder, &'static str)>,
    // A `BTreeMap` as the file and environment layers' sections are: it shares their map's
    // compiled code (a `HashMap` was one more copy of its own).
    pub(crate) code: BTreeMap<String, ConfigBuilder>,
    pub(crate) file: SourceConfig,
    /// The file's path as shown in reports, when the file layer came from one.
    pub(crate) file_name: Option<String>,
    pub(crate) env: SourceConfig,
}

/// Where one layer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin<'a> {
    CodeDefault,
    Attribute(&'static str),
    Code,
    File(&'a str),
    Env(&'a str),
}

impl Layers {
    /// Every layer that applies to `name`, lowest precedence first.
    fn stack(&self, name: &str) -> Vec<(Origin<'_>, &ConfigBuilder)> {
        let mut stack = vec![(Origin::CodeDefault, &self.code_default)];
        stack.extend(self.attribute.get(name).map(|(b, site)| (Origin::Attribute(site), b)));
        stack.extend(self.code.get(name).map(|b| (Origin::Code, b)));
        stack.push((Origin::File("default"), &self.file.default));
        stack.extend(self.file.sections_for(name, false).into_iter().map(|(s, b)| (Origin::File(s), b)));
        stack.push((Origin::Env("default"), &self.env.default));
        stack.extend(self.env.sections_for(name, true).into_iter().map(|(s, b)| (Origin::Env(s), b)));
        stack
    }

    /// The combined builder for `name`.
    pub(crate) fn builder_for(&self, name: &str) -> ConfigBuilder {
        self.stack(name).into_iter().fold(Config::builder(), |b, (_, layer)| b.merge(layer))
    }

    pub(crate) fn effective(&self, name: &str) -> Result<Config, ConfigError> {
        self.builder_for(name).build()
    }

    /// The registry-wide switch: `enabled = false` in the environment or the file.
    pub(crate) fn enabled(&self) -> bool {
        self.env.enabled.or(self.file.enabled).unwrap_or(true)
    }

    /// True when the breaker named `name` should work as a breaker: neither the registry-wide
    /// switch nor its own `enabled` turns it off.
    pub(crate) fn switched_on(&self, config: &Config) -> bool {
        self.enabled() && config.enabled()
    }

    /// True when some source configures `name` itself: such names come from code or from
    /// operators, not from request data, so they never count against the capacity.
    pub(crate) fn names(&self, name: &str) -> bool {
        self.attribute.contains_key(name)
            || self.code.contains_key(name)
            || self.file.mentions(name, false)
            || self.env.mentions(name, true)
    }

    /// What supplied `field` of `name`'s configuration: the variable, the file's path, line
    /// and section, the attribute's site, code, or the built-in default.
    pub(crate) fn field_source(&self, name: &str, field: &str) -> String {
        let Some((origin, _)) = self.stack(name).into_iter().rev().find(|(_, layer)| layer.is_set(field)) else {
            return "built-in default".to_owned();
        };
        let recorded =
            |source: &SourceConfig, section: &str| source.origins.get(&(section.to_owned(), field.to_owned())).cloned();
        match origin {
            Origin::CodeDefault => "code (RegistryBuilder::default_config)".to_owned(),
            Origin::Attribute(site) => format!("the attribute on `{site}`"),
            Origin::Code => "code (Registry::configure)".to_owned(),
            Origin::File(section) => recorded(&self.file, section).unwrap_or_else(|| {
                let file = self.file_name.as_deref().unwrap_or("file");
                format!("{file} ([\"{section}\"], inherited through `base`)")
            }),
            Origin::Env(section) => recorded(&self.env, section).unwrap_or_else(|| format!("environment ({section})")),
        }
    }

    /// Every field of `name`'s configuration with its source, in [`KEYS`] order.
    pub(crate) fn sources_of(&self, name: &str) -> Vec<(&'static str, String)> {
        KEYS.iter().map(|key| (*key, self.field_source(name, key))).collect()
    }

    /// Checks the combined configuration of the default and of every name in `names`: each
    /// invalid field becomes an error naming the breaker, the field and what set it.
    pub(crate) fn check<'n>(
        &self,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Result<Vec<(Option<&'n str>, Config)>, Vec<SourceError>> {
        let mut errors = Vec::new();
        let mut effective = Vec::new();
        for name in std::iter::once(None).chain(names.into_iter().map(Some)) {
            let key = name.unwrap_or("");
            match self.effective(key) {
                Ok(config) => effective.push((name, config)),
                Err(e) => errors.extend(e.errors().iter().map(|f| SourceError {
                    location: match name {
                        Some(n) => format!("breaker `{n}`: {}", f.field()),
                        None => format!("default: {}", f.field()),
                    },
                    line: None,
                    value: String::new(),
                    message: format!("{} (set by {})", f.message(), self.field_source(key, f.field())),
                })),
            }
        }
        if errors.is_empty() {
            Ok(effective)
        } else {
            Err(errors)
        }
    }
}
