//! `on.schedule` configs are checked at apply time: an expression that does not parse, an
//! unknown time zone or an unknown field is a 400 naming the field and its line; nothing is
//! stored.

use serde_json::Value;

use crate::common::{self, apply_yaml, assert_error, call};

fn scheduled(name: &str, schedule: &str) -> String {
    format!(
        "name: {name}
on:
  schedule:
{schedule}
steps:
  a:
    uses: http
    with: {{ url: http://127.0.0.1:1/ }}
"
    )
}

#[tokio::test]
async fn bad_schedules_are_rejected_with_the_field() {
    let env = common::env().await;
    let cases = [
        (
            "    cron: \"61 * * * *\"\n",
            "on.schedule.cron",
            "61 * * * *",
        ),
        ("    cron: \"* * * *\"\n", "on.schedule.cron", "4 fields"),
        (
            "    cron: \"@fortnightly\"\n",
            "on.schedule.cron",
            "@fortnightly",
        ),
        (
            "    cron: \"@hourly\"\n    timezone: Europe/Atlantis\n",
            "on.schedule.timezone",
            "Europe/Atlantis",
        ),
        (
            "    cron: \"@hourly\"\n    catchup: sometimes\n",
            "catchup",
            "sometimes",
        ),
        (
            "    cron: \"@hourly\"\n    overlap: queue\n",
            "overlap",
            "queue",
        ),
        ("    cron: \"@hourly\"\n    every: 5m\n", "every", "every"),
    ];
    for (i, (schedule, field, detail)) in cases.iter().enumerate() {
        let name = format!("bad-{i}");
        let (status, body) = apply_yaml(&env.app, &name, &scheduled(&name, schedule)).await;
        assert_eq!(status, 400, "{schedule}: {body}");
        let message = assert_error(&body, "invalid_workflow");
        assert!(message.contains(field), "{schedule}: {message}");
        assert!(message.contains(detail), "{schedule}: {message}");
        assert!(body["line"].is_u64(), "{schedule}: no line in {body}");
        let (status, _) = call(
            &env.app,
            "GET",
            &format!("/api/v1/workflows/{name}"),
            &[],
            "",
        )
        .await;
        assert_eq!(status, 404, "a rejected workflow is not stored");
    }
}

#[tokio::test]
async fn good_schedules_are_accepted() {
    let env = common::env().await;
    let schedule = "    - { cron: \"*/10 * * * * *\", timezone: America/New_York, catchup: all, catchup_window: 2h, overlap: buffer_one }\n    - { cron: \"@daily\" }\n";
    let (status, body) = apply_yaml(&env.app, "good", &scheduled("good", schedule)).await;
    assert!(status == 200 || status == 201, "{body}");
    let (_, wf): (_, Value) = call(&env.app, "GET", "/api/v1/workflows/good", &[], "").await;
    let on = &wf["definition"]["on"]["schedule"];
    assert_eq!(on[0]["overlap"], "buffer_one", "{wf}");
    assert_eq!(on[1]["timezone"], "UTC", "{wf}");
}
