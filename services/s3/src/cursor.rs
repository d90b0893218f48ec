//! What the trigger has seen and what one listing means against it, pure.
//!
//! [`Seen`] maps key → ETag of every object whose event was published and that is still
//! in the bucket under the prefix. With `after: none` that is the whole listing; with
//! `after: move|delete` only objects whose after-step has not succeeded yet (normally none),
//! because a moved or deleted object leaves the listing. An object fires when its key is new
//! (`created`) or its ETag differs from the recorded one (`updated`). Keys that left the listing
//! are dropped, so a later object of the same key and content fires again as `created`.
//! It is stored as JSON in the object store ([`crate::store`]), so its size is not bounded by
//! a key-value entry; about 40 bytes plus the key per object.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::bucket::ObjectInfo;

/// Objects already published: key → ETag (without quotes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seen {
    /// key → ETag of each published object still in the bucket.
    pub objects: BTreeMap<String, String>,
}

/// What to do with one listed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A key not seen before: publish `created`.
    Created,
    /// A known key with a new ETag: publish `updated`.
    Updated,
    /// Published already; its after-step (move/delete) is still to do.
    Pending,
}

/// The work for one listing: objects with their action, in listing (key) order. Objects
/// already published are left out when `after_step` is false (nothing more to do for them).
pub fn plan<'a>(
    seen: &Seen,
    listing: &'a [ObjectInfo],
    after_step: bool,
) -> Vec<(Action, &'a ObjectInfo)> {
    listing
        .iter()
        .filter_map(|o| match seen.objects.get(&o.key) {
            None => Some((Action::Created, o)),
            Some(etag) if *etag != o.etag => Some((Action::Updated, o)),
            Some(_) if after_step => Some((Action::Pending, o)),
            Some(_) => None,
        })
        .collect()
}

impl Seen {
    /// Drops keys that are not in `listing` any more; true if anything was dropped.
    pub fn retain_listed(&mut self, listing: &[ObjectInfo]) -> bool {
        let listed: BTreeSet<&str> = listing.iter().map(|o| o.key.as_str()).collect();
        let before = self.objects.len();
        self.objects.retain(|key, _| listed.contains(key.as_str()));
        self.objects.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(key: &str, etag: &str) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            etag: etag.into(),
            size: 1,
            modified: None,
        }
    }

    fn seen(pairs: &[(&str, &str)]) -> Seen {
        Seen {
            objects: pairs
                .iter()
                .map(|(k, e)| (k.to_string(), e.to_string()))
                .collect(),
        }
    }

    #[test]
    fn new_keys_are_created_and_new_etags_updated() {
        let listing = [obj("a", "1"), obj("b", "2"), obj("c", "3")];
        let c = seen(&[("a", "1"), ("b", "old")]);
        let actions: Vec<_> = plan(&c, &listing, false)
            .into_iter()
            .map(|(a, o)| (a, o.key.as_str()))
            .collect();
        assert_eq!(actions, [(Action::Updated, "b"), (Action::Created, "c")]);
    }

    #[test]
    fn published_objects_are_pending_while_an_after_step_is_due() {
        let listing = [obj("a", "1")];
        let c = seen(&[("a", "1")]);
        assert!(plan(&c, &listing, false).is_empty());
        assert_eq!(plan(&c, &listing, true)[0].0, Action::Pending);
    }

    #[test]
    fn keys_that_left_the_listing_are_forgotten() {
        let mut c = seen(&[("a", "1"), ("gone", "2")]);
        assert!(c.retain_listed(&[obj("a", "1")]));
        assert_eq!(c, seen(&[("a", "1")]));
        assert!(!c.retain_listed(&[obj("a", "1")]));
        // The same key and content coming back is new again.
        c.retain_listed(&[]);
        assert_eq!(plan(&c, &[obj("a", "1")], false)[0].0, Action::Created);
    }

    #[test]
    fn seen_objects_are_compact_json() {
        let json =
            serde_json::to_string(&seen(&[("in/a.csv", "9b2cf535f27731c974343645a3985328")]))
                .expect("json");
        assert_eq!(
            json,
            r#"{"objects":{"in/a.csv":"9b2cf535f27731c974343645a3985328"}}"#
        );
    }
}
