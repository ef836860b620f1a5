//! The CRDs committed under crds/ are the ones the Rust types generate (`make crds`).

#[test]
fn committed_crds_match_the_rust_types() {
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crds/kafka.topic-operator.dev.yaml"
    ))
    .expect("crds/kafka.topic-operator.dev.yaml is missing: run `make crds`");
    let generated = kafka_topic_operator::api::crds_yaml().unwrap();
    assert!(
        committed == generated,
        "crds/ is stale: run `make crds` and commit the result"
    );
}

#[test]
fn every_spec_field_is_described() {
    // `kubectl explain` teaches the API only if every field carries a description.
    fn walk(path: &str, schema: &serde_json::Value, missing: &mut Vec<String>) {
        if let Some(props) = schema.get("properties").and_then(|p| p.as_object()) {
            for (name, sub) in props {
                let p = format!("{path}.{name}");
                if sub.get("description").is_none() {
                    missing.push(p.clone());
                }
                walk(&p, sub, missing);
                if let Some(items) = sub.get("items") {
                    walk(&p, items, missing);
                }
            }
        }
    }
    let mut missing = Vec::new();
    for crd in kafka_topic_operator::api::crds() {
        let v = serde_json::to_value(&crd).unwrap();
        let schema = &v["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        walk(
            &crd.spec.names.kind,
            &schema["properties"]["spec"],
            &mut missing,
        );
        walk(
            &crd.spec.names.kind,
            &schema["properties"]["status"],
            &mut missing,
        );
    }
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:#?}"
    );
}
