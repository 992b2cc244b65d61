//! Bucket lifecycle rules: kept per bucket, applied by the sweeper (under its lease, so by one
//! node at a time) in bounded batches. The rule model and its evaluation are in
//! [`crate::lifecycle`]; this module keeps the rules and acts on them.

use super::Engine;
use crate::error::Result;
use crate::lifecycle::{LifecycleConfiguration, LifecycleReport, RuleOutcome};
use crate::types::*;

/// How many keys or uploads one store query hands back while applying rules.
const PAGE: usize = 100;

impl Engine {
    /// Set the bucket's lifecycle rules, replacing any. The rules are validated first
    /// ([`LifecycleConfiguration::validate`], `InvalidArgument`); `NoSuchBucket` when the bucket
    /// is missing; `AccessDenied` for the table bucket, whose files only table commits may remove.
    pub async fn put_lifecycle(&self, bucket: &str, mut config: LifecycleConfiguration) -> Result<()> {
        self.refuse_table_bucket(bucket)?;
        config.validate()?;
        self.meta.put_lifecycle(bucket, &config, now_millis()).await
    }

    /// The bucket's lifecycle rules, `None` when it has none; `NoSuchBucket` when it is missing.
    pub async fn lifecycle(&self, bucket: &str) -> Result<Option<LifecycleConfiguration>> {
        self.bucket(bucket).await?;
        self.meta.get_lifecycle(bucket).await
    }

    /// Remove the bucket's lifecycle rules (fine when it has none); `NoSuchBucket` when it is
    /// missing.
    pub async fn delete_lifecycle(&self, bucket: &str) -> Result<()> {
        self.bucket(bucket).await?;
        self.meta.delete_lifecycle(bucket).await?;
        Ok(())
    }

    /// Delete the object at (bucket, key) because a lifecycle rule expired it: only if it was
    /// last modified before `modified_before`, so an object written after the rule selected it is
    /// kept. Its blobs go to the garbage queue as with any delete. `Ok(true)` when this call
    /// deleted it; racing callers on other nodes cannot both get `true`.
    ///
    /// This is the one place lifecycle expiration deletes objects; the bucket's
    /// `s3:LifecycleExpiration:Delete` events are queued in the delete's own transaction.
    pub async fn expire_object(&self, bucket: &str, key: &str, modified_before: Millis) -> Result<bool> {
        let now = now_millis();
        let change = super::events::Change::new(crate::events::EventKind::LifecycleExpiration, bucket, key, 0, "", now);
        let events = self.events_for(change).await?;
        self.freeing("a lifecycle expiration", || self.meta.expire_object(bucket, key, modified_before, now, &events))
            .await
    }

    /// Apply every bucket's enabled rules once: abort the uploads and delete the objects that are
    /// due, at most `budget` actions in all (each its own short transaction), so a sweep never
    /// holds the stores for long and uploads keep flowing. What is left over is due at the next
    /// call. Meant for the node holding the sweeper lease ([`super::run_sweeper`]).
    pub async fn apply_lifecycle(&self, budget: usize) -> Result<LifecycleReport> {
        let day = (self.config.lifecycle_day.as_millis() as Millis).max(1);
        let mut report = LifecycleReport::default();
        let mut left = budget;
        for (bucket, config) in self.meta.lifecycle_buckets().await? {
            for rule in config.enabled() {
                let now = now_millis();
                let mut outcome = RuleOutcome { bucket: bucket.clone(), rule: rule.id.clone(), ..Default::default() };
                if let Some(before) = rule.uploads_due_before(now, day) {
                    let mut after = String::new();
                    while left > 0 {
                        let ids = self
                            .meta
                            .uploads_created_before(&bucket, &rule.prefix, before, &after, PAGE.min(left))
                            .await?;
                        let Some(last) = ids.last() else { break };
                        after = last.clone();
                        for id in &ids {
                            left -= 1;
                            if self.abort_for_lifecycle(id).await? {
                                outcome.aborted_uploads += 1;
                            }
                            tokio::task::yield_now().await;
                        }
                    }
                }
                if let Some(before) = rule.objects_due_before(now, day) {
                    let mut after = String::new();
                    while left > 0 {
                        let keys = self
                            .meta
                            .objects_modified_before(&bucket, &rule.prefix, before, &after, PAGE.min(left))
                            .await?;
                        let Some(last) = keys.last() else { break };
                        after = last.clone();
                        for key in &keys {
                            left -= 1;
                            if self.expire_object(&bucket, key, before).await? {
                                outcome.expired_objects += 1;
                            }
                            tokio::task::yield_now().await;
                        }
                    }
                }
                if outcome.aborted_uploads + outcome.expired_objects > 0 {
                    report.rules.push(outcome);
                }
                if left == 0 {
                    report.more = true;
                    return Ok(report);
                }
            }
        }
        Ok(report)
    }

    /// Abort upload `id` for a lifecycle rule, as a client's abort does (parts to garbage).
    /// `Ok(false)` when it was no longer `Normal` (completed, aborted or expired meanwhile).
    async fn abort_for_lifecycle(&self, id: &str) -> Result<bool> {
        self.freeing("a lifecycle abort", || {
            self.meta.transition(id, &[SessionState::Normal], SessionState::Aborted, self.session_clock())
        })
        .await
    }
}
