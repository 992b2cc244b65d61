//! Shared HTTP plumbing for ferry's protocol front-ends.
//!
//! All dialects share one listen address. The [`Router`] picks the front-end from the request's
//! signature scheme (each [`Frontend`] says which requests it claims); a front-end turns the
//! request into engine calls and renders the result in its own wire format.
//!
//! It also holds the server's [`https_connector`] for outgoing connections (the S3 blob store).

mod body;
mod connector;
pub mod cors;
pub mod dates;
pub mod endpoint;
pub mod errors;
#[doc(hidden)]
pub mod fuzz;
mod headers;
mod limits;
pub mod names;
mod operations;
pub mod part_input;
mod query;
pub mod range;
pub mod response;
mod router;
mod server;
pub mod xml;
pub mod xml_tree;

pub use body::{Body, ResponseBody, body_stream, empty, full, read_limited, stream};
pub use connector::https_connector;
pub use endpoint::{Endpoint, EndpointDoc};
pub use headers::{content_headers, response_overrides, source_conditions};
pub use limits::Limits;
pub use operations::{Operations, ReadinessCheck};
pub use part_input::{BodyHeaderError, BodyRules};
pub use query::Query;
pub use router::{Frontend, Router};
pub use server::{Scheme, ServeOptions, serve, tls_acceptor};

/// The request type front-ends receive.
pub type Request = http::Request<Body>;
/// The response type front-ends return.
pub type Response = http::Response<ResponseBody>;
