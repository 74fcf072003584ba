//! Test support shared by the workspace integration tests.
