//! LLM providers from `LLM_PROVIDER_<N>_*` variables (N = 1..10, gaps allowed) or the file's
//! `[[llm.providers]]`; the environment wins per slot, and every bad field is named.

use super::file::ProviderEntry;
use super::resolver::Resolver;
use super::{MAX_ENV_PROVIDERS, ProviderSettings};

/// The providers; `label` is the file key the entries came from (`llm.providers`).
pub(super) fn providers(
    r: &mut Resolver<'_>,
    file: Vec<ProviderEntry>,
    label: &str,
) -> Vec<ProviderSettings> {
    let mut out: Vec<ProviderSettings> = Vec::new();
    let slots = file.len().max(MAX_ENV_PROVIDERS);
    let env = r.env;
    for n in 1..=slots {
        let var = |field: &str| env.get(&format!("LLM_PROVIDER_{n}_{field}"));
        let from_file = file.get(n - 1).cloned();
        let env_id = var("ID");
        let (source, mut p) = match (env_id, from_file) {
            (Some(id), _) => {
                let source = format!("LLM_PROVIDER_{n}");
                let get = |field: &str| var(field).unwrap_or_default();
                let entry = ProviderEntry {
                    id,
                    name: get("NAME"),
                    kind: get("TYPE"),
                    endpoint: get("ENDPOINT"),
                    api_key: get("API_KEY"),
                    model: get("MODEL"),
                    vision: None,
                    transcription_model: None,
                };
                (source, entry)
            }
            (None, Some(entry)) => (format!("{label}[{}]", n - 1), entry),
            (None, None) => {
                if let Some(k) = ["NAME", "TYPE", "ENDPOINT", "API_KEY", "MODEL"]
                    .iter()
                    .find(|f| var(f).is_some())
                {
                    r.error(
                        &format!("LLM_PROVIDER_{n}_{k}"),
                        "<set>",
                        format!("needs LLM_PROVIDER_{n}_ID"),
                    );
                }
                continue;
            }
        };
        if let Some(key) = var("API_KEY") {
            p.api_key = key;
        }
        if let Some(model) = var("TRANSCRIPTION_MODEL").filter(|m| !m.trim().is_empty()) {
            p.transcription_model = Some(model);
        }
        if let Some(raw) = var("VISION") {
            p.vision = match raw.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => Some(true),
                "0" | "false" | "no" | "" => Some(false),
                _ => {
                    r.error(
                        &format!("LLM_PROVIDER_{n}_VISION"),
                        &raw,
                        "allowed: true, false",
                    );
                    None
                }
            };
        }
        let sep = if source.starts_with("LLM_") { "_" } else { "." };
        let key_of = |field: &str| {
            if sep == "_" {
                format!("{source}_{}", field.to_uppercase())
            } else {
                format!("{source}.{field}")
            }
        };
        if p.name.is_empty() {
            p.name.clone_from(&p.id);
        }
        if !matches!(p.kind.as_str(), "openai" | "anthropic" | "dify") {
            r.error(&key_of("type"), &p.kind, "allowed: openai, anthropic, dify");
        }
        if p.endpoint.is_empty() {
            r.error(
                &key_of("endpoint"),
                "<unset>",
                "is required (the vendor's base URL)",
            );
        }
        if p.model.is_empty() && p.kind != "dify" {
            r.error(
                &key_of("model"),
                "<unset>",
                "is required (the vendor's model name)",
            );
        }
        if out.iter().any(|o| o.id == p.id) {
            r.error(&key_of("id"), &p.id, "duplicates another provider's id");
        }
        out.push(ProviderSettings {
            source,
            id: p.id,
            name: p.name,
            kind: p.kind,
            endpoint: p.endpoint,
            api_key: p.api_key,
            model: p.model,
            vision: p.vision.unwrap_or(false),
            transcription_model: p.transcription_model,
        });
    }
    out
}
