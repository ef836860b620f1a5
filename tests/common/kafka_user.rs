//! SCRAM users of the environment's SASL_SSL listener, made for one test and removed after it
//! (with their ACLs), so that no test depends on a principal another test may have touched.

use std::process::Command;

use super::{bootstrap, env_var, unique};

/// Runs one of Kafka's tools (tests/env/kafka-cli.sh) against the PLAINTEXT listener, whose
/// principal (User:ANONYMOUS) is a super user. Unlike `run`, a failure does not echo the
/// arguments: one of them may hold the user's password.
pub fn admin_cli(tool: &str, args: &[&str]) -> String {
    let out = Command::new(env_var("KTO_KAFKA_CLI"))
        .arg(tool)
        .args(["--bootstrap-server", &bootstrap()])
        .args(args)
        .output()
        .expect("kafka-cli.sh");
    assert!(
        out.status.success(),
        "kafka-cli.sh {tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The user and its ACLs are removed when the test ends, pass or fail (its topics by
/// `DeleteTopicOnDrop`), so the shared cluster keeps no principal or ACL of this test.
pub struct ScramUser {
    pub name: String,
    /// The arguments of every `kafka-acls --add` made, to `--remove` exactly those.
    added: Vec<Vec<String>>,
}

impl ScramUser {
    /// A new SCRAM-SHA-512 user named `unique(prefix)` with a random password (returned), made
    /// by the super user; it has no ACL yet.
    pub fn create(prefix: &str) -> (ScramUser, String) {
        let user = ScramUser {
            name: unique(prefix),
            added: Default::default(),
        };
        let password = format!("{:032x}", rand::random::<u128>());
        admin_cli(
            "configs",
            &[
                "--alter",
                "--entity-type",
                "users",
                "--entity-name",
                &user.name,
                "--add-config",
                &format!("SCRAM-SHA-512=[iterations=4096,password={password}]"),
            ],
        );
        (user, password)
    }

    /// `kafka-acls --add`: `permission` is `--allow-principal` or `--deny-principal`, `pattern`
    /// names the resource (`--cluster`, or `--topic NAME` with an optional
    /// `--resource-pattern-type prefixed`).
    pub fn add_acls(&mut self, permission: &str, operations: &[&str], pattern: &[&str]) {
        let mut args = vec![permission.to_string(), format!("User:{}", self.name)];
        for op in operations {
            args.extend(["--operation".to_string(), op.to_string()]);
        }
        args.extend(pattern.iter().map(|a| a.to_string()));
        self.added.push(args.clone());
        let mut add = vec!["--add"];
        add.extend(args.iter().map(String::as_str));
        admin_cli("acls", &add);
    }
}

impl Drop for ScramUser {
    fn drop(&mut self) {
        for args in &self.added {
            // The same principal, operations and pattern as added: removes exactly those ACLs
            // (without --operation, kafka-acls would remove only an ACL on operation All).
            let _ = Command::new(env_var("KTO_KAFKA_CLI"))
                .args([
                    "acls",
                    "--bootstrap-server",
                    &bootstrap(),
                    "--remove",
                    "--force",
                ])
                .args(args)
                .output();
        }
        let _ = Command::new(env_var("KTO_KAFKA_CLI"))
            .args([
                "configs",
                "--bootstrap-server",
                &bootstrap(),
                "--alter",
                "--entity-type",
                "users",
                "--entity-name",
                &self.name,
                "--delete-config",
                "SCRAM-SHA-512",
            ])
            .output();
    }
}
