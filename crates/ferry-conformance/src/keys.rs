//! The [`KeyStore`] suite: access keys kept, listed, updated, touched and deleted.

use ferry_core::access::Grant;
use ferry_core::keys::{KeyRecord, KeyStore};

fn key(id: &str, name: &str, grants: &[&str]) -> KeyRecord {
    KeyRecord {
        access_key_id: id.to_string(),
        name: name.to_string(),
        sealed_secret: vec![1, 2, 3, 0, 255],
        created: 1_000,
        last_used: None,
        enabled: true,
        grants: grants.iter().map(|g| Grant::parse(g).unwrap()).collect(),
    }
}

/// Every guarantee of [`KeyStore`], on a store holding no keys.
pub async fn key_store_suite(store: &dyn KeyStore) {
    assert!(store.list_keys().await.unwrap().is_empty(), "a fresh store holds no keys");
    let ci = key("FERRYCI0000000000001", "ci", &["builds/ci/:write,read", "project:sales:read"]);
    let web = key("FERRYWEB000000000002", "webapp", &["*:list"]);
    store.insert_key(&web).await.unwrap();
    store.insert_key(&ci).await.unwrap();
    assert_eq!(store.list_keys().await.unwrap(), vec![ci.clone(), web.clone()], "keys listed by name, kept exactly");

    let same_name = key("FERRYOTHER0000000003", "ci", &[]);
    assert!(store.insert_key(&same_name).await.is_err(), "names are unique");
    let same_id = key("FERRYCI0000000000001", "other", &[]);
    assert!(store.insert_key(&same_id).await.is_err(), "ids are unique");
    assert_eq!(store.list_keys().await.unwrap().len(), 2, "a refused insert stores nothing");

    let grants = vec![Grant::parse("builds:admin").unwrap()];
    assert!(store.update_key(&ci.access_key_id, &grants, false).await.unwrap());
    assert!(!store.update_key("FERRYNOSUCHKEY000000", &grants, true).await.unwrap(), "no such key");
    let listed = store.list_keys().await.unwrap();
    assert_eq!(listed[0].grants, grants);
    assert!(!listed[0].enabled);
    assert_eq!(listed[0].sealed_secret, ci.sealed_secret, "an update keeps the secret");

    store.touch_keys(std::slice::from_ref(&ci.access_key_id), 5_000).await.unwrap();
    store.touch_keys(std::slice::from_ref(&ci.access_key_id), 4_000).await.unwrap();
    let listed = store.list_keys().await.unwrap();
    assert_eq!(listed[0].last_used, Some(5_000), "last-used never moves backwards");
    assert_eq!(listed[1].last_used, None, "untouched keys stay unused");

    assert!(store.delete_key(&ci.access_key_id).await.unwrap());
    assert!(!store.delete_key(&ci.access_key_id).await.unwrap(), "deleting twice");
    assert_eq!(store.list_keys().await.unwrap(), vec![web.clone()]);
    assert!(store.delete_key(&web.access_key_id).await.unwrap());
}
