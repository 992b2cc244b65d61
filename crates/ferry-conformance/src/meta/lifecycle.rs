//! The lifecycle part of the contract ([`ferry_core::lifecycle::LifecycleStore`]): rules kept per
//! bucket and gone with it, and the queries and conditional delete that apply them.

use ferry_core::lifecycle::{AbortUploads, Expiration, LifecycleConfiguration, LifecycleRule};
use ferry_core::{Error, MetaStore, SessionState, now_millis};

use super::races::small_object;
use super::{clock, part, session};

fn config(ids: &[&str]) -> LifecycleConfiguration {
    LifecycleConfiguration {
        rules: ids
            .iter()
            .map(|id| LifecycleRule {
                id: id.to_string(),
                enabled: true,
                prefix: format!("{id}/"),
                expiration: Some(Expiration::Days(3)),
                abort_uploads: Some(AbortUploads::Days(1)),
            })
            .collect(),
    }
}

/// Rules: set, replaced, read back exactly, listed by bucket, deleted, and gone with their bucket.
pub(super) async fn lifecycle_rules(store: &dyn MetaStore) {
    let now = now_millis();
    assert!(matches!(store.put_lifecycle("nope", &config(&["a"]), now).await, Err(Error::NoSuchBucket)));
    assert!(store.get_lifecycle("nope").await.unwrap().is_none());
    store.create_bucket("lc-one", now).await.unwrap();
    store.create_bucket("lc-two", now).await.unwrap();
    assert!(store.get_lifecycle("lc-one").await.unwrap().is_none(), "no rules until set");
    store.put_lifecycle("lc-one", &config(&["a", "b"]), now).await.unwrap();
    let mut dated = config(&["d"]);
    dated.rules[0].expiration = Some(Expiration::Date(1_893_456_000_000));
    dated.rules[0].abort_uploads = Some(AbortUploads::CreatedBefore(1_893_456_000_000));
    dated.rules[0].enabled = false;
    store.put_lifecycle("lc-two", &dated, now).await.unwrap();
    assert_eq!(store.get_lifecycle("lc-one").await.unwrap(), Some(config(&["a", "b"])));
    assert_eq!(store.get_lifecycle("lc-two").await.unwrap(), Some(dated.clone()), "dates and status kept");
    store.put_lifecycle("lc-one", &config(&["c"]), now).await.unwrap();
    assert_eq!(store.get_lifecycle("lc-one").await.unwrap(), Some(config(&["c"])), "a put replaces every rule");
    let listed: Vec<String> = store.lifecycle_buckets().await.unwrap().into_iter().map(|(b, _)| b).collect();
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "by bucket name: {listed:?}");
    assert!(listed.contains(&"lc-one".to_string()) && listed.contains(&"lc-two".to_string()));

    assert!(store.delete_lifecycle("lc-one").await.unwrap());
    assert!(!store.delete_lifecycle("lc-one").await.unwrap(), "nothing left to delete");
    assert!(store.get_lifecycle("lc-one").await.unwrap().is_none());
    store.delete_bucket("lc-two", now).await.unwrap();
    assert!(store.get_lifecycle("lc-two").await.unwrap().is_none(), "deleting a bucket deletes its rules");
    store.create_bucket("lc-two", now).await.unwrap();
    assert!(store.get_lifecycle("lc-two").await.unwrap().is_none(), "a new bucket of the name starts without rules");
    assert!(!store.lifecycle_buckets().await.unwrap().iter().any(|(b, _)| b == "lc-two" || b == "lc-one"));
    store.delete_bucket("lc-one", now).await.unwrap();
    store.delete_bucket("lc-two", now).await.unwrap();
}

/// The queries that find what is due, and the expiry that deletes an object only while it is
/// as old as the rule wants.
pub(super) async fn lifecycle_queries(store: &dyn MetaStore) {
    // Uploads: live object sessions under the prefix, created before the cut-off, by id.
    let old = session("alpha", "lc/old");
    let other = session("alpha", "elsewhere/old");
    let mut done = session("alpha", "lc/done");
    done.state = SessionState::Aborted;
    for s in [&old, &other, &done] {
        store.create_session(s).await.unwrap();
    }
    store.put_part(&old.id, &part(1, 5), clock()).await.unwrap();
    let cutoff = now_millis() + 1;
    let due = store.uploads_created_before("alpha", "lc/", cutoff, "", 100).await.unwrap();
    assert_eq!(due, vec![old.id.clone()], "only the live upload under the prefix");
    assert!(store.uploads_created_before("alpha", "lc/", old.created, "", 100).await.unwrap().is_empty(), "strict");
    assert!(store.uploads_created_before("alpha", "lc/", cutoff, &old.id, 100).await.unwrap().is_empty(), "after");
    let all = store.uploads_created_before("alpha", "", cutoff, "", 100).await.unwrap();
    assert!(all.contains(&old.id) && all.contains(&other.id) && !all.contains(&done.id));
    assert!(all.windows(2).all(|w| w[0] < w[1]), "ascending ids");
    assert_eq!(store.uploads_created_before("alpha", "", cutoff, "", 1).await.unwrap().len(), 1, "limit");
    assert!(store.transition(&old.id, &[SessionState::Normal], SessionState::Aborted, clock()).await.unwrap());
    assert!(store.uploads_created_before("alpha", "lc/", cutoff, "", 100).await.unwrap().is_empty());
    store.transition(&other.id, &[SessionState::Normal], SessionState::Aborted, clock()).await.unwrap();

    // Objects: under the prefix, modified before the cut-off, in key order, paged by key.
    let mut aged = Vec::new();
    for key in ["lc/a", "lc/b", "lc/c", "lcx/d"] {
        let mut o = small_object(key, "e");
        o.modified = 1_000;
        store.put_object(&o).await.unwrap();
        aged.push(o);
    }
    let fresh = small_object("lc/fresh", "f");
    store.put_object(&fresh).await.unwrap();
    assert_eq!(store.objects_modified_before("alpha", "lc/", 2_000, "", 100).await.unwrap(), ["lc/a", "lc/b", "lc/c"]);
    assert_eq!(store.objects_modified_before("alpha", "lc/", 2_000, "lc/a", 1).await.unwrap(), ["lc/b"]);
    assert!(store.objects_modified_before("alpha", "lc/", 1_000, "", 100).await.unwrap().is_empty(), "strict");

    // The delete is conditional on age, and happens once.
    assert!(!store.expire_object("alpha", "lc/fresh", 2_000, now_millis(), &[]).await.unwrap(), "too young");
    assert!(store.get_object("alpha", "lc/fresh").await.unwrap().is_some());
    assert!(store.expire_object("alpha", "lc/a", 2_000, now_millis(), &[]).await.unwrap());
    assert!(!store.expire_object("alpha", "lc/a", 2_000, now_millis(), &[]).await.unwrap(), "only once");
    assert!(store.get_object("alpha", "lc/a").await.unwrap().is_none());
    let future = now_millis() + 1_000_000;
    assert!(store.garbage(future, 10_000).await.unwrap().contains(&aged[0].manifest[0].blob), "its blob is garbage");
    // An object overwritten since it was selected is the new object, and stays.
    store.put_object(&small_object("lc/b", "new")).await.unwrap();
    assert!(!store.expire_object("alpha", "lc/b", 2_000, now_millis(), &[]).await.unwrap());
    assert_eq!(store.get_object("alpha", "lc/b").await.unwrap().map(|o| o.etag).as_deref(), Some("new"));

    // Racing expirations of one object: exactly one wins.
    let racers = (0..4).map(|_| store.expire_object("alpha", "lc/c", 2_000, now_millis(), &[]));
    let wins = futures_util::future::join_all(racers).await.into_iter().filter(|r| *r.as_ref().unwrap()).count();
    assert_eq!(wins, 1);
    for key in ["lc/b", "lcx/d", "lc/fresh"] {
        store.delete_object("alpha", key).await.unwrap();
    }
}
