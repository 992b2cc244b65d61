//! Session lifetime and idle time, enforced by every request on its own, not only by the
//! sweeper.

use std::time::Duration;

use ferry_core::*;
use ferry_tables::Tables;

use super::tables::{batches, columns, rows_of, table, whole};
use super::{Stack, body, commit_list, fixture, target};

/// Regression: lifetime and idle time were enforced only by the sweeper, so a session past its
/// lifetime still took parts, listed them and published an object until the next sweep.
pub(super) async fn sessions_expire_at_request_time_without_a_sweep(stack: &dyn Stack) {
    let f =
        fixture(stack, EngineConfig { session_lifetime: Duration::from_millis(400), ..EngineConfig::default() }).await;
    let e = &f.engine;
    let t = &Tables::new(e.clone());
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("late"), ObjectMeta::default(), None).await.unwrap();
    let p1 = e.put_part(&s, 1, body(b"early part")).await.unwrap();
    let name = table(t, "t").await;
    let upload = t.create_table_upload(&name, &whole(), false).await.unwrap();
    t.put_block(&upload.session, 0, &columns(), batches(&rows_of(5, "r")), 1 << 30).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Every operation refuses, on the caller's old copy as on a fresh open.
    assert!(matches!(e.put_part(&s, 2, body(b"late part")).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.list_parts(&s, None, 10).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.commit(&s, commit_list(&[&p1])).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.abort(&s).await, Err(Error::NoSuchUpload)));
    assert_eq!(e.open_session(&s.id, &s.target).await.unwrap().state, SessionState::Expired);
    assert!(matches!(e.head_object("bkt", "late").await, Err(Error::NoSuchKey)), "nothing was published");
    assert!(
        e.list_sessions("bkt", "", &UploadMarker::Start, 10).await.unwrap().sessions.is_empty(),
        "an expired upload is not listed"
    );

    assert!(matches!(t.commit_table_upload(&upload, Some(&[0])).await, Err(Error::NoSuchUpload)));
    assert!(matches!(
        t.put_block(&upload.session, 1, &columns(), batches(&rows_of(5, "r")), 1 << 30).await,
        Err(Error::NoSuchUpload)
    ));
    let reopened = t.table_upload(&name, &whole(), &upload.session.id).await.unwrap();
    assert_eq!(reopened.session.state, SessionState::Expired, "Tunnel's status call sees EXPIRED");
    assert!(t.table_files(&t.table(&name).await.unwrap(), &whole(), now_millis()).await.unwrap().is_empty());
    assert_eq!(e.sweep().await.unwrap().expired_sessions, 0, "the sweeper found nothing left to expire");
}

pub(super) async fn idle_sessions_expire_at_request_time_and_activity_keeps_them(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig { idle_timeout: Duration::from_millis(600), ..EngineConfig::default() }).await;
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("idle"), ObjectMeta::default(), None).await.unwrap();
    let mut parts = Vec::new();
    for n in 1..=3u8 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        parts.push(e.put_part(&s, n as u32, body(&[n; 20])).await.unwrap());
    }
    assert_eq!(e.list_parts(&s, None, 10).await.unwrap().parts.len(), 3, "each part kept the session alive");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let refs: Vec<&PartRecord> = parts.iter().collect();
    assert!(matches!(e.commit(&s, commit_list(&refs)).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.head_object("bkt", "idle").await, Err(Error::NoSuchKey)));
}
