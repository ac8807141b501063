//! TOML files as a configuration source (feature `toml`): sections per breaker name or
//! pattern, `base` inheritance, `[queues."name"]`, and errors that name the line.

use std::collections::BTreeMap;

use breaker_core::ConfigBuilder;

use super::{canonical, known_keys, specificity, unknown_key, SourceConfig, SourceError, SourceErrors, Spellings};

/// Reads a TOML document: a `[default]` table and one table per breaker name.
///
/// # Example
///
/// ```
/// use breaker_runtime::sources::from_toml_str;
///
/// let config = from_toml_str("[default]\nwait = \"10s\"\n\n[\"content-service\"]\nfailure_rate = 0.3\n", "breakers.toml").unwrap();
/// assert!(config.named.contains_key("content-service"));
///
/// let err = from_toml_str("[db]\nwait = \"10 sec\"\nfailure_rate = \"high\"\n", "breakers.toml").unwrap_err();
/// assert_eq!(err.errors.len(), 2);
/// assert!(err.to_string().contains("db.wait=\"10 sec\""), "{err}");
/// ```
pub fn from_toml_str(text: &str, source: &str) -> Result<SourceConfig, SourceErrors> {
    let fail = |errors| SourceErrors { source: source.to_owned(), errors };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e.span().map(|span| line_of(text, span.start));
        let message = e.message().to_owned();
        fail(vec![SourceError { location: String::new(), line, value: String::new(), message }])
    })?;
    let mut config = SourceConfig::default();
    let mut errors = Vec::new();
    let mut spellings = Spellings::default();
    let mut bases: BTreeMap<String, (String, Option<usize>)> = BTreeMap::new();
    for (section, value) in &table {
        let toml::Value::Table(fields) = value else {
            let line = key_line(text, None, section);
            if section == "enabled" {
                if let toml::Value::Boolean(b) = value {
                    config.enabled = Some(*b);
                    continue;
                }
            }
            errors.push(SourceError {
                location: section.clone(),
                line,
                value: value.to_string(),
                message:
                    "expected a table of settings (`[default]` or `[\"breaker-name\"]`), or `enabled = true|false`"
                        .to_owned(),
            });
            continue;
        };
        if section == "fleet" {
            continue; // fleet settings: read by `breaker-redis` from the same file
        }
        if section == "queues" {
            read_queues(text, fields, &mut config, &mut errors);
            continue;
        }
        let layer =
            if section == "default" { &mut config.default } else { config.named.entry(section.clone()).or_default() };
        for (key, value) in fields {
            let line = key_line(text, Some(section), key);
            let location = format!("{section}.{key}");
            let text = match value {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(false) => "off".to_owned(),
                toml::Value::Boolean(true) if key == "enabled" => "true".to_owned(),
                other => {
                    errors.push(SourceError {
                        location,
                        line,
                        value: other.to_string(),
                        message: "expected a number, a string, or `false` to turn the setting off".to_owned(),
                    });
                    continue;
                }
            };
            if key == "base" {
                bases.insert(section.clone(), (text, line));
                continue;
            }
            let (canonical, value) = canonical(key, &text);
            if !known_keys().any(|k| k == canonical) {
                config.warnings.push(SourceError { location, line, value: text, message: unknown_key(key, false) });
                continue;
            }
            if let Err(message) = spellings.note(section, canonical, key) {
                errors.push(SourceError { location, line, value: text, message });
                continue;
            }
            if let Err(e) = layer.set(canonical, &value) {
                let message = if e.field().is_empty() { e.to_string() } else { e.message().to_owned() };
                errors.push(SourceError { location, line, value: text, message });
                continue;
            }
            let at = match line {
                Some(line) => format!("{source}:{line} ({section}.{key})"),
                None => format!("{source} ({section}.{key})"),
            };
            config.origins.insert((section.clone(), canonical.to_owned()), at);
        }
    }
    resolve_bases(&mut config, &bases, &mut errors);
    let patterns: Vec<&String> = config.named.keys().filter(|k| k.contains('*')).collect();
    for (i, a) in patterns.iter().enumerate() {
        for b in &patterns[i + 1..] {
            if specificity(a) == specificity(b) && globs_overlap(a, b) {
                errors.push(SourceError {
                    location: format!("[\"{b}\"]"),
                    line: key_line_of_section(text, b),
                    value: String::new(),
                    message: format!(
                        "the patterns `{a}` and `{b}` are equally specific and can match the same name; make one more specific or name the breaker exactly"
                    ),
                });
            }
        }
    }
    // In the order a person reads the file.
    errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    config.warnings.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(fail(errors))
    }
}

/// Reads `[queues."name"]` tables.
fn read_queues(text: &str, queues: &toml::Table, config: &mut SourceConfig, errors: &mut Vec<SourceError>) {
    for (name, settings) in queues {
        let section = format!("queues.{name}");
        let header = format!("queues.\"{name}\"");
        let toml::Value::Table(settings) = settings else {
            errors.push(SourceError {
                location: section,
                line: None,
                value: settings.to_string(),
                message: "expected a table: `[queues.\"name\"]` with `capacity` and `shutdown_deadline`".to_owned(),
            });
            continue;
        };
        let layer = config.queues.entry(name.clone()).or_default();
        for (key, value) in settings {
            let line = key_line(text, Some(&header), key).or_else(|| key_line(text, Some(&section), key));
            let value = match value {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if let Err(message) = layer.set(key, &value) {
                errors.push(SourceError { location: format!("{section}.{key}"), line, value, message });
            }
        }
    }
}

/// Applies `base = "other"`: a section inherits every setting of its base that it does not
/// set itself, through any number of levels. A missing base or a cycle is an error.
fn resolve_bases(
    config: &mut SourceConfig,
    bases: &BTreeMap<String, (String, Option<usize>)>,
    errors: &mut Vec<SourceError>,
) {
    let original = config.named.clone();
    for (section, (base, line)) in bases {
        let mut chain = vec![section.as_str()];
        let mut inherited = ConfigBuilder::new();
        let mut next = Some(base.as_str());
        while let Some(base) = next {
            let problem = |message: String| SourceError {
                location: format!("{section}.base"),
                line: *line,
                value: base.to_owned(),
                message,
            };
            if chain.contains(&base) {
                errors.push(problem(format!("`base` makes a cycle: {} -> {base}", chain.join(" -> "))));
                break;
            }
            let layer = if base == "default" { Some(&config.default) } else { original.get(base) };
            let Some(layer) = layer else {
                errors.push(problem(format!("there is no section `[\"{base}\"]` to inherit from")));
                break;
            };
            inherited = layer.clone().merge(&inherited);
            chain.push(base);
            next = bases.get(base).map(|(b, _)| b.as_str());
        }
        if let Some(own) = config.named.get_mut(section.as_str()) {
            *own = inherited.merge(own);
        }
    }
}

/// The line of `section`'s header.
fn key_line_of_section(text: &str, section: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            let line = line.trim();
            line.strip_prefix('[')
                .and_then(|l| l.split(']').next())
                .is_some_and(|h| h.trim().trim_matches('"') == section)
        })
        .map(|i| i + 1)
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The line where `key` is set in `section` (a top-level key when `None`), found by reading
/// the file's lines: section headers and `key =` lines, quoted or bare.
fn key_line(text: &str, section: Option<&str>, key: &str) -> Option<usize> {
    let unquote = |s: &str| s.trim().trim_matches('"').trim_matches('\'').to_owned();
    let mut current: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
            current = Some(unquote(header));
            continue;
        }
        if current.as_deref() != section {
            continue;
        }
        if let Some((k, _)) = line.split_once('=') {
            if unquote(k) == key {
                return Some(i + 1);
            }
        }
    }
    None
}

/// Reads a TOML file; see [`from_toml_str`].
pub fn from_toml_file(path: impl AsRef<std::path::Path>) -> Result<SourceConfig, SourceErrors> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| SourceErrors {
        source: path.display().to_string(),
        errors: vec![SourceError {
            location: String::new(),
            line: None,
            value: String::new(),
            message: format!("cannot read the file: {e}"),
        }],
    })?;
    from_toml_str(&text, &path.display().to_string())
}

/// True when some name matches both patterns (`*` matches any run of characters).
fn globs_overlap(a: &str, b: &str) -> bool {
    fn go(a: &[char], b: &[char], seen: &mut std::collections::HashSet<(usize, usize)>) -> bool {
        if !seen.insert((a.len(), b.len())) {
            return false; // this pair of suffixes was already explored
        }
        match (a.first(), b.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&a[1..], b, seen) || (!b.is_empty() && go(a, &b[1..], seen)),
            (_, Some('*')) => go(a, &b[1..], seen) || (!a.is_empty() && go(&a[1..], b, seen)),
            (Some(x), Some(y)) => x == y && go(&a[1..], &b[1..], seen),
            _ => false,
        }
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    go(&a, &b, &mut std::collections::HashSet::new())
}
