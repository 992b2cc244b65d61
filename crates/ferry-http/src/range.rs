//! The HTTP `Range` header, as S3 and OSS read it.

use ferry_core::RangeSpec;

/// `bytes=a-b`, `bytes=a-`, `bytes=-n`. Anything else (including multiple ranges) is `None`, and
/// the whole object is served, as S3 and OSS do.
pub fn parse_range(value: &str) -> Option<RangeSpec> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    match (first.trim(), last.trim()) {
        ("", "") => None,
        ("", n) => n.parse().ok().map(RangeSpec::Suffix),
        (a, "") => a.parse().ok().map(|first| RangeSpec::From { first, last: None }),
        (a, b) => {
            let (first, last) = (a.parse().ok()?, b.parse().ok()?);
            (first <= last).then_some(RangeSpec::From { first, last: Some(last) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9"), Some(RangeSpec::From { first: 0, last: Some(9) }));
        assert_eq!(parse_range("bytes=5-"), Some(RangeSpec::From { first: 5, last: None }));
        assert_eq!(parse_range("bytes=-3"), Some(RangeSpec::Suffix(3)));
        assert_eq!(parse_range("bytes=0-1,4-5"), None);
        assert_eq!(parse_range("bytes=9-1"), None);
        assert_eq!(parse_range("items=0-1"), None);
    }
}
