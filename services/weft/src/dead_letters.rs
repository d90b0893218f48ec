//! `weft dead-letters list|get|replay`: the admin API's `/api/v1/dead-letters` for people.
//!
//! Consumes the admin API over HTTP; prints tables and JSON. Touches nothing else.

use serde_json::Value;

use crate::client::Client;

/// Most dead letters the API returns per page.
const PAGE: u32 = 100;

impl Client {
    /// Print a table of the oldest `limit` dead letters: id, where from, deliveries, when, why.
    pub async fn dead_letters(&self, limit: u32) -> anyhow::Result<()> {
        println!(
            "{:<8}  {:<12}  {:<28}  {:>9}  {:<24}  REASON",
            "ID", "STREAM", "SUBJECT", "DELIVERED", "AT"
        );
        let mut left = limit;
        let mut cursor: Option<String> = None;
        while left > 0 {
            let mut query = vec![("limit", left.min(PAGE).to_string())];
            query.extend(cursor.take().map(|c| ("cursor", c)));
            let url = self.url("/dead-letters");
            let body = self.send(self.http().get(url).query(&query)).await?;
            let items = body["items"].as_array().cloned().unwrap_or_default();
            for d in &items {
                println!("{}", row(d));
            }
            left = left.saturating_sub(u32::try_from(items.len()).unwrap_or(u32::MAX));
            match body["next_cursor"].as_str() {
                Some(next) if !items.is_empty() => cursor = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(())
    }

    /// Print one dead letter, its message included, as JSON.
    pub async fn dead_letter(&self, id: u64) -> anyhow::Result<()> {
        let url = self.url(&format!("/dead-letters/{id}"));
        let body = self.send(self.http().get(url)).await?;
        println!("{}", serde_json::to_string_pretty(&body)?);
        Ok(())
    }

    /// Put dead letter `id` back on its original subject; prints where it went.
    pub async fn replay_dead_letter(&self, id: u64) -> anyhow::Result<()> {
        let url = self.url(&format!("/dead-letters/{id}/replay"));
        let body = self.send(self.http().post(url)).await?;
        println!(
            "{id} replayed to {}",
            body["subject"].as_str().unwrap_or("its subject")
        );
        Ok(())
    }
}

fn row(d: &Value) -> String {
    let text = |k: &str| d[k].as_str().unwrap_or("-").to_string();
    let delivered = d["delivered"]
        .as_i64()
        .map_or_else(|| "-".to_string(), |n| n.to_string());
    format!(
        "{:<8}  {:<12}  {:<28}  {:>9}  {:<24}  {}",
        d["id"],
        text("stream"),
        text("subject"),
        delivered,
        text("dead_lettered_at"),
        text("reason")
    )
}
