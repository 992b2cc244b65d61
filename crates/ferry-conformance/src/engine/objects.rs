//! Object uploads on the engine: parts in any order, commits and their checks, refused bodies,
//! checksums, abort and expiry with garbage collection, listings.

use std::time::Duration;

use bytes::Bytes;
use ferry_core::checksum::{ChecksumAlgorithm, ChecksumType, Wanted};
use ferry_core::*;

use super::{Stack, body, commit_list, fixture, read, target};

pub(super) async fn parts_in_any_order_resent_and_committed_by_metadata(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("obj"), ObjectMeta::default(), None).await.unwrap();
    let a = vec![b'a'; 20_000];
    let c = vec![b'c'; 15];
    let p3 = e.put_part(&s, 3, body(&c)).await.unwrap();
    let _stale = e.put_part(&s, 1, body(b"stale stale")).await.unwrap();
    let p1 = e.put_part(&s, 1, body(&a)).await.unwrap();
    let listed = e.list_parts(&s, None, 100).await.unwrap().parts;
    assert_eq!(
        listed.iter().map(|p| (p.number, p.size)).collect::<Vec<_>>(),
        [(1, 20_000), (3, 15)],
        "re-sent part replaced"
    );

    let object = e.commit(&s, commit_list(&[&p1, &p3])).await.unwrap();
    assert_eq!(object.size, 20_015);
    assert!(object.etag.ends_with("-2"));
    assert_eq!(object.manifest[0].blob, p1.blob, "commit publishes the part blobs themselves (no copy)");
    assert_eq!(read(e, "obj", None).await, [a.clone(), c.clone()].concat());
    assert_eq!(read(e, "obj", Some(RangeSpec::From { first: 19_998, last: Some(20_001) })).await, b"aacc");
    assert_eq!(read(e, "obj", Some(RangeSpec::Suffix(3))).await, b"ccc");
    // The retried commit with the same list gets the same answer; a different list does not.
    let again = e.commit(&s, commit_list(&[&p1, &p3])).await.unwrap();
    assert_eq!(again.etag, object.etag);
    assert!(matches!(e.commit(&s, commit_list(&[&p1])).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.put_part(&s, 4, body(b"late")).await, Err(Error::NoSuchUpload)));
}

pub(super) async fn commit_verification_errors_leave_the_session_usable(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("obj"), ObjectMeta::default(), None).await.unwrap();
    let p1 = e.put_part(&s, 1, body(&[1; 5])).await.unwrap();
    let p2 = e.put_part(&s, 2, body(&[2; 50])).await.unwrap();
    let edited = |parts: &[&PartRecord], edit: &dyn Fn(&mut Vec<CommitPart>)| {
        let mut request = commit_list(parts);
        if let PartList::Listed(list) = &mut request.parts {
            edit(list);
        }
        request
    };
    let wrong = edited(&[&p1, &p2], &|l| l[1].etag = Some("\"00000000000000000000000000000000\"".into()));
    assert!(matches!(e.commit(&s, wrong).await, Err(Error::InvalidPart(2))));
    let missing = edited(&[&p1], &|l| l.push(CommitPart { number: 7, ..Default::default() }));
    assert!(matches!(e.commit(&s, missing).await, Err(Error::InvalidPart(7))));
    let backwards = commit_list(&[&p2, &p1]);
    assert!(matches!(e.commit(&s, backwards).await, Err(Error::InvalidPartOrder)));
    assert!(matches!(e.commit(&s, commit_list(&[&p1, &p2])).await, Err(Error::EntityTooSmall { number: 1, .. })));
    assert_eq!(
        e.open_session(&s.id, &s.target).await.unwrap().state,
        SessionState::Normal,
        "a refused commit reopens the session"
    );
    let p1 = e.put_part(&s, 1, body(&[1; 10])).await.unwrap();
    e.commit(&s, commit_list(&[&p1, &p2])).await.unwrap();
}

pub(super) async fn bad_bodies_store_nothing(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let mut wrong_md5 = body(b"payload");
    wrong_md5.expected.push(Expected { kind: DigestKind::Md5, value: vec![0; 16] });
    assert!(matches!(
        e.put_object(target("k"), ObjectMeta::default(), wrong_md5, None).await,
        Err(Error::ChecksumMismatch { kind: DigestKind::Md5, .. })
    ));
    let mut short = body(b"payload");
    short.expected_size = Some(100);
    assert!(matches!(
        e.put_object(target("k"), ObjectMeta::default(), short, None).await,
        Err(Error::IncompleteBody(_))
    ));
    let broken = PartInput {
        body: Box::pin(futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("reset")),
        ])),
        ..body(b"")
    };
    assert!(matches!(
        e.put_object(target("k"), ObjectMeta::default(), broken, None).await,
        Err(Error::IncompleteBody(_))
    ));
    let mut big = body(&[0; 100]);
    big.max_size = 10;
    assert!(matches!(
        e.put_object(target("k"), ObjectMeta::default(), big, None).await,
        Err(Error::EntityTooLarge { .. })
    ));
    // Bodies past the inline-hashing size go through the hashing thread (and, on local disk,
    // are written by it): a refused one leaves nothing either.
    let large: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut wrong_large = crate::body_in_chunks(&large, 100_000);
    wrong_large.expected.push(Expected { kind: DigestKind::Md5, value: vec![0; 16] });
    assert!(matches!(
        e.put_object(target("k"), ObjectMeta::default(), wrong_large, None).await,
        Err(Error::ChecksumMismatch { kind: DigestKind::Md5, .. })
    ));
    let cut: Vec<std::io::Result<Bytes>> = large
        .chunks(100_000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .chain([Err(std::io::Error::other("reset"))])
        .collect();
    let broken_large = PartInput { body: Box::pin(futures_util::stream::iter(cut)), ..body(b"") };
    assert!(matches!(
        e.put_object(target("k"), ObjectMeta::default(), broken_large, None).await,
        Err(Error::IncompleteBody(_))
    ));
    assert!(matches!(e.head_object("bkt", "k").await, Err(Error::NoSuchKey)));
    assert_eq!(f.blobs.count().await, 0, "no blob survives a refused body");
    assert!(!f.blobs.staged_anything().await, "nothing is staged outside the blob files either");
    // The same large body, announced rightly, is stored whole.
    let mut md5 = ferry_core::checksum::MultiHasher::new(Wanted::default());
    md5.update(&large);
    let mut right_large = crate::body_in_chunks(&large, 100_000);
    right_large.expected.push(Expected { kind: DigestKind::Md5, value: md5.finish().md5.to_vec() });
    e.put_object(target("k"), ObjectMeta::default(), right_large, None).await.unwrap();
    assert_eq!(read(e, "k", None).await, large);
}

pub(super) async fn checksums_composite_and_full_object(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let data: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 256) as u8).collect();
    for (algorithm, kind) in
        [(ChecksumAlgorithm::Crc32, ChecksumType::FullObject), (ChecksumAlgorithm::Sha256, ChecksumType::Composite)]
    {
        let s = e
            .create_session(target("sum"), ObjectMeta::default(), Some(ChecksumRequest { algorithm, kind }))
            .await
            .unwrap();
        let p1 = e.put_part(&s, 1, body(&data[..30_000])).await.unwrap();
        let p2 = e.put_part(&s, 2, body(&data[30_000..])).await.unwrap();
        let object = e.commit(&s, commit_list(&[&p1, &p2])).await.unwrap();
        let value = object.checksum.unwrap().value;
        match kind {
            ChecksumType::FullObject => {
                let mut h = checksum::MultiHasher::new(Wanted::default());
                h.update(&data);
                assert_eq!(
                    Some(value),
                    h.finish().base64(ChecksumAlgorithm::Crc32),
                    "full-object CRC combined from parts"
                );
            }
            ChecksumType::Composite => {
                assert_eq!(Some(value), checksum::composite_checksum(algorithm, &[p1.digests, p2.digests]));
            }
        }
    }
}

pub(super) async fn abort_expiry_and_garbage_collection(stack: &dyn Stack) {
    let f = fixture(
        stack,
        EngineConfig {
            session_lifetime: Duration::from_millis(300),
            gc_grace: Duration::ZERO,
            ..EngineConfig::default()
        },
    )
    .await;
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let aborted = e.create_session(target("x"), ObjectMeta::default(), None).await.unwrap();
    e.put_part(&aborted, 1, body(b"one")).await.unwrap();
    e.abort(&aborted).await.unwrap();
    assert!(matches!(e.abort(&aborted).await, Err(Error::NoSuchUpload)));
    assert!(matches!(e.list_parts(&aborted, None, 10).await, Err(Error::NoSuchUpload)));
    let expiring = e.create_session(target("y"), ObjectMeta::default(), None).await.unwrap();
    e.put_part(&expiring, 1, body(b"two")).await.unwrap();
    e.put_object(target("kept"), ObjectMeta::default(), body(b"kept"), None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let report = e.sweep().await.unwrap();
    assert_eq!(report.expired_sessions, 1);
    assert_eq!(report.deleted_blobs, 2, "the aborted and the expired part");
    assert_eq!(e.open_session(&expiring.id, &expiring.target).await.unwrap().state, SessionState::Expired);
    assert_eq!(f.blobs.count().await, 1, "only the published object's blob remains");
    // Overwrite and delete free their blobs too.
    e.put_object(target("kept"), ObjectMeta::default(), body(b"kept2"), None).await.unwrap();
    e.copy_object(&target("kept"), target("copy"), None).await.unwrap();
    e.delete_object("bkt", "kept").await.unwrap();
    e.sweep().await.unwrap();
    assert_eq!(f.blobs.count().await, 1, "the copy still references the shared blob");
    assert_eq!(read(e, "copy", None).await, b"kept2");
    e.delete_object("bkt", "copy").await.unwrap();
    e.sweep().await.unwrap();
    assert_eq!(f.blobs.count().await, 0);
}

pub(super) async fn listing_with_delimiter_and_pages(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    for key in ["a/1", "a/2", "b/1", "c", "d/x/y"] {
        e.put_object(target(key), ObjectMeta::default(), body(b"x"), None).await.unwrap();
    }
    let page = e.list_objects("bkt", "", "/", "", 2).await.unwrap();
    assert_eq!(page.common_prefixes, ["a/", "b/"]);
    assert!(page.truncated);
    let next = e.list_objects("bkt", "", "/", page.next_marker.as_deref().unwrap(), 10).await.unwrap();
    assert_eq!(next.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), ["c"]);
    assert_eq!(next.common_prefixes, ["d/"]);
    assert!(!next.truncated);
    let flat = e.list_objects("bkt", "a/", "", "", 10).await.unwrap();
    assert_eq!(flat.objects.len(), 2);
    assert!(matches!(e.delete_bucket("bkt").await, Err(Error::BucketNotEmpty)));
}

/// US3's rules as its front-end chooses them: every part held, numbered from 0 without a gap,
/// every part but the last exactly one block.
pub(super) fn us3_rules(block: u64) -> CommitRules {
    CommitRules::new(block, 10_000).contiguous_from(0).exact_part_size(block)
}

pub(super) async fn us3_rules_publish_every_part_from_zero_and_replay_a_repeated_finish(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let s = e.create_session(target("u"), ObjectMeta::default(), None).await.unwrap().numbered_from(0);
    let p0 = e.put_part(&s, 0, body(&[b'a'; 8])).await.unwrap();
    e.put_part(&s, 2, body(b"cc")).await.unwrap();
    let finish = |etags: Vec<String>| CommitRequest::held(etags, us3_rules(8));
    assert!(matches!(e.commit(&s, finish(vec![])).await, Err(Error::MissingPart(1))), "a gap");
    let p1 = e.put_part(&s, 1, body(&[b'b'; 7])).await.unwrap();
    assert!(matches!(
        e.commit(&s, finish(vec![])).await,
        Err(Error::PartSizeMismatch { number: 1, size: 7, expected: 8 })
    ));
    e.put_part(&s, 1, body(&[b'b'; 8])).await.unwrap();
    assert!(
        matches!(e.commit(&s, finish(vec!["\"0123\"".into()])).await, Err(Error::InvalidArgument(m)) if m.contains("0123"))
    );
    assert_eq!(e.list_parts(&s, None, 10).await.unwrap().parts.len(), 3, "refused commits keep the parts");
    // The SDK's loose list: empty items, a duplicate, quotes, upper case, any order.
    let loose = vec![String::new(), format!("\"{}\"", p0.etag().to_uppercase()), p0.etag(), " ".into()];
    let object = e.commit(&s, finish(loose)).await.unwrap();
    assert_eq!(object.size, 18);
    assert_eq!(read(e, "u", None).await, [&[b'a'; 8][..], &[b'b'; 8], b"cc"].concat());
    assert_ne!(p1.etag(), "", "part receipts keep the client's numbers");
    // A repeated finish (its first answer lost) answers with what was published, whatever list.
    let again = e.commit(&s, finish(vec!["ffff".into()])).await.unwrap();
    assert_eq!((again.key.as_str(), again.size, again.etag), ("u", 18, object.etag));
}

pub(super) async fn uploads_of_one_key_page_one_at_a_time_oldest_first(stack: &dyn Stack) {
    let f = fixture(stack, EngineConfig::default()).await;
    let e = &f.engine;
    e.create_bucket("bkt").await.unwrap();
    let mut ids = Vec::new();
    for key in ["a", "same", "same", "same", "same", "z"] {
        ids.push(e.create_session(target(key), ObjectMeta::default(), None).await.unwrap().id);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let mut marker = UploadMarker::Start;
    let mut paged = Vec::new();
    loop {
        let page = e.list_sessions("bkt", "", &marker, 1).await.unwrap();
        paged.extend(page.sessions.iter().map(|s| s.id.clone()));
        match page.next_marker() {
            Some(next) => marker = next,
            None => break,
        }
        assert!(paged.len() <= ids.len(), "paging repeats uploads");
    }
    assert_eq!(paged, ids, "each upload once, by key then age");
    let after_key = e.list_sessions("bkt", "", &UploadMarker::from_markers("same", ""), 10).await.unwrap();
    assert_eq!(after_key.sessions.iter().map(|s| s.id.clone()).collect::<Vec<_>>(), [ids[5].clone()]);
    assert!(!after_key.truncated && after_key.next_marker().is_none());
}
