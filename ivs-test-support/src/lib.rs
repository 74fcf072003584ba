//! Test support shared by the workspace's integration tests (`tests/it/`,
//! `ivs-client/tests/it/`): a server on `127.0.0.1:0`, fleets of server
//! processes with their invariant checker (`fleet`), the IVS control-plane
//! fake, a local SQS (moto's server) for IVS events, private Redis servers and clusters, an HTTP helper, the spec's JSON
//! examples (`fixtures/spec/`) with a shape comparison against them, and the
//! client contract table that both the client's and the server's tests run;
//! and a server for the SDK's doc examples (`doc`).

pub mod contract_table;
pub mod doc;
pub mod fake_ivs;
pub mod fleet;
pub mod harness;
pub mod moto_sqs;
pub mod redis_cluster;
pub mod redis_server;
pub mod server_process;
pub mod shape;
