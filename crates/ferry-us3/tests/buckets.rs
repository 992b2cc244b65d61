//! US3 bucket-level calls: PrefixFileList (`?list`), ListObjects (`?listobjects`), and what an
//! unknown bucket answers.
#![allow(clippy::unwrap_used)]

mod common;
use common::*;

async fn put(s: &ferry_testkit::TestServer, key: &str) {
    let r = call(s, "PUT", &format!("/{key}"), &[("content-type", "text/plain")], key.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn prefix_file_list_pages_through_files() {
    let s = server().await;
    for key in ["a/1", "a/2", "b"] {
        put(&s, key).await;
    }
    let first = call(&s, "GET", "/?list&prefix=&limit=2", &[], "").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let body = json(&first);
    let names: Vec<&str> =
        body["DataSet"].as_array().unwrap().iter().map(|f| f["FileName"].as_str().unwrap()).collect();
    assert_eq!(names, ["a/1", "a/2"]);
    assert_eq!(body["DataSet"][0]["Size"], 3);
    let marker = body["NextMarker"].as_str().unwrap().to_string();
    assert!(!marker.is_empty());

    let next = call(&s, "GET", &format!("/?list&prefix=&marker={marker}&limit=2"), &[], "").await;
    let body = json(&next);
    let names: Vec<&str> =
        body["DataSet"].as_array().unwrap().iter().map(|f| f["FileName"].as_str().unwrap()).collect();
    assert_eq!(names, ["b"]);
}

#[tokio::test]
async fn list_objects_groups_by_delimiter() {
    let s = server().await;
    for key in ["a/1", "a/2", "b", "c/d"] {
        put(&s, key).await;
    }
    let r = call(&s, "GET", "/?listobjects&prefix=&delimiter=%2F&max-keys=100", &[], "").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = json(&r);
    let keys: Vec<&str> = body["Contents"].as_array().unwrap().iter().map(|o| o["Key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["b"]);
    let prefixes: Vec<&str> =
        body["CommonPrefixes"].as_array().unwrap().iter().map(|p| p["Prefix"].as_str().unwrap()).collect();
    assert_eq!(prefixes, ["a/", "c/"]);
    assert_eq!(body["IsTruncated"], false);
}

#[tokio::test]
async fn an_unknown_bucket_is_refused_in_us3_terms() {
    let s = server().await;
    let r = s.send(signed("nobucket", "GET", "/?list", &[], "", ferry_testkit::SECRET_KEY)).await;
    assert_error(&r, 400, -30010);
    let r = s.send(signed("nobucket", "PUT", "/k", &[], "x", ferry_testkit::SECRET_KEY)).await;
    assert_error(&r, 400, -30010);
}
