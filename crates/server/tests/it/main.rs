//! roster over real HTTP: every Getui user endpoint with valid and invalid input, the
//! native API, and durability across restarts (in-process and with SIGKILL).

mod access_log;
mod apps;
mod audience;
mod bulk;
mod changes;
mod changes_faults;
mod cli;
mod crowds;
mod crowds_jobs;
mod durability;
mod edge;
mod fuzz;
mod getui_alias;
mod getui_auth;
mod getui_tags;
mod getui_tokens;
mod getui_tolerance;
mod getui_user;
mod identity;
mod metrics;
mod multinode;
mod native;
mod native_devices;
mod native_input;
mod openapi;
mod operate;
mod quota;
mod quota_nodes;
mod secrets;
mod segments;
mod support;
