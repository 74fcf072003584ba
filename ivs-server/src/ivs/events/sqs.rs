//! The SQS consumer: long-polls the queue an EventBridge rule fills with IVS
//! events and hands each message body to the service.
//!
//! Every instance of a fleet polls the same queue; SQS hands a message to
//! one receiver at a time and hides it for the queue's visibility timeout,
//! so an instance that dies with messages in hand only delays them. A
//! message is deleted once it is applied, and also when it can never be
//! (malformed, or an event the server has no use for); when applying fails
//! for a reason that may pass (the store is down), it is left for SQS to
//! deliver again.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use tokio::sync::watch;

use crate::config::Settings;

/// Long-poll wait (SQS's maximum): an idle queue costs 3 requests a minute per instance.
const WAIT_SECS: i32 = 20;
/// Messages per receive (SQS's maximum).
const BATCH: i32 = 10;
/// The longest pause after failed receives.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Done with (applied, stale, or useless): delete it.
    Done,
    /// Applying failed for a reason that may pass: let SQS deliver it again.
    Retry,
}

/// Where message bodies go (the service).
#[async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Applies one message body.
    async fn handle(&self, body: &str) -> Handled;
}

/// The queue and its client.
pub struct SqsEvents {
    client: Client,
    queue_url: String,
}

impl std::fmt::Debug for SqsEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqsEvents")
            .field("queue_url", &self.queue_url)
            .finish_non_exhaustive()
    }
}

impl SqsEvents {
    /// A consumer of `IVS_EVENTS_QUEUE_URL` with the AWS settings' region and
    /// credentials; `None` when no queue is configured.
    pub async fn from_settings(settings: &Settings) -> Option<SqsEvents> {
        let queue_url = settings.ivs_events.queue_url.clone()?;
        // An attempt must outlive the long poll.
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(3))
            .operation_attempt_timeout(Duration::from_secs(WAIT_SECS as u64 + 10))
            .build();
        let mut loader = crate::ivs::aws::sdk_loader(&settings.aws).timeout_config(timeouts);
        if let Some(url) = &settings.ivs_events.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        let sdk = loader.load().await;
        Some(SqsEvents {
            client: Client::new(&sdk),
            queue_url,
        })
    }

    /// Polls until `stop` turns true.
    pub async fn run(self, sink: Arc<dyn EventSink>, mut stop: watch::Receiver<bool>) {
        tracing::info!(queue = %self.queue_url, "reading IVS events from SQS");
        let mut failures = 0u32;
        loop {
            let received = tokio::select! {
                r = self.receive() => r,
                _ = stop.changed() => break,
            };
            match received {
                Ok(messages) => {
                    failures = 0;
                    self.handle(sink.as_ref(), messages).await;
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    let pause = Duration::from_millis(500)
                        .saturating_mul(2u32.saturating_pow(failures.min(6)))
                        .min(MAX_BACKOFF);
                    tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "cannot receive IVS events from SQS");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stop.changed() => break,
                    }
                }
            }
        }
    }

    async fn receive(&self) -> Result<Vec<aws_sdk_sqs::types::Message>, String> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(BATCH)
            .wait_time_seconds(WAIT_SECS)
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        Ok(out.messages.unwrap_or_default())
    }

    async fn handle(&self, sink: &dyn EventSink, messages: Vec<aws_sdk_sqs::types::Message>) {
        let mut done = Vec::with_capacity(messages.len());
        for (i, m) in messages.iter().enumerate() {
            let Some(handle) = m.receipt_handle() else {
                continue;
            };
            if sink.handle(m.body().unwrap_or_default()).await == Handled::Done {
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .build();
                match entry {
                    Ok(entry) => done.push(entry),
                    Err(e) => tracing::warn!(error = %e, "an SQS message cannot be deleted"),
                }
            }
        }
        if done.is_empty() {
            return;
        }
        let deleted = self
            .client
            .delete_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(done))
            .send()
            .await;
        match deleted {
            Ok(out) if out.failed().is_empty() => {}
            // Not deleted: SQS delivers them again, and applying an event
            // twice changes nothing (stale events are ignored).
            Ok(out) => {
                tracing::warn!(
                    failed = out.failed().len(),
                    "some applied IVS events could not be deleted from SQS"
                )
            }
            Err(e) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "applied IVS events could not be deleted from SQS")
            }
        }
    }
}
