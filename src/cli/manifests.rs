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

/// Every KafkaTopic in the files (other kinds are skipped), with where each came from.
pub fn read_topics(paths: &[impl AsRef<Path>]) -> Result<Vec<(String, KafkaTopic)>, ManifestError> {
    let mut out = Vec::new();
    for path in paths {
        let path = path.as_ref();
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
