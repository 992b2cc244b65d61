//! Authorization: what a signed request may do, decided in one place for every dialect.
//!
//! A key holds [`Grant`]s, close to Garage's per-bucket permissions: a bucket (or `*`), an
//! optional key prefix, and a set of [`Action`]s; tables get a grant on a project. A front-end
//! authenticates a request into a [`Principal`], maps its endpoint to an [`Action`] on a
//! [`Resource`] and asks [`Principal::authorize`] before any handler touches data. Temporary
//! credentials carry a [`SessionPolicy`] that can only narrow their parent key's grants.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;

/// What a request does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Read objects (GET, HEAD, ranges, copies from) or table data.
    Read,
    /// Write objects: put, upload parts, complete, abort and list one's own uploads; table uploads.
    Write,
    /// List the keys of a bucket (under a prefix).
    List,
    /// Delete objects.
    Delete,
    /// Bucket create/delete and bucket settings; implies every other action on the bucket.
    Admin,
}

impl Action {
    /// Every action, in display order.
    pub const ALL: [Action; 5] = [Action::Read, Action::Write, Action::List, Action::Delete, Action::Admin];

    /// The word used in grants (`read`, `write`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Write => "write",
            Action::List => "list",
            Action::Delete => "delete",
            Action::Admin => "admin",
        }
    }

    fn parse(word: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == word)
    }

    /// The AWS policy action names this action answers to in a session policy.
    fn aws_names(self) -> &'static [&'static str] {
        match self {
            Action::Read => &["s3:GetObject"],
            Action::Write => &[
                "s3:PutObject",
                "s3:AbortMultipartUpload",
                "s3:ListMultipartUploadParts",
                "s3:ListBucketMultipartUploads",
            ],
            Action::List => &["s3:ListBucket"],
            Action::Delete => &["s3:DeleteObject"],
            Action::Admin => &["s3:CreateBucket", "s3:DeleteBucket"],
        }
    }
}

/// What a request acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    /// One object (or the key of an upload session).
    Object { bucket: &'a str, key: &'a str },
    /// A bucket as a whole; for [`Action::List`], the keys under `prefix`.
    Bucket { bucket: &'a str, prefix: &'a str },
    /// A table project (Tunnel dialect).
    Project(&'a str),
}

/// One permission: actions on a bucket (or every bucket) under a key prefix, or on a project.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Grant {
    Bucket { bucket: String, prefix: String, actions: BTreeSet<Action> },
    Project { project: String, actions: BTreeSet<Action> },
}

/// Why a grant could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid grant {text:?}: {reason} (use BUCKET[/PREFIX]:read,write,list,delete,admin or project:NAME:read,write)"
)]
pub struct GrantError {
    text: String,
    reason: String,
}

impl Grant {
    /// Parse `BUCKET[/PREFIX]:ACTIONS` (`BUCKET` may be `*`) or `project:NAME:ACTIONS`, with
    /// ACTIONS a comma-separated list of `read`, `write`, `list`, `delete`, `admin`.
    pub fn parse(text: &str) -> Result<Grant, GrantError> {
        let fail = |reason: &str| GrantError { text: text.to_string(), reason: reason.to_string() };
        let (target, words) = text.rsplit_once(':').ok_or_else(|| fail("no ':' before the actions"))?;
        let mut actions = BTreeSet::new();
        for word in words.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            actions.insert(Action::parse(word).ok_or_else(|| fail(&format!("unknown action {word:?}")))?);
        }
        if actions.is_empty() {
            return Err(fail("no actions"));
        }
        if let Some(project) = target.strip_prefix("project:") {
            if project.is_empty() || project.contains('/') {
                return Err(fail("a project name is required"));
            }
            if actions.iter().any(|a| !matches!(a, Action::Read | Action::Write)) {
                return Err(fail("projects take only read and write"));
            }
            return Ok(Grant::Project { project: project.to_string(), actions });
        }
        let (bucket, prefix) = target.split_once('/').unwrap_or((target, ""));
        if bucket.is_empty() || bucket.contains(':') {
            return Err(fail("a bucket name (or *) is required"));
        }
        Ok(Grant::Bucket { bucket: bucket.to_string(), prefix: prefix.to_string(), actions })
    }

    fn actions(&self) -> &BTreeSet<Action> {
        match self {
            Grant::Bucket { actions, .. } | Grant::Project { actions, .. } => actions,
        }
    }

    /// The same target as `other` (the actions may differ).
    pub fn same_target(&self, other: &Grant) -> bool {
        match (self, other) {
            (Grant::Bucket { bucket: a, prefix: p, .. }, Grant::Bucket { bucket: b, prefix: q, .. }) => {
                a == b && p == q
            }
            (Grant::Project { project: a, .. }, Grant::Project { project: b, .. }) => a == b,
            _ => false,
        }
    }

    /// This grant with `other`'s actions added (same target) or removed.
    pub fn with_actions(&self, add: &BTreeSet<Action>, remove: &BTreeSet<Action>) -> Grant {
        let mut actions: BTreeSet<Action> = self.actions().union(add).copied().collect();
        actions.retain(|a| !remove.contains(a));
        match self {
            Grant::Bucket { bucket, prefix, .. } => {
                Grant::Bucket { bucket: bucket.clone(), prefix: prefix.clone(), actions }
            }
            Grant::Project { project, .. } => Grant::Project { project: project.clone(), actions },
        }
    }

    /// Whether the grant lets `action` on `resource`.
    pub fn allows(&self, action: Action, resource: &Resource<'_>) -> bool {
        match (self, resource) {
            (Grant::Project { project, actions }, Resource::Project(p)) => project == p && actions.contains(&action),
            (Grant::Bucket { bucket, prefix, actions }, Resource::Object { bucket: b, key }) => {
                (bucket == "*" || bucket == b)
                    && key.starts_with(prefix.as_str())
                    && (actions.contains(&action) || actions.contains(&Action::Admin))
            }
            (Grant::Bucket { bucket, prefix, actions }, Resource::Bucket { bucket: b, prefix: p }) => {
                let in_bucket = bucket == "*" || bucket == b;
                let whole = actions.contains(&Action::Admin) && prefix.is_empty();
                let scoped = match action {
                    // Listing under the grant's prefix (or narrower) shows nothing else.
                    Action::List => actions.contains(&Action::List) && p.starts_with(prefix.as_str()),
                    Action::Admin => false,
                    // Bucket-wide reads and writes are settings: they need the whole bucket.
                    _ => prefix.is_empty() && actions.contains(&action),
                };
                in_bucket && (whole || scoped)
            }
            _ => false,
        }
    }

    /// Whether the grant names `bucket` at all (ListBuckets and HeadBucket show it).
    pub fn sees_bucket(&self, bucket: &str) -> bool {
        matches!(self, Grant::Bucket { bucket: b, .. } if b == "*" || b == bucket)
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<&str> = self.actions().iter().map(|a| a.as_str()).collect();
        match self {
            Grant::Bucket { bucket, prefix, .. } if prefix.is_empty() => write!(f, "{bucket}:{}", words.join(",")),
            Grant::Bucket { bucket, prefix, .. } => write!(f, "{bucket}/{prefix}:{}", words.join(",")),
            Grant::Project { project, .. } => write!(f, "project:{project}:{}", words.join(",")),
        }
    }
}

/// An AWS session policy, the subset ferry understands: statements with `Effect` `Allow` or
/// `Deny`, `Action` patterns (`s3:GetObject`, `s3:*`, ...) and `Resource` patterns
/// (`arn:aws:s3:::bucket/prefix*`). It only narrows: a request must be allowed by the parent
/// key's grants, allowed by some `Allow` statement, and matched by no `Deny` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionPolicy {
    statements: Vec<Statement>,
    text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Statements {
    One(RawStatement),
    Many(Vec<RawStatement>),
}

#[derive(Deserialize)]
struct RawStatement {
    #[serde(rename = "Effect")]
    effect: String,
    #[serde(rename = "Action")]
    action: Option<OneOrMany>,
    #[serde(rename = "Resource")]
    resource: Option<OneOrMany>,
    #[serde(rename = "Condition")]
    condition: Option<serde_json::Value>,
    #[serde(rename = "NotAction")]
    not_action: Option<serde_json::Value>,
    #[serde(rename = "NotResource")]
    not_resource: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawPolicy {
    #[serde(rename = "Statement")]
    statement: Statements,
}

impl SessionPolicy {
    /// Parse a policy document; anything outside the supported subset is refused with a
    /// message naming it, rather than ignored (ignoring a `Condition` would widen access).
    pub fn parse(text: &str) -> Result<SessionPolicy, String> {
        let raw: RawPolicy = serde_json::from_str(text).map_err(|e| format!("the policy is not valid JSON: {e}"))?;
        let raws = match raw.statement {
            Statements::One(s) => vec![s],
            Statements::Many(v) => v,
        };
        let mut statements = Vec::new();
        for s in raws {
            if s.condition.is_some() || s.not_action.is_some() || s.not_resource.is_some() {
                return Err("Condition, NotAction and NotResource are not supported in session policies".into());
            }
            let allow = match s.effect.as_str() {
                "Allow" => true,
                "Deny" => false,
                other => return Err(format!("Effect must be Allow or Deny, not {other:?}")),
            };
            let actions = s.action.map(OneOrMany::into_vec).ok_or("every statement needs an Action")?;
            let resources = s.resource.map(OneOrMany::into_vec).ok_or("every statement needs a Resource")?;
            statements.push(Statement { allow, actions, resources });
        }
        Ok(SessionPolicy { statements, text: text.to_string() })
    }

    /// The document as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether the policy lets `action` on `resource` (the parent's grants are checked apart).
    pub fn allows(&self, action: Action, resource: &Resource<'_>) -> bool {
        let arns: Vec<String> = match resource {
            Resource::Object { bucket, key } => vec![format!("arn:aws:s3:::{bucket}/{key}")],
            // ListBucket names the bucket; a prefix-limited resource also admits listing under it.
            Resource::Bucket { bucket, prefix } => {
                vec![format!("arn:aws:s3:::{bucket}"), format!("arn:aws:s3:::{bucket}/{prefix}")]
            }
            // Session policies speak of S3 only: tables stay out of reach of a narrowed session.
            Resource::Project(_) => return false,
        };
        let matches = |s: &Statement| {
            s.actions
                .iter()
                .any(|p| action.aws_names().iter().any(|n| glob(&p.to_ascii_lowercase(), &n.to_ascii_lowercase())))
                && s.resources.iter().any(|p| {
                    arns.iter().enumerate().any(|(i, arn)| {
                        // The second bucket ARN (with the listed prefix) only counts when the
                        // pattern is a prefix pattern, so `bucket/a*` does not admit listing `b`.
                        if i == 1 && !p.ends_with('*') {
                            return false;
                        }
                        glob(p, arn)
                    })
                })
        };
        let allowed = self.statements.iter().any(|s| s.allow && matches(s));
        allowed && !self.statements.iter().any(|s| !s.allow && matches(s))
    }
}

/// `*` matches any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Who signed a request, and what that lets them do.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The access key id the request was signed with.
    pub access_key_id: String,
    /// The stored key the request acts for: itself, or the parent of temporary credentials.
    /// `None` for the admin key.
    pub key: Option<String>,
    /// The admin key (from the environment or `credentials.json`): everything is allowed.
    pub admin: bool,
    /// The key's grants.
    pub grants: Vec<Grant>,
    /// The session policy of temporary credentials.
    pub policy: Option<SessionPolicy>,
    /// Temporary credentials (STS, upload tokens); these may not mint further credentials.
    pub temporary: bool,
    /// The largest upload allowed, in bytes (set for upload tokens); `None`: no limit of its own.
    pub upload_limit: Option<u64>,
}

/// A request the caller's grants do not cover.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

impl Principal {
    /// A long-lived, non-admin key named `id` with `grants` (in their text form), for tests.
    #[cfg(test)]
    #[allow(clippy::unwrap_used)]
    pub(crate) fn test_key(id: &str, grants: &[&str]) -> Principal {
        Principal {
            access_key_id: id.into(),
            key: Some(id.into()),
            admin: false,
            grants: grants.iter().map(|g| Grant::parse(g).unwrap()).collect(),
            policy: None,
            temporary: false,
            upload_limit: None,
        }
    }

    /// The admin key's principal.
    pub fn admin(access_key_id: &str) -> Principal {
        Principal {
            access_key_id: access_key_id.to_string(),
            key: None,
            admin: true,
            grants: Vec::new(),
            policy: None,
            temporary: false,
            upload_limit: None,
        }
    }

    /// Whether an upload ending at byte `end` (its declared length, or offset plus body) stays
    /// within the principal's upload limit; the error names the limit.
    pub fn check_upload_size(&self, end: u64) -> Result<(), Denied> {
        match self.upload_limit {
            Some(limit) if end > limit => {
                Err(Denied(format!("the upload would be {end} bytes; the upload token allows at most {limit}")))
            }
            _ => Ok(()),
        }
    }

    /// Whether `action` on `resource` is allowed.
    pub fn allows(&self, action: Action, resource: &Resource<'_>) -> bool {
        if let Some(policy) = &self.policy
            && !policy.allows(action, resource)
        {
            return false;
        }
        self.admin || self.grants.iter().any(|g| g.allows(action, resource))
    }

    /// [`Principal::allows`], as the error a front-end turns into its access-denied answer.
    pub fn authorize(&self, action: Action, resource: &Resource<'_>) -> Result<(), Denied> {
        if self.allows(action, resource) {
            return Ok(());
        }
        let target = match resource {
            Resource::Object { bucket, key } => format!("{bucket}/{key}"),
            Resource::Bucket { bucket, prefix: "" } => bucket.to_string(),
            Resource::Bucket { bucket, prefix } => format!("{bucket}/{prefix}"),
            Resource::Project(p) => format!("project {p}"),
        };
        Err(Denied(format!("Access Denied: the key {} may not {} {target}", self.access_key_id, action.as_str())))
    }

    /// Whether ListBuckets shows `bucket` and bucket-level reads (HeadBucket, location) answer.
    pub fn sees_bucket(&self, bucket: &str) -> bool {
        if let Some(policy) = &self.policy {
            let any = Action::ALL.iter().any(|a| {
                policy.allows(*a, &Resource::Bucket { bucket, prefix: "" })
                    || policy.allows(*a, &Resource::Object { bucket, key: "" })
            });
            // A policy limited to a prefix names it as `bucket/prefix*`, which the object
            // check with an empty key does not match; look at the patterns' bucket part.
            if !any && !policy.statements.iter().any(|s| s.allow && s.resources.iter().any(|r| names_bucket(r, bucket)))
            {
                return false;
            }
        }
        self.admin || self.grants.iter().any(|g| g.sees_bucket(bucket))
    }

    /// [`Principal::sees_bucket`] as an authorization answer.
    pub fn authorize_bucket(&self, bucket: &str) -> Result<(), Denied> {
        if self.sees_bucket(bucket) {
            return Ok(());
        }
        Err(Denied(format!("Access Denied: the key {} has no grant on {bucket}", self.access_key_id)))
    }
}

/// Whether a policy resource pattern is about `bucket` (`arn:aws:s3:::bucket`, `.../bucket/...`).
fn names_bucket(pattern: &str, bucket: &str) -> bool {
    let Some(rest) = pattern.strip_prefix("arn:aws:s3:::") else {
        return pattern == "*";
    };
    let head = rest.split('/').next().unwrap_or("");
    glob(head, bucket)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(grants: &[&str]) -> Principal {
        Principal::test_key("K", grants)
    }

    #[test]
    fn grants_parse_and_print_back() {
        for text in ["photos:read,list", "*:admin", "builds/ci/:write", "project:sales:read,write"] {
            assert_eq!(Grant::parse(text).unwrap().to_string(), text);
        }
        assert!(Grant::parse("photos").is_err());
        assert!(Grant::parse("photos:fly").is_err());
        assert!(Grant::parse("project:sales:delete").is_err());
        assert!(Grant::parse(":read").is_err());
    }

    #[test]
    fn prefix_grants_cover_only_their_prefix() {
        let p = key(&["builds/ci/:write,read", "logs:list"]);
        assert!(p.allows(Action::Write, &Resource::Object { bucket: "builds", key: "ci/a.tar" }));
        assert!(!p.allows(Action::Write, &Resource::Object { bucket: "builds", key: "release/a.tar" }));
        assert!(!p.allows(Action::Delete, &Resource::Object { bucket: "builds", key: "ci/a.tar" }));
        assert!(!p.allows(Action::Write, &Resource::Object { bucket: "other", key: "ci/a.tar" }));
        assert!(p.allows(Action::List, &Resource::Bucket { bucket: "logs", prefix: "" }));
        assert!(!p.allows(Action::List, &Resource::Bucket { bucket: "builds", prefix: "ci/" }));
        assert!(!p.allows(Action::Admin, &Resource::Bucket { bucket: "builds", prefix: "" }));
        assert!(p.sees_bucket("builds") && p.sees_bucket("logs") && !p.sees_bucket("other"));
    }

    #[test]
    fn admin_on_a_bucket_implies_everything_there() {
        let p = key(&["mine:admin"]);
        for a in Action::ALL {
            assert!(p.allows(a, &Resource::Object { bucket: "mine", key: "x" }));
            assert!(p.allows(a, &Resource::Bucket { bucket: "mine", prefix: "" }));
        }
        assert!(!p.allows(Action::Read, &Resource::Object { bucket: "yours", key: "x" }));
        assert!(!p.allows(Action::Read, &Resource::Project("mine")));
    }

    #[test]
    fn session_policy_only_narrows() {
        let mut p = key(&["app:read,write,list,delete"]);
        p.policy = Some(
            SessionPolicy::parse(
                r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":["s3:PutObject","s3:GetObject"],"Resource":"arn:aws:s3:::app/users/42/*"},
                {"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::other/*"},
                {"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::app/users/42/secret*"}]}"#,
            )
            .unwrap(),
        );
        assert!(p.allows(Action::Write, &Resource::Object { bucket: "app", key: "users/42/a" }));
        assert!(p.allows(Action::Read, &Resource::Object { bucket: "app", key: "users/42/a" }));
        assert!(!p.allows(Action::Read, &Resource::Object { bucket: "app", key: "users/42/secret.txt" }));
        assert!(!p.allows(Action::Write, &Resource::Object { bucket: "app", key: "users/43/a" }));
        assert!(!p.allows(Action::Delete, &Resource::Object { bucket: "app", key: "users/42/a" }));
        // The policy allows `other`, the key does not.
        assert!(!p.allows(Action::Write, &Resource::Object { bucket: "other", key: "a" }));
        assert!(p.sees_bucket("app") && !p.sees_bucket("other"));
        assert!(
            SessionPolicy::parse(r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{}}}"#)
                .is_err()
        );
    }

    #[test]
    fn globs() {
        assert!(glob("arn:aws:s3:::b/p*", "arn:aws:s3:::b/p/x"));
        assert!(!glob("arn:aws:s3:::b/p*", "arn:aws:s3:::b/q"));
        assert!(glob("s3:*", "s3:getobject"));
        assert!(glob("*", ""));
    }
}
