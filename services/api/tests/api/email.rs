//! `on.email` configuration is checked when a workflow is applied: a bad one is a 400 that names
//! the field, and nothing is published.

use crate::common::{self, apply_yaml, assert_error};

fn workflow(trigger: &str) -> String {
    let mut yaml = String::from("name: mail\non:\n  email:\n");
    for line in trigger.lines().filter(|l| !l.trim().is_empty()) {
        yaml.push_str(&format!("    {}\n", line.trim()));
    }
    yaml.push_str("steps:\n  s:\n    uses: http\n    with: { url: \"http://127.0.0.1:9/\" }\n");
    yaml
}

const GOOD: &str = "host: imap.example.com\nusername: u\npassword: ${{ secrets.IMAP_PASSWORD }}";

#[tokio::test]
async fn bad_email_configs_are_400_naming_the_field() {
    let env = common::env().await;
    let cases: [(&str, &str); 7] = [
        ("after: move", "move_to"),
        ("after: seen\nmove_to: Done", "move_to"),
        ("after: move\nmove_to: INBOX", "move_to"),
        ("tls: ssl", "tls"),
        ("poll_interval: 10ms", "poll_interval"),
        ("port: 0", "port"),
        ("pasword: x", "pasword"),
    ];
    for (extra, field) in cases {
        let yaml = workflow(&format!("{GOOD}\n{extra}"));
        let (status, body) = apply_yaml(&env.app, "mail", &yaml).await;
        assert_eq!(status, 400, "{extra}: {body}");
        let message = assert_error(&body, "invalid_workflow");
        assert!(message.contains(field), "{extra}: {message}");
    }
    let (status, body) = common::call(&env.app, "GET", "/api/v1/workflows/mail", &[], "").await;
    assert_eq!(status, 404, "nothing was stored: {body}");

    let yaml = workflow(&format!(
        "{GOOD}\nafter: move\nmove_to: Processed\nmode: poll"
    ));
    let (status, body) = apply_yaml(&env.app, "mail", &yaml).await;
    assert!(status == 200 || status == 201, "{body}");
}
