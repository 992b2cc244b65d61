//! Naming rules the object dialects share. S3 and OSS both follow S3's bucket naming rules, so
//! they live here once; the engine itself only refuses names that could harm its storage.

use ferry_core::Error;

/// S3's bucket naming rules, which every object dialect ferry speaks accepts: 3 to 63 of
/// lower-case letters, digits, `-` and `.`, starting and ending with a letter or digit, no `..`,
/// and not shaped like an IPv4 address. Errors with the engine's `InvalidBucketName`, which each
/// front-end renders in its own wire format.
pub fn check_bucket_name(name: &str) -> Result<(), Error> {
    let ok_len = (3..=63).contains(&name.len());
    let ok_chars = name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let ok_ends = name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().last().is_some_and(|b| b.is_ascii_alphanumeric());
    let ok_dots = !name.contains("..");
    // S3 refuses names shaped like an IPv4 address (`192.168.5.4`): a virtual-host request
    // for one could not be told from a request to that address.
    let parts: Vec<&str> = name.split('.').collect();
    let ip_shaped = parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if ok_len && ok_chars && ok_ends && ok_dots && !ip_shaped {
        Ok(())
    } else {
        Err(Error::InvalidBucketName(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for good in ["abc", "my-bucket.2", "a1b", "192.168.1.1.x", "1.2.3", "1.2.3.4.5"] {
            assert!(check_bucket_name(good).is_ok(), "{good}");
        }
        for bad in ["ab", "Upper", "-x-", "a..b", "under_score", &"x".repeat(64), "192.168.1.1", "10.0.0.255"] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }
}
