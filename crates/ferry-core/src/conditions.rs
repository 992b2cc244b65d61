//! Conditional writes: what the object at a key must look like for a write to publish there
//! ([`WriteCondition`], checked by the metadata store inside the publishing transaction), and what
//! a copy's source must look like for the copy to go ahead ([`SourceConditions`]).

use crate::error::{Error, PreconditionFailure, Result};
use crate::types::{Millis, ObjectRecord};

/// A condition on the object a write would replace. The metadata store checks it in the same
/// transaction that publishes, under the same lock, so of several writers racing on one key with
/// [`WriteCondition::IfNoneMatchAny`] exactly one publishes and the others are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteCondition {
    /// Publish only if no object exists at the key (S3 `If-None-Match: *`, OSS
    /// `x-oss-forbid-overwrite: true`).
    IfNoneMatchAny,
    /// Publish only if an object exists at the key and its ETag is one of this comma-separated
    /// list (quotes and case ignored; `*` matches any existing object) — S3 `If-Match`.
    IfMatch(String),
}

impl WriteCondition {
    /// Check the condition against the ETag of the object now at the key (`None`: no object).
    ///
    /// Errors with `PreconditionFailed(ObjectExists)` when `IfNoneMatchAny` finds an object,
    /// `PreconditionFailed(EtagMismatch)` when `IfMatch` finds another ETag, and `NoSuchKey`
    /// when `IfMatch` finds no object (as S3 answers).
    pub fn check(&self, current: Option<&str>) -> Result<()> {
        match (self, current) {
            (WriteCondition::IfNoneMatchAny, None) => Ok(()),
            (WriteCondition::IfNoneMatchAny, Some(_)) => {
                Err(Error::PreconditionFailed(PreconditionFailure::ObjectExists))
            }
            (WriteCondition::IfMatch(_), None) => Err(Error::NoSuchKey),
            (WriteCondition::IfMatch(list), Some(etag)) if etag_in_list(list, etag) => Ok(()),
            (WriteCondition::IfMatch(_), Some(_)) => Err(Error::PreconditionFailed(PreconditionFailure::EtagMismatch)),
        }
    }
}

/// Conditions on a copy's source object (S3 `x-amz-copy-source-if-*`, OSS
/// `x-oss-copy-source-if-*`). Dates are compared at whole seconds, as HTTP dates carry them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceConditions {
    /// Copy only if the source's ETag is in this list (`*` matches any).
    pub if_match: Option<String>,
    /// Copy only if the source's ETag is not in this list.
    pub if_none_match: Option<String>,
    /// Copy only if the source was modified after this time.
    pub if_modified_since: Option<Millis>,
    /// Copy only if the source was not modified after this time.
    pub if_unmodified_since: Option<Millis>,
}

impl SourceConditions {
    /// Whether any condition is set.
    pub fn is_empty(&self) -> bool {
        *self == SourceConditions::default()
    }

    /// Evaluate the conditions against the source, with S3's precedence: a matching
    /// `if_match` makes `if_unmodified_since` irrelevant, and a non-matching `if_none_match`
    /// makes `if_modified_since` irrelevant. Errors with `PreconditionFailed(Source)`.
    pub fn check(&self, source: &ObjectRecord) -> Result<()> {
        let failed = || Err(Error::PreconditionFailed(PreconditionFailure::Source));
        let modified = source.modified.div_euclid(1000);
        let secs = |t: Millis| t.div_euclid(1000);
        match &self.if_match {
            Some(list) if !etag_in_list(list, &source.etag) => return failed(),
            Some(_) => {}
            None => {
                if self.if_unmodified_since.is_some_and(|t| modified > secs(t)) {
                    return failed();
                }
            }
        }
        match &self.if_none_match {
            Some(list) if etag_in_list(list, &source.etag) => return failed(),
            Some(_) => {}
            None => {
                if self.if_modified_since.is_some_and(|t| modified <= secs(t)) {
                    return failed();
                }
            }
        }
        Ok(())
    }
}

/// Whether `etag` (stored form: no quotes) is in a header's comma-separated ETag list. Quotes,
/// a weak `W/` prefix and case are ignored; `*` matches any ETag.
pub fn etag_in_list(list: &str, etag: &str) -> bool {
    list.split(',').map(str::trim).any(|item| {
        let item = item.strip_prefix("W/").unwrap_or(item).trim_matches('"');
        item == "*" || item.eq_ignore_ascii_case(etag.trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{ObjectMeta, WholeCrc};

    fn object(etag: &str, modified: Millis) -> ObjectRecord {
        ObjectRecord {
            bucket: "b".into(),
            key: "k".into(),
            size: 0,
            etag: etag.into(),
            modified,
            meta: ObjectMeta::default(),
            checksum: None,
            crc: WholeCrc::default(),
            manifest: Vec::new(),
        }
    }

    fn failed(r: Result<()>, why: PreconditionFailure) -> bool {
        matches!(r, Err(Error::PreconditionFailed(w)) if w == why)
    }

    #[test]
    fn write_conditions() {
        let none = WriteCondition::IfNoneMatchAny;
        assert!(none.check(None).is_ok());
        assert!(failed(none.check(Some("abc")), PreconditionFailure::ObjectExists));
        let matching = WriteCondition::IfMatch("\"ABC\"".into());
        assert!(matching.check(Some("abc")).is_ok(), "quotes and case are ignored");
        assert!(failed(matching.check(Some("abd")), PreconditionFailure::EtagMismatch));
        assert!(matches!(matching.check(None), Err(Error::NoSuchKey)), "S3 answers NoSuchKey for a missing key");
        assert!(WriteCondition::IfMatch("\"x\", \"abc-2\"".into()).check(Some("abc-2")).is_ok(), "lists");
        assert!(WriteCondition::IfMatch("*".into()).check(Some("q")).is_ok());
    }

    #[test]
    fn source_conditions_follow_s3_precedence() {
        let o = object("e1", 10_500); // modified at second 10
        let at = |s: i64| Some(s * 1000);
        let c = |m: Option<&str>, n: Option<&str>, ms: Option<Millis>, us: Option<Millis>| SourceConditions {
            if_match: m.map(Into::into),
            if_none_match: n.map(Into::into),
            if_modified_since: ms,
            if_unmodified_since: us,
        };
        assert!(c(None, None, None, None).check(&o).is_ok());
        assert!(c(Some("\"e1\""), None, None, None).check(&o).is_ok());
        assert!(c(Some("e2"), None, None, None).check(&o).is_err());
        assert!(c(None, Some("e1"), None, None).check(&o).is_err());
        assert!(c(None, Some("e2"), None, None).check(&o).is_ok());
        assert!(c(None, None, at(9), None).check(&o).is_ok(), "modified after second 9");
        assert!(c(None, None, at(10), None).check(&o).is_err(), "not modified after second 10");
        assert!(c(None, None, None, at(10)).check(&o).is_ok());
        assert!(c(None, None, None, at(9)).check(&o).is_err());
        // S3: if-match true + if-unmodified-since false → the copy goes ahead.
        assert!(c(Some("e1"), None, None, at(9)).check(&o).is_ok());
        // S3: if-none-match evaluating false (the ETag matches) + if-modified-since true → 412.
        assert!(c(None, Some("e1"), at(9), None).check(&o).is_err());
        // A non-matching if-none-match decides alone: an old if-modified-since does not fail it.
        assert!(c(None, Some("e2"), at(10), None).check(&o).is_ok());
    }
}
