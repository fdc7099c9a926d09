//! The handlers, one module per endpoint.

pub(crate) mod profile;
