//! The Tunnel dialect (MaxCompute-style table upload sessions, as the `pyodps` client speaks it).
//!
//! [`codec`] reads and writes the record stream of block uploads and downloads; [`auth`] checks
//! the ODPS request signature.

pub mod auth;
pub mod codec;
pub mod ddl;
