//! The console's API against a real listener and engine: sign-in, the cookie, CSRF and origin
//! refusals, and an upload through the part calls.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use ferry_console::{ConsoleConfig, ConsoleFrontend};
use ferry_core::keys::MasterKey;
use ferry_testkit::{ACCESS_KEY, Reply, SECRET_KEY, TestServer};
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};

async fn server(master: MasterKey) -> TestServer {
    let server =
        TestServer::start(move |engine, creds| ConsoleFrontend::new(engine, creds, master, ConsoleConfig::default()))
            .await;
    server.engine.create_bucket("b").await.unwrap();
    server
}

fn json_of(reply: &Reply) -> Value {
    serde_json::from_slice(&reply.body).unwrap_or(Value::Null)
}

async fn sign_in(server: &TestServer, secret: &str) -> Reply {
    let body = json!({ "accessKeyId": ACCESS_KEY, "secretAccessKey": secret }).to_string();
    let req = Request::post("/console/api/signin").header("content-type", "application/json").body(Bytes::from(body));
    server.send(req.unwrap()).await
}

/// The cookie pair and the CSRF token of a fresh sign-in.
async fn session(server: &TestServer) -> (String, String) {
    let reply = sign_in(server, SECRET_KEY).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let cookie = reply.header("set-cookie").split(';').next().unwrap().to_string();
    (cookie, json_of(&reply)["csrf"].as_str().unwrap().to_string())
}

fn call(method: Method, path: &str, cookie: &str) -> http::request::Builder {
    Request::builder().method(method).uri(path).header("cookie", cookie)
}

#[tokio::test]
async fn sign_in_sets_a_sealed_strict_cookie_and_refuses_a_wrong_secret() {
    let server = server(MasterKey::generate()).await;
    let wrong = sign_in(&server, "nope").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.header("set-cookie").is_empty());
    let ok = sign_in(&server, SECRET_KEY).await;
    let set = ok.header("set-cookie");
    for part in ["ferry_console=", "HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(part), "{set}");
    }
    assert!(!set.contains(SECRET_KEY) && !set.contains("Secure"), "plain HTTP: no Secure; {set}");
    let cookie = set.split(';').next().unwrap();
    let who = server.send(call(Method::GET, "/console/api/whoami", cookie).body(Bytes::new()).unwrap()).await;
    assert_eq!(json_of(&who)["accessKeyId"], ACCESS_KEY);
    assert_eq!(json_of(&who)["csrf"], json_of(&ok)["csrf"]);
}

#[tokio::test]
async fn a_cookie_sealed_under_another_master_key_is_signed_out() {
    let other = server(MasterKey::generate()).await;
    let (cookie, _) = session(&other).await;
    let server = server(MasterKey::generate()).await;
    let reply = server.send(call(Method::GET, "/console/api/buckets", &cookie).body(Bytes::new()).unwrap()).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&reply)["error"], "SignedOut");
}

#[tokio::test]
async fn writes_need_the_csrf_token_and_the_consoles_origin() {
    let server = server(MasterKey::generate()).await;
    let (cookie, csrf) = session(&server).await;
    let create = |headers: &[(&str, &str)]| {
        let mut req = call(Method::POST, "/console/api/uploads?bucket=b&key=k", &cookie);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(Bytes::new()).unwrap()
    };
    assert_eq!(server.send(create(&[])).await.status, StatusCode::FORBIDDEN, "no token");
    let (_, other_csrf) = session(&server).await;
    assert_eq!(server.send(create(&[("x-ferry-csrf", &other_csrf)])).await.status, StatusCode::FORBIDDEN);
    let evil = [("x-ferry-csrf", csrf.as_str()), ("origin", "http://evil.example")];
    assert_eq!(server.send(create(&evil)).await.status, StatusCode::FORBIDDEN, "foreign origin");
    let cross = [("x-ferry-csrf", csrf.as_str()), ("sec-fetch-site", "cross-site")];
    assert_eq!(server.send(create(&cross)).await.status, StatusCode::FORBIDDEN);
    let origin = format!("http://{}", server.addr);
    let good = server.send(create(&[("x-ferry-csrf", &csrf), ("origin", &origin)])).await;
    assert_eq!(good.status, StatusCode::OK, "{}", good.text());
    // Nothing was created by the refused calls: exactly one session.
    let sessions = server.send(call(Method::GET, "/console/api/sessions", &cookie).body(Bytes::new()).unwrap()).await;
    let listed = json_of(&sessions)["sessions"].as_array().unwrap().clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["dialect"], "console");
}

#[tokio::test]
async fn an_upload_through_the_part_calls_resumes_from_the_part_list() {
    let server = server(MasterKey::generate()).await;
    let (cookie, csrf) = session(&server).await;
    let send = |method: Method, path: &str, body: &'static [u8]| {
        call(method, path, &cookie).header("x-ferry-csrf", &csrf).body(Bytes::from_static(body)).unwrap()
    };
    let created = server.send(send(Method::POST, "/console/api/uploads?bucket=b&key=dir/f.txt", b"")).await;
    let id = json_of(&created)["uploadId"].as_str().unwrap().to_string();
    let part =
        |n: u32, body: &'static [u8]| send(Method::PUT, &format!("/console/api/uploads/{id}/parts/{n}?bucket=b"), body);
    assert_eq!(server.send(part(2, b"world")).await.status, StatusCode::OK);
    let listed = server.send(send(Method::GET, &format!("/console/api/uploads/{id}/parts?bucket=b"), b"")).await;
    assert_eq!(json_of(&listed)["parts"][0]["number"], 2);
    assert_eq!(json_of(&listed)["bytes"], 5);
    assert_eq!(server.send(part(1, b"hello ")).await.status, StatusCode::OK);
    let wrong_size =
        server.send(send(Method::POST, &format!("/console/api/uploads/{id}/complete?bucket=b&size=3"), b"")).await;
    assert_eq!(wrong_size.status, StatusCode::BAD_REQUEST, "{}", wrong_size.text());
    let done =
        server.send(send(Method::POST, &format!("/console/api/uploads/{id}/complete?bucket=b&size=11"), b"")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(server.stored("b", "dir/f.txt").await.unwrap(), b"hello world");
    // Listed by folder; deleted with the token.
    let root =
        server.send(call(Method::GET, "/console/api/objects?bucket=b", &cookie).body(Bytes::new()).unwrap()).await;
    assert_eq!(json_of(&root)["prefixes"], json!(["dir/"]));
    let gone = server.send(send(Method::DELETE, "/console/api/objects?bucket=b&key=dir/f.txt", b"")).await;
    assert_eq!(gone.status, StatusCode::OK);
    assert!(server.stored("b", "dir/f.txt").await.is_err());
}
