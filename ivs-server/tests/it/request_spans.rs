//! The per-request span: off at the default log filter (it was ~8 % of a
//! heartbeat's instructions), on with `ivs_server::request=debug`, and then
//! carrying the caller's `x-request-id` into the lines logged for the request.

use std::io::Read;
use std::process::{Command, Stdio};

/// Log output of a server that answered one unauthenticated request (a 401:
/// the first refusal in its window is logged at `warn` at once, inside the
/// request's span) and then stopped.
async fn log_of_a_rejected_request(rust_log: Option<&str>) -> String {
    let env: Vec<(&str, &str)> = rust_log.map(|f| ("RUST_LOG", f)).into_iter().collect();
    let crate::common::Binary { mut child, base } =
        crate::common::start(&env, Stdio::piped(), Stdio::piped()).await;
    let status = reqwest::Client::new()
        .get(format!("{base}/api/stats"))
        .header("x-request-id", "req-42")
        .header("x-api-key", "not-a-key")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 401);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read>),
        child.stderr.take().map(|s| Box::new(s) as Box<dyn Read>),
    ]
    .into_iter()
    .flatten()
    {
        let mut stream = stream;
        stream.read_to_string(&mut log).unwrap();
    }
    log
}

#[tokio::test]
async fn no_request_span_at_the_default_filter() {
    let log = log_of_a_rejected_request(None).await;
    let line = log
        .lines()
        .find(|l| l.contains("requests refused"))
        .unwrap_or_else(|| panic!("the 401 is logged:\n{log}"));
    assert!(!line.contains("request{"), "{line}");
    assert!(!log.contains("req-42"), "{log}");
}

#[tokio::test]
async fn the_request_span_carries_the_request_id_when_enabled() {
    let log = log_of_a_rejected_request(Some(
        "info,warp::filters::trace=warn,ivs_server::request=debug",
    ))
    .await;
    let line = log
        .lines()
        .find(|l| l.contains("requests refused"))
        .unwrap_or_else(|| panic!("the 401 is logged:\n{log}"));
    assert!(
        line.contains("request{id=req-42 method=GET path=/api/stats}"),
        "{line}"
    );
    // The key the caller sent never reaches the log.
    assert!(!log.contains("not-a-key"), "{log}");
}
