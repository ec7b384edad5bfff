//! The integration tests, one binary (each file a module: linking one test
//! binary instead of 25 is most of `cargo test`'s time). Kept apart, in
//! binaries of their own: `tracing` and `metrics` (a process-global
//! subscriber or recorder) and `attack_bounds` (it counts the process's
//! open files and tasks).

mod common;

mod adversarial;
mod architecture;
mod cached_claims;
mod cached_key_issuer;
mod client;
mod config;
mod dpop;
mod glewlwyd;
mod hostile_input;
mod http;
mod http_client;
mod interop;
mod introspection;
mod issuers;
mod key_binding;
mod layer_counts;
mod mcp;
mod mtls;
mod operations;
mod policy;
mod providers;
mod redis;
mod redis_fleet;
mod remote;
mod report;
mod resource_client;
mod routes;
mod service;
mod stacks;
mod testing_kit;
mod token_cache;
mod validate;
