//! The configuration reference: every setting the server reads (environment variable, file key,
//! the Go service's spelling, default, unit, meaning) in one table, and [`markdown`], which renders
//! it as `docs/configuration.md` (`chatbox-server config-reference`).
//!
//! The tests hold the table to the code: it lists every environment variable the resolvers read
//! and no other, every key the file structs accept and no other, and defaults equal to what the
//! resolvers produce; and the committed document equals [`markdown`].

mod settings;
#[cfg(test)]
mod tests;

pub use self::settings::{GO_FILE_READ, GO_FILE_UNUSED, GROUPS, SETTINGS};

use super::PRODUCTION_KEYS;
use super::go_keys::UNUSED_ENV;

/// One setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    /// The section it is listed under: the name of one of [`GROUPS`].
    pub group: &'static str,
    /// The environment variable, or `""` when the setting is file-only. A family of variables is
    /// written as its pattern, `LLM_PROVIDER_<N>_{ID,NAME}`.
    pub env: &'static str,
    /// Our TOML key as a dotted path (`[]` marks an array of tables, `{a,b}` several keys), or
    /// `""` when there is none.
    pub file: &'static str,
    /// The Go service's `config.toml` spellings read for it when they differ from `file`, in the
    /// order they are tried.
    pub go_file: &'static [&'static str],
    /// The default as an operator would write it; `""` when unset by default.
    pub default: &'static str,
    /// The unit or form of the value.
    pub unit: &'static str,
    /// What it does (markdown).
    pub about: &'static str,
}

/// A section of the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// Its heading.
    pub name: &'static str,
    /// The paragraph under the heading (markdown).
    pub intro: &'static str,
}

/// The `LLM_PROVIDER_<N>_*` fields whose presence means "this is a real deployment" (the display
/// name alone does not).
const DEV_MODE_PROVIDER_FIELDS: [&str; 5] = ["ID", "TYPE", "ENDPOINT", "API_KEY", "MODEL"];

/// Markers that make a JWT secret or an encryption key a placeholder: the server's own list.
use crate::secret::PLACEHOLDERS as SECRET_MARKERS;
/// Words a JWT secret must not contain: the server's own list.
use crate::secret::WEAK_WORDS;

/// The command that regenerates `docs/configuration.md`.
pub const REGENERATE: &str =
    "cargo run -p chatbox-server -- config-reference > docs/configuration.md";

/// `docs/configuration.md`: how configuration works, one table per group of [`SETTINGS`], the
/// Go service's `config.toml` compatibility, and how to make the keys.
pub fn markdown() -> String {
    let mut out = String::new();
    intro(&mut out);
    for group in GROUPS {
        settings_table(&mut out, group);
    }
    go_compatibility(&mut out);
    keys(&mut out);
    out
}

fn intro(out: &mut String) {
    let production = PRODUCTION_KEYS
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let provider_fields = DEV_MODE_PROVIDER_FIELDS.join(",");
    out.push_str(&format!(
        "# Configuration

Every setting of `chatbox-server`. This file is generated from the table in
`bins/chatbox-server/src/config/reference/settings.rs` by

```sh
{REGENERATE}
```

so edit the table, not this file. Tests fail when the two differ, when the table misses or
invents an environment variable or a file key, and when a default it states is not the one the
code uses.

## Where settings come from

- A TOML file: the one given with `--config PATH`, else `./config.toml` in the working directory
  when it exists. Unknown keys are refused, so a typo never passes silently.
- Environment variables, which win over the file. An empty variable counts as unset.
- Every bad value is reported at once: startup stops with one line per problem naming the key as
  it was written, the value (secrets masked) and what is allowed.
- Dev mode is on with `--dev`, or when there is no configuration at all: no config file and none
  of these in the environment: {production},
  `LLM_PROVIDER_<N>_{{{provider_fields}}}`.
  Dev mode listens on 127.0.0.1, uses the embedded store (and refuses `MONGO_URI`), generates a
  JWT secret when none is set (a given one is used without the strength check), answers with a
  built-in demo model when no provider is configured, writes staff notifications to the log when
  no channel is, and prints links with ready-made tokens. Any production setting without
  `JWT_SECRET` stops startup instead of falling back to dev mode.

## Value formats

- Durations: Go syntax (`30s`, `15m`, `2m0s`, `100ms`, `1h30m`) or a bare number of seconds.
- Sizes: `100MB`, `512KB`, `1GB` (binary multiples: `1MB` is 1048576 bytes) or a number of bytes.
- Lists: comma-separated in the environment; in the file a TOML array or a comma-separated
  string. An origin is `scheme://host[:port]` (`https://app.example.com`); a CIDR list holds
  networks (`10.0.0.0/8`) or single addresses.
- Switches (`ENABLE_*`): `true` or `false` (also `1`/`0`, `yes`/`no`, `on`/`off`); in the file a
  TOML boolean.
- File keys: `a.b` is key `b` of table `[a]`; `[]` marks an array of tables, so
  `llm.providers[].id` is `id` in each `[[llm.providers]]` entry, and `[0]` its first entry.
"
    ));
}

fn settings_table(out: &mut String, group: &Group) {
    out.push_str(&format!("\n## {}\n\n{}\n\n", group.name, group.intro));
    out.push_str("| Variable | File key | Default | Unit | Meaning |\n|---|---|---|---|---|\n");
    for s in SETTINGS.iter().filter(|s| s.group == group.name) {
        let mut file = code_or_dash(s.file);
        if !s.go_file.is_empty() {
            let go = s.go_file.iter().map(|k| code(k)).collect::<Vec<_>>();
            let go = format!("Go: {}", go.join(", "));
            file = if s.file.is_empty() {
                go
            } else {
                format!("{file}; {go}")
            };
        }
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            code_or_dash(s.env),
            file,
            code_or_dash(s.default),
            cell(s.unit),
            cell(s.about),
        ));
    }
}

fn go_compatibility(out: &mut String) {
    out.push_str(
        "
## Compatibility with the Go service's `config.toml`

The Go service's `config.toml` and environment load unchanged. Keys spelled the same in both
(`server.port`, `log.level`, the `[chatbox]` keys) are in the tables above. The Go service
ignored `chatbox.max_connections`, `chatbox.rate_limit`, `[chatbox.websocket]` and
`[[chatbox.llm.providers]]`; this server applies them (providers may be in `[[llm.providers]]`
or in `[[chatbox.llm.providers]]`, not in both). Only the first `[[mail.engines.smtp]]`,
`[[mail.engines.ses]]` and `[[userupload.types]]` entry is read.

### Go keys read under another name

When several spellings of a setting are set, the environment variable wins, then our file key,
then the Go spellings in the order listed.

| Go key | Read as |
|---|---|
",
    );
    for s in SETTINGS {
        for go in s.go_file {
            let ours = if s.file.is_empty() {
                String::new()
            } else {
                format!(" (our key: {})", code(s.file))
            };
            out.push_str(&format!("| {} | {}{ours} |\n", code(go), code(s.env)));
        }
    }
    for (key, meaning) in GO_FILE_READ {
        out.push_str(&format!("| {} | {} |\n", code(key), cell(meaning)));
    }
    out.push_str(
        "
### Go keys accepted but unused

Each of these is named once in a startup warning with the reason; nothing else happens.

| Go file key | Why it is unused |
|---|---|
",
    );
    for (key, why) in GO_FILE_UNUSED {
        out.push_str(&format!("| {} | {} |\n", code(key), cell(why)));
    }
    out.push_str("\n| Go environment variable | Why it is unused |\n|---|---|\n");
    for (key, why) in UNUSED_ENV {
        out.push_str(&format!("| {} | {} |\n", code(key), cell(why)));
    }
}

fn keys(out: &mut String) {
    let markers = SECRET_MARKERS.map(code).join(", ");
    let weak = WEAK_WORDS.map(code).join(", ");
    let min = crate::secret::MIN_SECRET_BYTES;
    // `openssl rand -hex 32` prints 64 characters from 0-9a-f: only weak words made of those
    // can turn up, and the document says how rarely.
    let in_hex: Vec<&str> = WEAK_WORDS
        .into_iter()
        .filter(|w| w.chars().all(|c| c.is_ascii_hexdigit()))
        .collect();
    let chance: f64 = in_hex
        .iter()
        .map(|w| (64 - w.len() + 1) as f64 / 16f64.powi(w.len() as i32))
        .sum();
    let hex_note = if in_hex.is_empty() {
        "None of the weak words can occur in hex digits.".to_owned()
    } else {
        format!(
            "Of the weak words only {} can occur in hex digits, in about one key in {} thousand;\n\
             the server then refuses the key naming the word, and another run of the command\n\
             makes a good one.",
            in_hex
                .iter()
                .map(|w| code(w))
                .collect::<Vec<_>>()
                .join(", "),
            (1.0 / chance / 1000.0).round()
        )
    };
    out.push_str(&format!(
        "
## Keys and secrets

### `JWT_SECRET`

The HMAC key of the users' JWTs (`HS256` unless `chatbox.jwt_algorithm` says `HS384` or
`HS512`), shared with the host application that issues them. The key is the bytes of the string
as written, not a decoding of it, so the host application must use the same string. Outside dev
mode it must be at least {min} bytes long and must not contain, in any letter case, a
placeholder marker or a weak word:

- markers: {markers};
- weak words: {weak}.

```sh
openssl rand -hex 32
```

prints 32 random bytes as 64 hex characters, which
`openssl rand -hex 32 | tr -d '\\n' | wc -c` confirms.
{hex_note}

### `ENCRYPTION_KEY`

The AES-256-GCM key of message content at rest: exactly 32 bytes, the bytes of the string as
written. Without it new messages are stored as plain text. The stored format is the Go
service's, so a deployment switching over keeps the key it has.

```sh
openssl rand -hex 16
```

prints 16 random bytes as 32 hex characters and a newline;
`openssl rand -hex 16 | tr -d '\\n' | wc -c` prints 32. The shell's `$(...)` drops the
newline, but a file written with `openssl rand -hex 16 > key` holds 33 bytes, which the server
refuses. A key that contains a placeholder marker is refused too.

To rotate the key, move the old one to `ENCRYPTION_KEY_PREVIOUS` and set a new `ENCRYPTION_KEY`:
new messages use the new key and old ones still decrypt. Losing a key loses the messages it
encrypted.
"
    ));
}

/// A table cell: pipes escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// A code span in a table cell.
fn code(text: &str) -> String {
    format!("`{}`", cell(text))
}

fn code_or_dash(text: &str) -> String {
    if text.is_empty() {
        "—".to_owned()
    } else {
        code(text)
    }
}
