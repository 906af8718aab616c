//! Test-only helpers: spawn the real gateway on port 0 over an isolated
//! SQLite file, talk to it with typed helpers, and capture every log line.

// Test scaffolding: a failed setup step must abort the test loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod app;
pub mod fault_proxy;
pub mod logs;
pub mod mock;
mod mock_llm;
pub mod spy_repo;

pub use app::{spawn_app, spawn_app_with, TestApp, TestOptions, TestResponse};
pub use fault_proxy::FaultProxy;
pub use mock::{Fault, MockUpstream, Recorded, RotatingFaults};
pub use spy_repo::{Spy, SpyRepository};
