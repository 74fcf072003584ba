//! A real SQS implementation for the IVS-events tests: moto's server (PyPI
//! `moto[server]`, the `moto_server` command), started on a free local port
//! for one test and killed with it, and an `aws-sdk-sqs` client for it.
//!
//! A missing `moto_server` fails the test with the install command; it is
//! never skipped (`.ci/run` installs it).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;

/// The region the tests use for SQS (any works with moto).
pub const REGION: &str = "us-west-2";
/// Credentials moto accepts (it checks none).
pub const ACCESS_KEY_ID: &str = "AKIDTESTMOTOSQS";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "moto-sqs-secret-key";

/// A running moto server. Dropping it kills the process.
pub struct MotoSqs {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    client: Client,
}

impl Drop for MotoSqs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free local port for moto: {e}"))
}

impl MotoSqs {
    /// Starts `moto_server` on a free port and waits until it answers.
    pub async fn start() -> MotoSqs {
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto_server ({e}): the IVS-events tests need a real SQS; \
                     install it with `pip install 'moto[server]'`"
                )
            });
        let url = format!("http://127.0.0.1:{port}");
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                ACCESS_KEY_ID,
                SECRET_ACCESS_KEY,
                None,
                None,
                "moto",
            ))
            .endpoint_url(&url)
            .build();
        let mut moto = MotoSqs {
            child,
            url,
            client: Client::from_conf(config),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if moto.client.list_queues().send().await.is_ok() {
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited with {status} before answering");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on {} within 30 s",
                moto.url
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Creates a queue; returns its URL. A short visibility timeout, so a
    /// message left for redelivery comes back within the test.
    pub async fn create_queue(&self, name: &str) -> String {
        let out = self
            .client
            .create_queue()
            .queue_name(name)
            .attributes(QueueAttributeName::VisibilityTimeout, "2")
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateQueue on moto: {e:?}"));
        out.queue_url().unwrap_or_default().to_string()
    }

    /// Sends one message body.
    pub async fn send(&self, queue_url: &str, body: &str) {
        self.client
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("SendMessage on moto: {e:?}"));
    }

    /// Messages in the queue, visible and in flight (received, not deleted).
    pub async fn in_queue(&self, queue_url: &str) -> u64 {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetQueueAttributes on moto: {e:?}"));
        let attrs = out.attributes().cloned().unwrap_or_default();
        [
            QueueAttributeName::ApproximateNumberOfMessages,
            QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        ]
        .iter()
        .map(|k| {
            attrs
                .get(k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum()
    }

    /// Waits until the queue is empty (every message deleted); false on timeout.
    pub async fn wait_empty(&self, queue_url: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.in_queue(queue_url).await == 0 {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }
}
