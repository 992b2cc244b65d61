//! Entry point for the OSS signature fuzz target in `fuzz/` and for the test that replays its
//! corpus: arbitrary bytes in, no panic out. Not part of ferry's API.

use ferry_http::Query;

use crate::address::Address;
use crate::router::{self, Scope};

/// OSS request heads (see `ferry_http::fuzz::request_parts` for the text form): addressing
/// (virtual-host or path style), routing, and V1/V4 header and presigned-URL verification.
pub fn auth(data: &[u8]) {
    let Some(parts) = ferry_http::fuzz::request_parts(data) else { return };
    let _ = crate::auth::is_oss_signed(&parts);
    let query = Query::parse(parts.uri.query());
    let Ok(addr) = Address::resolve(&parts, Some("oss.fuzz.test")) else { return };
    let _ = router::route(&parts.method, Scope::of(&addr), &query, &parts.headers);
    let _ = crate::auth::authenticate(&parts, &query, &addr, &ferry_http::fuzz::credentials());
}
