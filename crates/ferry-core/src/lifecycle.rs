//! Bucket lifecycle rules as the engine keeps and applies them, whatever dialect set them: the
//! rule model, its validation, when a rule applies to an object or an upload, and the store
//! contract that keeps the rules. The front-ends parse and render the dialects' XML (S3's
//! `LifecycleConfiguration`, OSS's); [`crate::Engine::apply_lifecycle`] applies the rules.
//!
//! A "day" in a rule is [`crate::EngineConfig::lifecycle_day`] long (24 hours unless an operator
//! shortens it for tests). Dates are real calendar dates, midnight UTC.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::types::Millis;

/// Most rules one bucket may carry (S3's and OSS's limit).
pub const MAX_RULES: usize = 1000;
/// Longest rule ID, in bytes.
pub const MAX_ID_LEN: usize = 255;
const DAY_MILLIS: Millis = 24 * 3600 * 1000;

/// A bucket's lifecycle configuration: its rules, in the order they were given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleConfiguration {
    pub rules: Vec<LifecycleRule>,
}

/// One rule: which keys it covers and what it does to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleRule {
    /// Unique within the bucket; labels the rule's metrics.
    pub id: String,
    /// A disabled rule is kept (and read back) but never applied.
    pub enabled: bool,
    /// The rule covers keys starting with this ("" covers the whole bucket).
    pub prefix: String,
    /// When objects under the prefix are deleted.
    pub expiration: Option<Expiration>,
    /// When uploads in progress under the prefix are aborted.
    pub abort_uploads: Option<AbortUploads>,
}

/// When a rule deletes objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Expiration {
    /// This many days after the object was last modified (S3 and OSS `Days`).
    Days(u32),
    /// From this date on (midnight UTC), every object the rule covers (S3 `Date`).
    Date(Millis),
    /// Objects last modified before this date (midnight UTC) (OSS `CreatedBeforeDate`).
    CreatedBefore(Millis),
}

/// When a rule aborts uploads in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AbortUploads {
    /// This many days after the upload was initiated (S3 `DaysAfterInitiation`, OSS `Days`).
    Days(u32),
    /// Uploads initiated before this date (midnight UTC) (OSS `CreatedBeforeDate`).
    CreatedBefore(Millis),
}

impl LifecycleConfiguration {
    /// Check the rules as S3 and OSS do; every refusal is [`Error::InvalidArgument`] with a
    /// message that names the rule. Rules without an ID get a random one first.
    pub fn validate(&mut self) -> Result<()> {
        if self.rules.is_empty() {
            return Err(Error::InvalidArgument("a lifecycle configuration needs at least one rule".into()));
        }
        if self.rules.len() > MAX_RULES {
            return Err(Error::InvalidArgument(format!(
                "a lifecycle configuration has at most {MAX_RULES} rules; this one has {}",
                self.rules.len()
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for rule in &mut self.rules {
            if rule.id.is_empty() {
                rule.id = crate::types::random_id()[..20].to_string();
            }
            if rule.id.len() > MAX_ID_LEN {
                return Err(Error::InvalidArgument(format!(
                    "ID length should not exceed allowed limit of {MAX_ID_LEN} (rule ID is {} bytes)",
                    rule.id.len()
                )));
            }
            if !seen.insert(rule.id.clone()) {
                return Err(Error::InvalidArgument(format!(
                    "Rule ID must be unique. Found same ID for more than one rule: {:?}",
                    rule.id
                )));
            }
            rule.validate()?;
        }
        Ok(())
    }

    /// The rules that are applied.
    pub fn enabled(&self) -> impl Iterator<Item = &LifecycleRule> {
        self.rules.iter().filter(|r| r.enabled)
    }
}

impl LifecycleRule {
    fn validate(&self) -> Result<()> {
        let id = &self.id;
        if self.expiration.is_none() && self.abort_uploads.is_none() {
            return Err(Error::InvalidArgument(format!(
                "rule {id:?} has no action: give it an Expiration or an abort of incomplete multipart uploads"
            )));
        }
        match self.expiration {
            Some(Expiration::Days(0)) => {
                return Err(Error::InvalidArgument(format!(
                    "rule {id:?}: 'Days' for Expiration action must be a positive integer"
                )));
            }
            Some(Expiration::Date(at) | Expiration::CreatedBefore(at)) => check_midnight(id, at)?,
            _ => {}
        }
        match self.abort_uploads {
            Some(AbortUploads::Days(0)) => {
                return Err(Error::InvalidArgument(format!(
                    "rule {id:?}: the days after which incomplete multipart uploads are aborted must be a positive integer"
                )));
            }
            Some(AbortUploads::CreatedBefore(at)) => check_midnight(id, at)?,
            _ => {}
        }
        Ok(())
    }

    /// Whether the rule covers `key`.
    pub fn covers(&self, key: &str) -> bool {
        key.starts_with(&self.prefix)
    }

    /// Objects covered by the rule and last modified before the answer are due for deletion at
    /// `now`; `None` when none is (disabled, no expiration, or a date not reached yet).
    pub fn objects_due_before(&self, now: Millis, day: Millis) -> Option<Millis> {
        if !self.enabled {
            return None;
        }
        match self.expiration? {
            Expiration::Days(days) => Some(now.saturating_sub(Millis::from(days).saturating_mul(day))),
            // From the date on the rule covers every object, however new: any modification
            // time before the end of time.
            Expiration::Date(at) => (now >= at).then_some(Millis::MAX),
            Expiration::CreatedBefore(at) => Some(at),
        }
    }

    /// Uploads covered by the rule and initiated before the answer are due for abort at `now`.
    pub fn uploads_due_before(&self, now: Millis, day: Millis) -> Option<Millis> {
        if !self.enabled {
            return None;
        }
        match self.abort_uploads? {
            AbortUploads::Days(days) => Some(now.saturating_sub(Millis::from(days).saturating_mul(day))),
            AbortUploads::CreatedBefore(at) => Some(at),
        }
    }

    /// Whether an object at `key` last modified at `modified` is due for deletion at `now`.
    pub fn expires_object(&self, key: &str, modified: Millis, now: Millis, day: Millis) -> bool {
        self.covers(key) && self.objects_due_before(now, day).is_some_and(|before| modified < before)
    }

    /// Whether an upload of `key` initiated at `created` is due for abort at `now`.
    pub fn aborts_upload(&self, key: &str, created: Millis, now: Millis, day: Millis) -> bool {
        self.covers(key) && self.uploads_due_before(now, day).is_some_and(|before| created < before)
    }
}

fn check_midnight(id: &str, at: Millis) -> Result<()> {
    if at.rem_euclid(DAY_MILLIS) != 0 {
        return Err(Error::InvalidArgument(format!(
            "rule {id:?}: a lifecycle date must be at midnight GMT (e.g. 2030-01-01T00:00:00.000Z)"
        )));
    }
    Ok(())
}

/// What one application of the rules did, per rule.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleReport {
    pub rules: Vec<RuleOutcome>,
    /// Whether the round stopped at its budget with work left (the next round carries on).
    pub more: bool,
}

/// What one rule of one bucket did in one application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOutcome {
    pub bucket: String,
    pub rule: String,
    pub expired_objects: u64,
    pub aborted_uploads: u64,
}

impl LifecycleReport {
    /// Objects expired by every rule.
    pub fn expired_objects(&self) -> u64 {
        self.rules.iter().map(|r| r.expired_objects).sum()
    }

    /// Uploads aborted by every rule.
    pub fn aborted_uploads(&self) -> u64 {
        self.rules.iter().map(|r| r.aborted_uploads).sum()
    }
}

/// Where lifecycle rules are kept, and the queries that apply them. Part of every
/// [`crate::MetaStore`]; each call is atomic and durable when it returns `Ok`.
#[async_trait]
pub trait LifecycleStore: Send + Sync {
    /// Replace the bucket's rules. Errors with `NoSuchBucket` when the bucket is missing (checked
    /// in the same transaction, so rules never outlive their bucket).
    async fn put_lifecycle(&self, bucket: &str, config: &LifecycleConfiguration, now: Millis) -> Result<()>;
    /// The bucket's rules; `None` when it has none (or does not exist). Deleting a bucket deletes
    /// its rules.
    async fn get_lifecycle(&self, bucket: &str) -> Result<Option<LifecycleConfiguration>>;
    /// Remove the bucket's rules; `Ok(false)` when it had none.
    async fn delete_lifecycle(&self, bucket: &str) -> Result<bool>;
    /// Every bucket with rules, with its rules, by bucket name.
    async fn lifecycle_buckets(&self) -> Result<Vec<(String, LifecycleConfiguration)>>;
    /// Ids of `Normal` object sessions on `bucket` whose key starts with `prefix`, created before
    /// `created_before`, with id greater than `after`, ascending by id, at most `limit`.
    async fn uploads_created_before(
        &self,
        bucket: &str,
        prefix: &str,
        created_before: Millis,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>>;
    /// Keys of objects of `bucket` starting with `prefix`, last modified before
    /// `modified_before`, greater than `after`, in key order, at most `limit`.
    async fn objects_modified_before(
        &self,
        bucket: &str,
        prefix: &str,
        modified_before: Millis,
        after: &str,
        limit: usize,
    ) -> Result<Vec<String>>;
    /// Delete the object at (bucket, key) only if it was last modified before
    /// `modified_before` (an object written since the rule selected it stays), queueing its blobs
    /// as garbage at `now`, in one transaction serialized with the key's other writers.
    /// `Ok(true)` when this call deleted it.
    async fn expire_object(
        &self,
        bucket: &str,
        key: &str,
        modified_before: Millis,
        now: Millis,
        events: &[crate::events::NewEvent],
    ) -> Result<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Millis = DAY_MILLIS;

    fn rule(id: &str, prefix: &str) -> LifecycleRule {
        LifecycleRule {
            id: id.into(),
            enabled: true,
            prefix: prefix.into(),
            expiration: Some(Expiration::Days(1)),
            abort_uploads: None,
        }
    }

    fn refused(mut config: LifecycleConfiguration) -> String {
        match config.validate() {
            Err(Error::InvalidArgument(m)) => m,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn validation_refuses_what_s3_refuses() {
        assert!(refused(LifecycleConfiguration { rules: vec![] }).contains("at least one rule"));
        let many = (0..=MAX_RULES).map(|i| rule(&i.to_string(), "")).collect();
        assert!(refused(LifecycleConfiguration { rules: many }).contains("at most 1000"));
        let long = rule(&"x".repeat(256), "");
        assert!(refused(LifecycleConfiguration { rules: vec![long] }).contains("255"));
        let twice = vec![rule("a", "x/"), rule("a", "y/")];
        assert!(refused(LifecycleConfiguration { rules: twice }).contains("unique"));
        let mut zero = rule("z", "");
        zero.expiration = Some(Expiration::Days(0));
        assert!(refused(LifecycleConfiguration { rules: vec![zero] }).contains("positive"));
        let mut noon = rule("n", "");
        noon.expiration = Some(Expiration::Date(DAY * 20000 + 12 * 3600 * 1000));
        assert!(refused(LifecycleConfiguration { rules: vec![noon] }).contains("midnight"));
        let mut idle = rule("i", "");
        idle.expiration = None;
        assert!(refused(LifecycleConfiguration { rules: vec![idle] }).contains("no action"));
        let mut zero_abort = rule("u", "");
        zero_abort.abort_uploads = Some(AbortUploads::Days(0));
        assert!(refused(LifecycleConfiguration { rules: vec![zero_abort] }).contains("positive"));
    }

    #[test]
    fn validation_accepts_good_rules_and_names_anonymous_ones() {
        let mut at_midnight = rule("", "logs/");
        at_midnight.expiration = Some(Expiration::Date(DAY * 20000));
        at_midnight.abort_uploads = Some(AbortUploads::Days(7));
        let mut config = LifecycleConfiguration { rules: vec![at_midnight, rule(&"y".repeat(255), "")] };
        assert!(config.validate().is_ok());
        assert_eq!(config.rules[0].id.len(), 20);
    }

    #[test]
    fn days_count_from_the_last_modification() {
        let r = rule("r", "logs/");
        let now = 100 * DAY;
        assert!(r.expires_object("logs/a", now - DAY - 1, now, DAY));
        assert!(!r.expires_object("logs/a", now - DAY + 1, now, DAY));
        assert!(!r.expires_object("data/a", now - 10 * DAY, now, DAY), "outside the prefix");
        // A shortened day, as `--lifecycle-day 2s` gives.
        assert!(r.expires_object("logs/a", now - 2001, now, 2000));
        assert!(!r.expires_object("logs/a", now - 1999, now, 2000));
    }

    #[test]
    fn a_date_expires_everything_once_reached() {
        let mut r = rule("r", "");
        r.expiration = Some(Expiration::Date(50 * DAY));
        assert!(!r.expires_object("k", 0, 50 * DAY - 1, DAY), "before the date nothing expires");
        assert!(r.expires_object("k", 50 * DAY + 5, 50 * DAY + 10, DAY), "from the date on even new objects");
        r.expiration = Some(Expiration::CreatedBefore(50 * DAY));
        assert!(r.expires_object("k", 50 * DAY - 1, 60 * DAY, DAY));
        assert!(!r.expires_object("k", 50 * DAY, 60 * DAY, DAY));
    }

    #[test]
    fn uploads_abort_after_their_days_and_disabled_rules_do_nothing() {
        let mut r = rule("r", "tmp/");
        r.expiration = None;
        r.abort_uploads = Some(AbortUploads::Days(2));
        let now = 10 * DAY;
        assert!(r.aborts_upload("tmp/x", now - 2 * DAY - 1, now, DAY));
        assert!(!r.aborts_upload("tmp/x", now - DAY, now, DAY));
        assert!(!r.expires_object("tmp/x", 0, now, DAY), "no expiration action");
        r.enabled = false;
        assert!(!r.aborts_upload("tmp/x", 0, now, DAY));
        assert_eq!(r.uploads_due_before(now, DAY), None);
    }
}
