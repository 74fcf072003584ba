//! Test support shared by the workspace integration tests (`tests/`) and the
//! example smoke tests: a server on `127.0.0.1:0`, fleets of server processes
//! with their invariant checker (`fleet`), an HTTP helper, the
//! spec's JSON examples, and a shape comparison against them.

pub mod fake_ivs;
pub mod fleet;
pub mod harness;
pub mod redis_cluster;
pub mod redis_server;
pub mod server_process;
pub mod shape;
