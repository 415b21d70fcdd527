//! Rendering a kustomization the way `kubectl kustomize` does, for the features our manifests
//! use: `resources` (files and kustomization folders), `namespace`, `images` and `patches` by
//! path (strategic merge: mappings merge, lists of named items merge by `name`, other lists are
//! replaced). Any other field is an error rather than silently ignored, and where `kubectl` is
//! installed `cargo xtask deploy` compares both renderings.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Map, Value};

use super::yaml;

/// The fields of a kustomization this renderer understands.
const KNOWN_FIELDS: [&str; 6] = [
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "patches",
];

/// The resources `dir`'s kustomization produces, in resource order.
pub fn render(dir: &Path) -> anyhow::Result<Vec<Value>> {
    let file = dir.join("kustomization.yaml");
    let docs = yaml::read_file(&file)?;
    let [k] = docs.as_slice() else {
        bail!("{}: expected one document", file.display());
    };
    let k = k
        .as_object()
        .with_context(|| format!("{}: not a mapping", file.display()))?;
    if let Some(unknown) = k.keys().find(|f| !KNOWN_FIELDS.contains(&f.as_str())) {
        bail!(
            "{}: `{unknown}` is not supported by xtask's renderer (it knows {})",
            file.display(),
            KNOWN_FIELDS.join(", ")
        );
    }
    let mut out = Vec::new();
    for r in strings(k.get("resources")) {
        let path = dir.join(&r);
        if path.is_dir() {
            out.extend(render(&path)?);
        } else {
            out.extend(yaml::read_file(&path)?);
        }
    }
    for patch in k
        .get("patches")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let path = patch
            .get("path")
            .and_then(Value::as_str)
            .with_context(|| format!("{}: a patch without `path`", file.display()))?;
        if patch.as_object().is_some_and(|p| p.len() != 1) {
            bail!(
                "{}: only `- path: FILE` patches are supported",
                file.display()
            );
        }
        for p in yaml::read_file(&dir.join(path))? {
            let target = out
                .iter_mut()
                .find(|r| same_resource(r, &p))
                .with_context(|| format!("{path}: patches no resource of {}", dir.display()))?;
            merge(target, &p);
        }
    }
    if let Some(images) = k.get("images").and_then(Value::as_array) {
        for r in &mut out {
            for c in containers_mut(r) {
                set_image(c, images);
            }
        }
    }
    if let Some(ns) = k.get("namespace").and_then(Value::as_str) {
        for r in &mut out {
            if let Some(meta) = r.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("namespace".into(), Value::String(ns.to_owned()));
            }
        }
    }
    Ok(out)
}

/// Every folder under `root` holding a `kustomization.yaml`, sorted.
pub fn kustomizations(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name() == "kustomization.yaml")
        .filter_map(|e| e.path().parent().map(Path::to_path_buf))
        .collect();
    dirs.sort();
    dirs
}

/// The files a kustomization reads (itself, its resource files and patches), recursively.
pub fn files_of(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let file = dir.join("kustomization.yaml");
    let docs = yaml::read_file(&file)?;
    let mut out = vec![file];
    for k in &docs {
        for r in strings(k.get("resources")) {
            let path = dir.join(&r);
            if path.is_dir() {
                out.extend(files_of(&path)?);
            } else {
                out.push(path);
            }
        }
        for p in k
            .get("patches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(path) = p.get("path").and_then(Value::as_str) {
                out.push(dir.join(path));
            }
        }
    }
    Ok(out)
}

/// `kind/name` of a resource, for messages and comparisons.
pub fn id(r: &Value) -> String {
    format!(
        "{}/{}",
        r["kind"].as_str().unwrap_or("?"),
        r["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

fn same_resource(a: &Value, b: &Value) -> bool {
    a["kind"] == b["kind"] && a["metadata"]["name"] == b["metadata"]["name"]
}

/// Strategic merge of `patch` into `base`, for the list shapes our manifests have.
fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, pv) in p {
                match b.get_mut(k) {
                    Some(bv) if !pv.is_null() => merge(bv, pv),
                    Some(_) => {
                        b.remove(k);
                    }
                    None => {
                        b.insert(k.clone(), pv.clone());
                    }
                }
            }
        }
        (Value::Array(b), Value::Array(p)) if p.iter().all(|i| i.get("name").is_some()) => {
            for item in p {
                match b.iter_mut().find(|x| x.get("name") == item.get("name")) {
                    Some(existing) => merge(existing, item),
                    None => b.push(item.clone()),
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// The containers and init containers of a workload's pod template.
fn containers_mut(r: &mut Value) -> Vec<&mut Map<String, Value>> {
    let Some(spec) = r
        .pointer_mut("/spec/template/spec")
        .and_then(Value::as_object_mut)
    else {
        return Vec::new();
    };
    spec.iter_mut()
        .filter(|(k, _)| *k == "containers" || *k == "initContainers")
        .filter_map(|(_, v)| v.as_array_mut())
        .flatten()
        .filter_map(Value::as_object_mut)
        .collect()
}

/// Kustomize's image transformer: a container whose image name matches an entry gets its
/// `newName`, `newTag` or `digest`.
fn set_image(container: &mut Map<String, Value>, images: &[Value]) {
    let Some(image) = container.get("image").and_then(Value::as_str) else {
        return;
    };
    let (name, _) = split_image(image);
    let Some(entry) = images
        .iter()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(name))
    else {
        return;
    };
    let new_name = entry.get("newName").and_then(Value::as_str).unwrap_or(name);
    let reference = match (entry.get("digest"), entry.get("newTag")) {
        (Some(d), _) => format!("@{}", scalar_text(d)),
        (None, Some(t)) => format!(":{}", scalar_text(t)),
        (None, None) => split_image(image).1.to_owned(),
    };
    container.insert(
        "image".into(),
        Value::String(format!("{new_name}{reference}")),
    );
}

fn scalar_text(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
}

/// `name:tag@digest` → `(name, ":tag@digest")`; the registry's port is part of the name.
pub fn split_image(image: &str) -> (&str, &str) {
    let name_end = image.find('@').unwrap_or(image.len());
    let last_slash = image[..name_end].rfind('/').map_or(0, |i| i + 1);
    let tag_start = image[last_slash..name_end]
        .find(':')
        .map_or(name_end, |i| last_slash + i);
    (&image[..tag_start], &image[tag_start..])
}
