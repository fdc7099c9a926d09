//! One module per group of the Getui user API document.

pub(crate) mod alias;
pub(crate) mod auth;
pub(crate) mod count;
pub(crate) mod crowd;
pub(crate) mod tags;
pub(crate) mod user;
