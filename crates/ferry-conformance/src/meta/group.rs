//! Group commit: many part writes at once, over many sessions, some of which must be refused.
//! Each request must get its own answer (a refused part fails alone and leaves nothing, its
//! neighbours in the same batch are recorded), and every acknowledged part must be there, with
//! its own blob and digests, after the store is closed and opened again.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use ferry_core::{BlobId, Error, MetaStore, PartRecord, Result, SessionState, now_millis};

use super::{clock, part, session};

/// How each session is set up before the parts arrive, and what its parts must get.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// Accepting parts: every one is acknowledged.
    Live,
    /// Aborted: `NoSuchUpload`.
    Aborted,
    /// A commit is running: `Busy`.
    Committing,
    /// Out of time: `NoSuchUpload`, and the session is found expired afterwards.
    Stale,
    /// Never created: `NoSuchUpload`.
    Missing,
}

const KINDS: [Kind; 8] =
    [Kind::Live, Kind::Aborted, Kind::Live, Kind::Committing, Kind::Live, Kind::Stale, Kind::Live, Kind::Missing];
const SESSIONS: usize = 24;
const PARTS_PER_SESSION: u32 = 25;

/// Runs the case on a store from `open`, which must open the same database again each call.
pub async fn group_commit_suite<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn MetaStore>>,
{
    let store = open().await;
    store.create_bucket("group", now_millis()).await.unwrap();
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let kind = KINDS[i % KINDS.len()];
        let mut s = session("group", &format!("key-{i}"));
        if kind == Kind::Stale {
            s.expires = now_millis() - 1;
        }
        if kind != Kind::Missing {
            store.create_session(&s).await.unwrap();
        }
        let next = match kind {
            Kind::Aborted => Some(SessionState::Aborted),
            Kind::Committing => Some(SessionState::Closing),
            _ => None,
        };
        if let Some(to) = next {
            assert!(store.transition(&s.id, &[SessionState::Normal], to, clock()).await.unwrap(), "{kind:?}");
        }
        sessions.push((s.id, kind));
    }

    // Every part at once, interleaved across sessions, so batches mix refused and accepted rows.
    let mut puts = Vec::new();
    for number in 1..=PARTS_PER_SESSION {
        for (id, kind) in &sessions {
            let (store, id, kind) = (store.clone(), id.clone(), *kind);
            let mut p = part(number, 4096 + u64::from(number));
            // Digests unique to (session, part), so a row recorded under the wrong request shows.
            p.digests.md5[1..9].copy_from_slice(&id.as_bytes()[..8]);
            p.digests.crc32 = number;
            puts.push(tokio::spawn(async move {
                let result = store.put_part(&id, &p, clock()).await;
                (id, kind, p, result)
            }));
        }
    }
    let mut acknowledged: BTreeMap<String, Vec<PartRecord>> = BTreeMap::new();
    for put in puts {
        let (id, kind, p, result) = put.await.unwrap();
        check_answer(kind, &result);
        if result.is_ok() {
            acknowledged.entry(id).or_default().push(p);
        }
    }
    drop(store);

    let store = open().await;
    for (id, kind) in &sessions {
        let listed = store.list_parts(id, None, 1000).await.unwrap();
        let mut expected = acknowledged.remove(id).unwrap_or_default();
        expected.sort_by_key(|p| p.number);
        if *kind == Kind::Live {
            assert_eq!(expected.len(), PARTS_PER_SESSION as usize, "every part of a live session is acknowledged");
        }
        let got: Vec<(u32, &BlobId, u64, [u8; 16], u32)> =
            listed.iter().map(|p| (p.number, &p.blob, p.size, p.digests.md5, p.digests.crc32)).collect();
        let want: Vec<(u32, &BlobId, u64, [u8; 16], u32)> =
            expected.iter().map(|p| (p.number, &p.blob, p.size, p.digests.md5, p.digests.crc32)).collect();
        assert_eq!(got, want, "{kind:?} session {id}: the acknowledged parts, exactly, after reopening");
        let state = store.get_session(id).await.unwrap().map(|s| s.state);
        let want_state = match kind {
            Kind::Live => Some(SessionState::Normal),
            Kind::Aborted => Some(SessionState::Aborted),
            Kind::Committing => Some(SessionState::Closing),
            Kind::Stale => Some(SessionState::Expired),
            Kind::Missing => None,
        };
        assert_eq!(state, want_state, "{kind:?} session {id}: its state, the expiry a refused part found kept");
    }
}

fn check_answer(kind: Kind, result: &Result<()>) {
    match (kind, result) {
        (Kind::Live, Ok(())) => {}
        (Kind::Committing, Err(Error::Busy)) => {}
        (Kind::Aborted | Kind::Stale | Kind::Missing, Err(Error::NoSuchUpload)) => {}
        (kind, result) => panic!("a part of a {kind:?} session got {result:?}"),
    }
}
