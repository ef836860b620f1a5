//! The Argo CD health checks in deploy/argocd/ (Lua, as Argo CD's resource customizations take
//! them), run by a real Lua interpreter against the test cases beside them (health_test.yaml,
//! in the layout of Argo CD's own resource_customizations).

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct Cases {
    tests: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Case {
    health_status: Expected,
    input_path: String,
}

#[derive(Deserialize)]
struct Expected {
    status: String,
    message: String,
}

/// A JSON value as a Lua table constructor.
fn lua(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "nil".into(),
        serde_json::Value::Bool(b) => b.to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => format!("{s:?}"),
        serde_json::Value::Array(a) => {
            format!("{{{}}}", a.iter().map(lua).collect::<Vec<_>>().join(", "))
        }
        serde_json::Value::Object(o) => {
            format!(
                "{{{}}}",
                o.iter()
                    .map(|(k, v)| format!("[{k:?}] = {}", lua(v)))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

fn run_check(script: &Path, input: &serde_json::Value) -> (String, String) {
    let program = format!(
        "obj = {}\nlocal hs = assert(loadfile({:?}))()\nio.write(hs.status, \"\\n\", hs.message or \"\")",
        lua(input),
        script.display().to_string()
    );
    let out = Command::new("lua5.4")
        .args(["-e", &program])
        .output()
        .expect("lua5.4 is installed by tests/env/install.sh (apt-get install lua5.4)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (status, message) = text.split_once('\n').unwrap();
    (status.to_string(), message.to_string())
}

fn check_kind(kind: &str) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/argocd/kafka.topic-operator.dev")
        .join(kind);
    let cases: Cases =
        serde_norway::from_str(&std::fs::read_to_string(dir.join("health_test.yaml")).unwrap())
            .unwrap();
    for case in &cases.tests {
        let input: serde_json::Value =
            serde_norway::from_str(&std::fs::read_to_string(dir.join(&case.input_path)).unwrap())
                .unwrap();
        let (status, message) = run_check(&dir.join("health.lua"), &input);
        assert_eq!(
            (status.as_str(), message.as_str()),
            (
                case.health_status.status.as_str(),
                case.health_status.message.as_str()
            ),
            "{kind} {}",
            case.input_path
        );
    }
    cases.tests.len()
}

#[test]
fn kafka_topic_health_check() {
    assert!(check_kind("KafkaTopic") >= 11);
}

#[test]
fn kafka_cluster_health_check() {
    assert!(check_kind("KafkaCluster") >= 5);
}
