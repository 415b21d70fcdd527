//! A strict reader for the YAML subset our deployment files are written in, into
//! `serde_json::Value`s: block mappings and sequences, plain and quoted scalars, comments,
//! `---` between documents, flow sequences of scalars (`["a", "b"]`), `[]` and `{}`, and literal
//! block scalars as mapping values (`key: |` or `key: |-`, for a config file in a ConfigMap).
//!
//! Anything outside the subset (anchors, tags, folded or `|+` block scalars, flow mappings,
//! YAML 1.1's `yes`/`no`/`on`/`off`, duplicate keys) is an error naming the line, never a guess:
//! the invariants read the files through this, and `cargo xtask deploy` also reads every file
//! with PyYAML and fails when the two disagree.

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// Every document of `text`; `name` is used in error messages.
pub fn parse_documents(name: &str, text: &str) -> anyhow::Result<Vec<Value>> {
    let mut docs = Vec::new();
    let mut current: Vec<Line> = Vec::new();
    let raws: Vec<&str> = text.lines().collect();
    let mut n = 0;
    while let Some(&raw) = raws.get(n) {
        n += 1;
        if raw.trim_end() == "---" {
            if !current.is_empty() {
                docs.push(parse_lines(name, std::mem::take(&mut current))?);
            }
            continue;
        }
        if let Some(mut line) = Line::read(name, n, raw)? {
            if let Some((head, key_column, strip)) = block_scalar_head(&line.content) {
                let parent = line.indent + key_column;
                let (value, used) = literal_block(name, n, &raws[n..], parent, strip)?;
                n += used;
                line.content = format!("{head} {}", quoted(&value));
            }
            current.push(line);
        }
    }
    if !current.is_empty() {
        docs.push(parse_lines(name, current)?);
    }
    Ok(docs)
}

/// One meaningful line: its indentation and its content without the comment.
#[derive(Debug, Clone)]
struct Line {
    number: usize,
    indent: usize,
    content: String,
}

impl Line {
    fn read(name: &str, number: usize, raw: &str) -> anyhow::Result<Option<Line>> {
        if raw.contains('\t') {
            bail!("{name}:{number}: tabs are not allowed in YAML indentation or values");
        }
        let content = strip_comment(raw).trim_end();
        if content.trim().is_empty() {
            return Ok(None);
        }
        let indent = content.len() - content.trim_start().len();
        Ok(Some(Line {
            number,
            indent,
            content: content.trim_start().to_owned(),
        }))
    }
}

/// The line without a `#` comment (one at the start or after whitespace, outside quotes).
fn strip_comment(raw: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in raw.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return &raw[..i],
            None => {}
        }
        prev = c;
    }
    raw
}

struct Parser<'a> {
    name: &'a str,
    lines: Vec<Line>,
    at: usize,
}

fn parse_lines(name: &str, lines: Vec<Line>) -> anyhow::Result<Value> {
    let indent = lines[0].indent;
    let mut p = Parser { name, lines, at: 0 };
    let value = p.node(indent)?;
    if let Some(line) = p.lines.get(p.at) {
        bail!(
            "{name}:{}: unexpected indentation or content {:?}",
            line.number,
            line.content
        );
    }
    Ok(value)
}

impl Parser<'_> {
    fn error(&self, line: &Line, problem: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{}:{}: {problem}: {:?}",
            self.name,
            line.number,
            line.content
        )
    }

    /// The block node whose first line is the current one, at `indent`.
    fn node(&mut self, indent: usize) -> anyhow::Result<Value> {
        let line = self.lines[self.at].clone();
        if is_item(&line.content) {
            self.sequence(indent)
        } else if split_key(&line.content).is_some() {
            self.mapping(indent)
        } else {
            self.at += 1;
            scalar(&line.content).map_err(|e| self.error(&line, &e))
        }
    }

    fn sequence(&mut self, indent: usize) -> anyhow::Result<Value> {
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.at).cloned() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || !is_item(&line.content) {
                return Err(self.error(&line, "expected a sequence item"));
            }
            let rest = line.content[1..].trim_start();
            if rest.is_empty() {
                self.at += 1;
                match self.lines.get(self.at) {
                    Some(next) if next.indent > indent => {
                        let child = next.indent;
                        items.push(self.node(child)?);
                    }
                    _ => items.push(Value::Null),
                }
            } else if is_item(rest) || split_key(rest).is_some() {
                // `- key: value` starts a mapping (or `- - x` a sequence) whose column is where
                // `key` stands: rewrite this line as that node's first line.
                let column = line.indent + (line.content.len() - rest.len());
                self.lines[self.at] = Line {
                    number: line.number,
                    indent: column,
                    content: rest.to_owned(),
                };
                items.push(self.node(column)?);
            } else {
                self.at += 1;
                items.push(scalar(rest).map_err(|e| self.error(&line, &e))?);
            }
        }
        Ok(Value::Array(items))
    }

    fn mapping(&mut self, indent: usize) -> anyhow::Result<Value> {
        let mut map = Map::new();
        while let Some(line) = self.lines.get(self.at).cloned() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_item(&line.content) {
                return Err(self.error(&line, "expected a `key: value` line"));
            }
            let (key, rest) = split_key(&line.content)
                .ok_or_else(|| self.error(&line, "expected a `key: value` line"))?;
            let key = match scalar(key).map_err(|e| self.error(&line, &e))? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if map.contains_key(&key) {
                return Err(self.error(&line, "duplicate key"));
            }
            self.at += 1;
            let value = if rest.is_empty() {
                match self.lines.get(self.at) {
                    Some(next) if next.indent > indent => {
                        let child = next.indent;
                        self.node(child)?
                    }
                    // A sequence may stand at its key's own column.
                    Some(next) if next.indent == indent && is_item(&next.content) => {
                        self.sequence(indent)?
                    }
                    _ => Value::Null,
                }
            } else {
                scalar(rest).map_err(|e| self.error(&line, &e))?
            };
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

fn is_item(content: &str) -> bool {
    content == "-" || content.starts_with("- ")
}

/// `key: rest` → `(key, rest)`; the colon must be outside quotes and followed by a space or the
/// end of the line.
fn split_key(content: &str) -> Option<(&str, &str)> {
    let mut quote: Option<char> = None;
    let bytes: Vec<(usize, char)> = content.char_indices().collect();
    for (k, &(i, c)) in bytes.iter().enumerate() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if (c == '"' || c == '\'') && i == 0 => quote = Some(c),
            None if c == ':' => {
                let next = bytes.get(k + 1).map(|&(_, n)| n);
                if next.is_none() || next == Some(' ') {
                    return Some((content[..i].trim_end(), content[i + 1..].trim()));
                }
            }
            None => {}
        }
    }
    None
}

/// A scalar or flow collection on one line.
fn scalar(raw: &str) -> Result<Value, String> {
    let s = raw.trim();
    if let Some(inner) = s.strip_prefix('"') {
        return double_quoted(inner).map(Value::String);
    }
    if let Some(inner) = s.strip_prefix('\'') {
        let body = inner
            .strip_suffix('\'')
            .ok_or("an unterminated single-quoted string")?;
        if body.replace("''", "").contains('\'') {
            return Err("a stray quote in a single-quoted string".into());
        }
        return Ok(Value::String(body.replace("''", "'")));
    }
    if s == "{}" {
        return Ok(Value::Object(Map::new()));
    }
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or("an unterminated flow sequence")?;
        return flow_items(inner)?
            .iter()
            .map(|item| scalar(item))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    let first = s.chars().next().unwrap_or(' ');
    if "&*!|>%@`{[]}".contains(first) || s.contains(": ") || s.ends_with(':') {
        return Err("YAML this reader does not accept (quote the value)".into());
    }
    if matches!(s.to_ascii_lowercase().as_str(), "yes" | "no" | "on" | "off") {
        return Err("a YAML 1.1 boolean word (write true/false, or quote it)".into());
    }
    Ok(plain(s))
}

/// A plain scalar's type, as YAML 1.2's core schema (and PyYAML, for what we accept) reads it.
fn plain(s: &str) -> Value {
    match s {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        "null" | "Null" | "NULL" | "~" => return Value::Null,
        _ => {}
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    let is_int = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    if is_int && let Ok(n) = s.parse::<i64>() {
        return Value::from(n);
    }
    let is_float = digits.contains('.')
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && digits.bytes().filter(|&b| b == b'.').count() == 1
        && digits.len() > 1;
    if is_float
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_owned())
}

fn double_quoted(inner: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                return if chars.as_str().trim().is_empty() {
                    Ok(out)
                } else {
                    Err("text after a closing quote".into())
                };
            }
            '\\' => match chars.next() {
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('/') => out.push('/'),
                other => return Err(format!("an unsupported escape \\{other:?}")),
            },
            c => out.push(c),
        }
    }
    Err("an unterminated double-quoted string".into())
}

/// The comma-separated items of a flow sequence's inside (commas in quotes do not split).
fn flow_items(inner: &str) -> Result<Vec<String>, String> {
    if inner.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    let mut quote: Option<char> = None;
    let mut current = String::new();
    for c in inner.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                current.push(c);
            }
            Some(_) => current.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                current.push(c);
            }
            None if c == ',' => items.push(std::mem::take(&mut current)),
            None if "[]{}".contains(c) => return Err("nested flow collections".into()),
            None => current.push(c),
        }
    }
    items.push(current);
    if items.iter().any(|i| i.trim().is_empty()) {
        return Err("an empty flow sequence item".into());
    }
    Ok(items)
}

/// `key: |` or `key: |-` (also as a sequence item's first key) → (`key:` part, the key's
/// column in `content`, strip the final line break). Other block scalar headers (`>`, `|+`,
/// `|2`) are left to [`scalar`] to refuse.
fn block_scalar_head(content: &str) -> Option<(&str, usize, bool)> {
    let (head, strip) = if let Some(head) = content.strip_suffix(": |") {
        (head, false)
    } else {
        (content.strip_suffix(": |-")?, true)
    };
    let key = head.trim_start_matches("- ");
    let probe = format!("{key}: x");
    split_key(&probe).filter(|(k, _)| *k == key)?;
    Some((&content[..=head.len()], head.len() - key.len(), strip))
}

/// The text of a literal block scalar whose header stands on line `header` at `parent` indent:
/// its lines are the following ones indented deeper (blank lines included), with the first
/// one's indentation removed. Returns the text (ending in one line break unless `strip`) and
/// how many lines it took.
fn literal_block(
    name: &str,
    header: usize,
    rest: &[&str],
    parent: usize,
    strip: bool,
) -> anyhow::Result<(String, usize)> {
    let indent_of = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let Some(indent) = rest
        .iter()
        .find(|l| !l.trim().is_empty())
        .map(|l| indent_of(l))
        .filter(|&i| i > parent)
    else {
        bail!("{name}:{header}: an empty block scalar");
    };
    let mut lines: Vec<&str> = Vec::new();
    let mut used = 0;
    for (i, raw) in rest.iter().enumerate() {
        if raw.contains('\t') {
            bail!(
                "{name}:{}: tabs are not allowed in YAML indentation or values",
                header + i + 1
            );
        }
        if raw.trim().is_empty() {
            if raw.len() > indent {
                bail!(
                    "{name}:{}: a blank line of a block scalar with spaces beyond its indentation",
                    header + i + 1
                );
            }
            lines.push("");
        } else if indent_of(raw) >= indent {
            lines.push(&raw[indent..]);
            used = i + 1;
        } else {
            break;
        }
    }
    lines.truncate(used);
    let mut text = lines.join("\n");
    if !strip {
        text.push('\n');
    }
    Ok((text, used))
}

/// `text` as a double-quoted scalar [`double_quoted`] reads back.
fn quoted(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

/// Reads one file's documents.
pub fn read_file(path: &std::path::Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    parse_documents(&path.display().to_string(), &text)
}
