fn main() {
    print!("{}", kafka_topic_operator::api::crds_yaml().unwrap());
}
