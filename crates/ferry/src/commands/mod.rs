//! The client commands: they speak S3, so they work against ferry and any S3-compatible service.

pub mod config;
pub mod cp;
pub mod events;
pub mod keys;
pub mod objects;
pub mod progress;
pub mod resume;
pub mod scrub;
pub mod table;
pub mod token;
