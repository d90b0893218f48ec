//! Cursor pagination of the execution list: every row exactly once, newest first, also when
//! rows share a `created_at`.

use std::collections::HashSet;

use chrono::{SubsecRound, Utc};
use uuid::Uuid;
use weft_store::executions::{Cursor, ExecutionFilter};

use crate::common;

#[tokio::test]
async fn pages_return_every_row_once_newest_first() {
    let pg = common::pg().await;
    let store = &pg.store;
    let mut all = Vec::new();
    for i in 0..23 {
        all.push(common::insert_execution(store, "wf", &format!("ev-{i}")).await);
    }
    // Ten rows share one created_at: only the id orders them, and the cursor must still step
    // past each exactly once.
    let tie = Utc::now().trunc_subsecs(6);
    sqlx::query("UPDATE executions SET created_at = $1 WHERE id = ANY($2)")
        .bind(tie)
        .bind(&all[5..15])
        .execute(store.pool())
        .await
        .unwrap();

    let mut seen: Vec<(chrono::DateTime<Utc>, Uuid)> = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let filter = ExecutionFilter {
            limit: 4,
            cursor,
            ..Default::default()
        };
        let (rows, next) = store.list_executions(&filter).await.unwrap();
        pages += 1;
        assert!(pages <= 6, "pagination does not end");
        seen.extend(rows.iter().map(|r| (r.created_at, r.id)));
        match next {
            Some(c) => {
                assert_eq!(rows.len(), 4, "only the last page is short");
                let last = rows.last().unwrap();
                assert_eq!(
                    c,
                    Cursor {
                        created_at: last.created_at,
                        id: last.id
                    }
                );
                // The text form the API hands out round-trips.
                cursor = Some(Cursor::decode(&c.encode()).unwrap());
            }
            None => break,
        }
    }
    assert_eq!(pages, 6, "23 rows in pages of 4");
    assert_eq!(seen.len(), all.len(), "every row once");
    let ids: HashSet<Uuid> = seen.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids, all.iter().copied().collect::<HashSet<_>>());
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "strictly newest first by (created_at, id): {seen:?}"
    );

    // A filter narrows the pages the same way.
    let filter = ExecutionFilter {
        workflow: Some("other".into()),
        limit: 4,
        ..Default::default()
    };
    let (rows, next) = store.list_executions(&filter).await.unwrap();
    assert!(rows.is_empty() && next.is_none());
}
