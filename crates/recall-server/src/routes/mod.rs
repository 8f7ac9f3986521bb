//! HTTP handlers, one module per resource.

pub mod admin;
pub mod events;
pub mod holds;
pub mod logs;
pub mod ops;
pub mod reading;
pub mod reports;
