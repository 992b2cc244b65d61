//! Shared HTTP plumbing for ferry's protocol front-ends.
//!
//! All dialects share one listen address. The [`Router`] picks the front-end from the request's
//! signature scheme (each [`Frontend`] says which requests it claims); a front-end turns the
//! request into engine calls and renders the result in its own wire format.

mod body;
pub mod dates;
pub mod endpoint;
mod headers;
mod limits;
pub mod names;
mod operations;
mod query;
pub mod range;
mod router;
mod server;
pub mod xml;

pub use body::{Body, ResponseBody, body_stream, empty, full, read_limited, stream};
pub use endpoint::{Endpoint, EndpointDoc};
pub use headers::{content_headers, response_overrides};
pub use limits::Limits;
pub use operations::{Operations, ReadinessCheck};
pub use query::Query;
pub use router::{Frontend, Router};
pub use server::{ServeOptions, serve, tls_acceptor};

/// The request type front-ends receive.
pub type Request = http::Request<Body>;
/// The response type front-ends return.
pub type Response = http::Response<ResponseBody>;
