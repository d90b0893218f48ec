//! Workflow versions: create, unchanged, update, soft delete (history kept), revive.

use serde_json::{Value, json};
use weft_store::workflows::{Applied, NewVersion};

use crate::common;

fn version<'a>(
    name: &'a str,
    source: &'a str,
    definition: &'a Value,
    digest: &'a str,
) -> NewVersion<'a> {
    NewVersion {
        name,
        format: "yaml",
        source,
        definition,
        digest,
    }
}

#[tokio::test]
async fn apply_update_delete_and_revive() {
    let pg = common::pg().await;
    let store = &pg.store;
    let one = json!({"name": "wf", "description": "first"});
    let two = json!({"name": "wf", "description": "second"});

    let applied = store
        .apply_workflow(version("wf", "src-1", &one, "d1"))
        .await;
    assert_eq!(applied.unwrap(), Applied::Created(1));
    let applied = store
        .apply_workflow(version("wf", "src-1 again", &one, "d1"))
        .await;
    assert_eq!(applied.unwrap(), Applied::Unchanged(1), "same digest");
    assert_eq!(
        store.workflow_versions("wf").await.unwrap().len(),
        1,
        "nothing written"
    );

    let applied = store
        .apply_workflow(version("wf", "src-2", &two, "d2"))
        .await;
    assert_eq!(applied.unwrap(), Applied::Updated(2));
    let live = store.get_workflow("wf").await.unwrap().unwrap();
    assert_eq!(live.current_version, 2);
    assert_eq!(live.source, "src-2");
    assert_eq!(live.definition, two);
    assert_eq!(live.description.as_deref(), Some("second"));

    assert!(store.delete_workflow("wf").await.unwrap());
    assert!(
        !store.delete_workflow("wf").await.unwrap(),
        "already deleted"
    );
    assert!(store.get_workflow("wf").await.unwrap().is_none());
    assert!(store.list_workflows().await.unwrap().is_empty());
    let kept: Vec<(i32, String)> = store
        .workflow_versions("wf")
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.version, v.digest))
        .collect();
    assert_eq!(kept, [(2, "d2".to_owned()), (1, "d1".to_owned())]);
    let old = store.workflow_version("wf", 1).await.unwrap().unwrap();
    assert_eq!((old.source.as_str(), &old.definition), ("src-1", &one));

    // Same digest as the deleted version: still a new version, not "unchanged".
    let applied = store
        .apply_workflow(version("wf", "src-3", &two, "d2"))
        .await;
    assert_eq!(applied.unwrap(), Applied::Created(3));
    let live = store.get_workflow("wf").await.unwrap().unwrap();
    assert_eq!((live.current_version, live.source.as_str()), (3, "src-3"));
    let versions: Vec<i32> = store
        .workflow_versions("wf")
        .await
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [3, 2, 1]);
    let names: Vec<String> = store
        .list_workflows()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(names, ["wf"]);
}

#[tokio::test]
async fn unknown_workflows_are_absent() {
    let pg = common::pg().await;
    assert!(pg.store.get_workflow("nope").await.unwrap().is_none());
    assert!(pg.store.workflow_versions("nope").await.unwrap().is_empty());
    assert!(!pg.store.delete_workflow("nope").await.unwrap());
}
