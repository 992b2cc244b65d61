//! Query strings, decoded once.

/// Decoded query parameters in the order sent. Valueless keys (`?uploads`) have value "".
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        Query(
            raw.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    /// The sub-resources HMAC-SHA1 signatures (S3 SigV2, OSS V1) append to the signed resource:
    /// the parameters named in `signed`, sorted, as `?a&b=v` with values unencoded.
    pub fn signed_subresources(&self, signed: &[&str]) -> String {
        let mut subs: Vec<(&str, &str)> = self
            .0
            .iter()
            .filter(|(k, _)| signed.contains(&k.as_str()))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        subs.sort();
        let mut out = String::new();
        for (i, (k, v)) in subs.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            if !v.is_empty() {
                out.push('=');
                out.push_str(v);
            }
        }
        out
    }
}
