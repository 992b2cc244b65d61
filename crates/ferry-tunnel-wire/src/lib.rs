//! What both ends of the Tunnel dialect need: [`codec`] reads and writes the record stream of
//! block uploads and downloads; [`auth`] computes and checks the ODPS request signature. Kept
//! apart from the server front-end so ferry's client carries no server code.

pub mod auth;
pub mod codec;
