//! Reading KafkaCluster and KafkaTopic manifests from YAML files (multi-document).

use std::path::Path;

use serde::Deserialize;

use crate::api::{KafkaCluster, KafkaTopic};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: document {index}: {message}")]
    Parse {
        path: String,
        index: usize,
        message: String,
    },
    #[error("{path}: no KafkaCluster in it")]
    NoCluster { path: String },
}

fn documents(path: &Path) -> Result<Vec<serde_json::Value>, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let mut out = Vec::new();
    for (index, doc) in serde_norway::Deserializer::from_str(&text).enumerate() {
        let value = serde_json::Value::deserialize(doc).map_err(|e| ManifestError::Parse {
            path: path.display().to_string(),
            index: index + 1,
            message: e.to_string(),
        })?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

fn kind_of(v: &serde_json::Value) -> &str {
    v.get("kind").and_then(|k| k.as_str()).unwrap_or("")
}

/// The first KafkaCluster in a file.
pub fn read_cluster(path: &Path) -> Result<KafkaCluster, ManifestError> {
    let doc = documents(path)?
        .into_iter()
        .find(|d| kind_of(d) == "KafkaCluster")
        .ok_or_else(|| ManifestError::NoCluster {
            path: path.display().to_string(),
        })?;
    serde_json::from_value(doc).map_err(|e| ManifestError::Parse {
        path: path.display().to_string(),
        index: 1,
        message: e.to_string(),
    })
}

/// The files `paths` name: files as given, directories walked recursively for `.yaml`, `.yml`
/// and `.json` files, in name order (as `kubectl apply -R -f` reads a GitOps folder).
pub fn expand(paths: &[impl AsRef<Path>]) -> Result<Vec<std::path::PathBuf>, ManifestError> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<(), ManifestError> {
        let read = |source| ManifestError::Read {
            path: dir.display().to_string(),
            source,
        };
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(read)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(read)?;
        entries.sort_by_key(|e| e.path());
        for entry in entries {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
            {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    for path in paths {
        let path = path.as_ref();
        if path.is_dir() {
            walk(path, &mut out)?;
        } else {
            out.push(path.to_path_buf());
        }
    }
    Ok(out)
}

/// Every KafkaTopic in the files and directories (other kinds are skipped), with where each
/// came from.
pub fn read_topics(paths: &[impl AsRef<Path>]) -> Result<Vec<(String, KafkaTopic)>, ManifestError> {
    let mut out = Vec::new();
    for path in expand(paths)? {
        let path = path.as_path();
        for (index, doc) in documents(path)?.into_iter().enumerate() {
            if kind_of(&doc) != "KafkaTopic" {
                continue;
            }
            let topic: KafkaTopic =
                serde_json::from_value(doc).map_err(|e| ManifestError::Parse {
                    path: path.display().to_string(),
                    index: index + 1,
                    message: e.to_string(),
                })?;
            out.push((format!("{}#{}", path.display(), index + 1), topic));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_are_read_recursively_with_several_documents_per_file() {
        let dir = std::env::temp_dir().join(format!("kto-manifests-{}", std::process::id()));
        let nested = dir.join("team-a");
        std::fs::create_dir_all(&nested).unwrap();
        let topic = |name: &str| {
            format!(
                "apiVersion: kafka.topic-operator.dev/v1alpha1\nkind: KafkaTopic\nmetadata: {{name: {name}}}\nspec:\n  clusterRef: {{name: kafka}}\n"
            )
        };
        std::fs::write(
            dir.join("a.yaml"),
            format!("{}---\n{}", topic("a1"), topic("a2")),
        )
        .unwrap();
        std::fs::write(nested.join("b.yml"), topic("b")).unwrap();
        std::fs::write(nested.join("README.md"), "not yaml").unwrap();
        let names: Vec<String> = read_topics(&[&dir])
            .unwrap()
            .into_iter()
            .map(|(_, t)| t.metadata.name.unwrap())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, vec!["a1", "a2", "b"]);
    }
}
