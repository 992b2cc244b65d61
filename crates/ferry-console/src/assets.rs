//! The console's page, script and style sheet, embedded at build time (no network, no build
//! step). Served with a strong ETag (a hash of the bytes) and `Cache-Control: no-cache`, so a
//! browser revalidates with one cheap 304 and never runs a stale script after an upgrade.

use std::sync::OnceLock;

use ferry_http::Response;
use http::StatusCode;
use sha2::{Digest, Sha256};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        bytes: include_bytes!("../assets/index.html"),
    },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", bytes: include_bytes!("../assets/app.js") },
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("../assets/app.css") },
];

/// The page's Content-Security-Policy: only its own script and style, no inline code, no
/// framing by other sites.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

fn etags() -> &'static Vec<String> {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS
        .get_or_init(|| ASSETS.iter().map(|a| format!("\"{}\"", hex::encode(&Sha256::digest(a.bytes)[..12]))).collect())
}

/// The asset `name` (`index.html`, `app.js`, `app.css`): 200 with the bytes, or 304 when
/// `if_none_match` names the current ETag.
pub fn serve(name: &str, if_none_match: Option<&str>, head: bool) -> Response {
    let Some(at) = ASSETS.iter().position(|a| a.name == name) else {
        return ferry_http::response::status_only(StatusCode::NOT_FOUND);
    };
    let (asset, etag) = (&ASSETS[at], &etags()[at]);
    let fresh = if_none_match.is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if fresh {
        ferry_http::response::status_only(StatusCode::NOT_MODIFIED)
    } else if head {
        ferry_http::response::status_only(StatusCode::OK)
    } else {
        Response::new(ferry_http::full(asset.bytes))
    };
    ferry_http::response::set(&mut r, "content-type", asset.content_type);
    ferry_http::response::set(&mut r, "etag", etag);
    ferry_http::response::set(&mut r, "cache-control", "no-cache");
    if name == "index.html" {
        ferry_http::response::set(&mut r, "content-security-policy", CSP);
        ferry_http::response::set(&mut r, "x-frame-options", "DENY");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_carry_etags_and_revalidate() {
        let r = serve("app.js", None, false);
        assert_eq!(r.status(), StatusCode::OK);
        let etag = r.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(etag.starts_with('"') && etag.len() > 10);
        assert_eq!(r.headers().get("cache-control").map(|v| v.as_bytes()), Some(&b"no-cache"[..]));
        assert_eq!(serve("app.js", Some(&etag), false).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(serve("app.js", Some("\"other\""), false).status(), StatusCode::OK);
        assert_eq!(serve("nope.js", None, false).status(), StatusCode::NOT_FOUND);
        assert!(serve("index.html", None, false).headers().contains_key("content-security-policy"));
    }

    #[test]
    fn the_page_has_no_inline_script_or_third_party_url() {
        let html = std::str::from_utf8(ASSETS[0].bytes).unwrap_or("");
        assert!(!html.contains("<script>"), "inline scripts would need 'unsafe-inline'");
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.bytes).unwrap_or("");
            assert!(
                !text.contains("http://") && !text.contains("https://"),
                "{} loads nothing from elsewhere",
                asset.name
            );
        }
    }
}
