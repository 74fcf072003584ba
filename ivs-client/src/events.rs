//! The event channel shared by heartbeat tasks and viewer sessions.
//!
//! Events go through a bounded `tokio::sync::broadcast` channel. Sending
//! never waits: when a reader falls more than the channel's capacity behind,
//! the oldest unread events are dropped and the reader skips to the oldest
//! one still held. A task that keeps a viewer counted must never stall
//! because nobody reads its events, and the newest events describe the
//! current state best.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast;

/// Events kept for a slow reader before the oldest are dropped.
pub(crate) const DEFAULT_EVENT_CAPACITY: usize = 64;

pub(crate) fn channel<T: Clone>(capacity: usize) -> (EventSender<T>, broadcast::Receiver<T>) {
    let (tx, rx) = broadcast::channel(capacity.max(1));
    (EventSender(tx), rx)
}

#[derive(Debug)]
pub(crate) struct EventSender<T>(broadcast::Sender<T>);

impl<T: Clone> EventSender<T> {
    /// Never blocks; an event with no reader is simply dropped.
    pub(crate) fn emit(&self, event: T) {
        let _ = self.0.send(event);
    }
}

/// Receives the next event, skipping over events dropped because the reader
/// lagged; `None` once the task has ended and every event was read.
pub(crate) async fn recv<T: Clone>(rx: &mut broadcast::Receiver<T>) -> Option<T> {
    loop {
        match rx.recv().await {
            Ok(event) => return Some(event),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, "event reader lagged; oldest events dropped");
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        }
    }
}

/// A stream of a heartbeat task's or viewer session's events.
///
/// Ends when the task ends. A reader that falls behind loses the oldest
/// events (see the module docs of [`crate::heartbeat`]). Read it with
/// [`next`](Self::next), or with the [`StreamExt`](crate::StreamExt)
/// combinators (it is a [`Stream`](crate::Stream)).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (base_url, api_key) = ivs_test_support::doc::server().await;
/// # let client = ivs_client::Client::new(base_url, api_key)?;
/// # let session = client.join("viewer-001".parse()?).await?;
/// use ivs_client::SessionEvent;
///
/// let mut events = session.events();
/// # // Stopping the session ends its task, and with it the stream.
/// # let stopped = tokio::spawn(async move {
/// #     tokio::time::sleep(std::time::Duration::from_millis(300)).await;
/// #     session.stop().await
/// # });
/// while let Some(event) = events.next().await {
///     if let SessionEvent::HeartbeatFailed { error, .. } = event {
///         eprintln!("heartbeat failed: {error}");
///     }
/// }
/// # stopped.await??;
/// # Ok(()) }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct EventStream<T> {
    inner: Pin<Box<dyn Stream<Item = T> + Send>>,
}

impl<T: Clone + Send + 'static> EventStream<T> {
    pub(crate) fn new(rx: broadcast::Receiver<T>) -> Self {
        let inner = futures_util::stream::unfold(rx, |mut rx| async move {
            let event = recv(&mut rx).await?;
            Some((event, rx))
        });
        EventStream {
            inner: Box::pin(inner),
        }
    }
}

impl<T> EventStream<T> {
    /// The next event; `None` once the task has ended and every event was read.
    pub async fn next(&mut self) -> Option<T> {
        self.inner.next().await
    }
}

impl<T> Stream for EventStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<T> std::fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slow_reader_loses_oldest_and_sender_never_blocks() {
        let (tx, mut rx) = channel::<u32>(2);
        for i in 0..10 {
            tx.emit(i);
        }
        assert_eq!(recv(&mut rx).await, Some(8));
        assert_eq!(recv(&mut rx).await, Some(9));
        drop(tx);
        assert_eq!(recv(&mut rx).await, None);
    }
}
