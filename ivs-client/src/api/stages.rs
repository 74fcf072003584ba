use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Stream, StreamExt};
use reqwest::Method;

use super::stage_path;
use crate::client::Call;
use crate::model::{
    CreateStageRequest, CreatedStage, DeletedStage, MasterStageInfo, StageArn, StageInfo,
    StageList, StageListItem, UpdateStageRequest, UpdatedStage,
};
use crate::retry::Idempotency;
use crate::{Client, Error};

/// Stage endpoints; get it with [`Client::stages`].
///
/// Stage ARNs are percent-encoded into the path by the client.
#[derive(Debug, Clone, Copy)]
pub struct StagesApi<'a> {
    client: &'a Client,
}

impl<'a> StagesApi<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        StagesApi { client }
    }

    /// `GET /api/stage/list`: one page of stages. Set the page size and the
    /// page on the returned [`ListStages`], then [`send`](ListStages::send) it;
    /// or take every stage of every page with [`list_all`](Self::list_all).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// let page = client.stages().list().max_results(50).send().await?;
    /// for stage in &page.stages {
    ///     println!("{} {} viewers", stage.name, stage.viewer_count);
    /// }
    /// if let Some(token) = page.next_token {
    ///     let next = client.stages().list().max_results(50).next_token(token).send().await?;
    ///     # let _ = next;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list(self) -> ListStages {
        ListStages {
            client: self.client.clone(),
            max_results: None,
            next_token: None,
        }
    }

    /// Every stage, page after page (following `nextToken`, the server's
    /// default page size): a [`StageListStream`]. Same as
    /// `client.stages().list().into_stream()`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// let mut stages = client.stages().list_all();
    /// while let Some(stage) = stages.next().await {
    ///     let stage = stage?;
    ///     println!("{}: {} viewers", stage.name, stage.viewer_count);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_all(self) -> StageListStream {
        self.list().into_stream()
    }

    /// `GET /api/stage/master/info`: the master stage.
    pub async fn master(self) -> Result<MasterStageInfo, Error> {
        self.client
            .send_data(Call::get("/api/stage/master/info"))
            .await
    }

    /// `GET /api/stage/:stageArn`: one stage; `NOT_FOUND` when it does not exist.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// use ivs_client::StageArn;
    /// let arn: StageArn = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8".parse()?;
    /// # // A stage that exists on the example's server.
    /// # let arn = client.stages().master().await?.stage.arn;
    /// let info = client.stages().get(&arn).await?;
    /// println!("{} has {} viewers", info.stage.name, info.viewer_count);
    /// # Ok(()) }
    /// ```
    pub async fn get(self, stage_arn: &StageArn) -> Result<StageInfo, Error> {
        let call = Call::get(stage_path("/api/stage/", stage_arn));
        self.client.send_data(call).await
    }

    /// `POST /api/stage`: creates a stage. Not idempotent (a repeat would
    /// make a second stage), so retried only when the server cannot have
    /// acted (connection not made, 429).
    pub async fn create(self, request: &CreateStageRequest) -> Result<CreatedStage, Error> {
        let call = Call::new(Method::POST, "/api/stage", Idempotency::Unsafe).json(request)?;
        self.client.send_data(call).await
    }

    /// `PUT /api/stage/:stageArn`: renames a stage. Idempotent, so retried on
    /// transient failures.
    pub async fn update(
        self,
        stage_arn: &StageArn,
        request: &UpdateStageRequest,
    ) -> Result<UpdatedStage, Error> {
        let call = Call::new(
            Method::PUT,
            stage_path("/api/stage/", stage_arn),
            Idempotency::Idempotent,
        )
        .json(request)?;
        self.client.send_data(call).await
    }

    /// `DELETE /api/stage/:stageArn`: deletes a stage with no viewers.
    ///
    /// Retried on transient failures like any idempotent call. If an attempt
    /// deleted the stage but its answer was lost, the retry reports
    /// `NOT_FOUND`: treat `NOT_FOUND` here as "the stage is gone".
    pub async fn delete(self, stage_arn: &StageArn) -> Result<DeletedStage, Error> {
        let call = Call::new(
            Method::DELETE,
            stage_path("/api/stage/", stage_arn),
            Idempotency::Idempotent,
        );
        self.client.send(call).await
    }
}

/// The parameters of `GET /api/stage/list`; get one with
/// [`StagesApi::list`]. Unset parameters are not sent, so the server's
/// defaults apply (50 stages a page, the first page).
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until it is sent"]
pub struct ListStages {
    client: Client,
    max_results: Option<u32>,
    next_token: Option<String>,
}

impl ListStages {
    /// Stages per page: 1 to 100 (the server refuses other values with
    /// `VALIDATION_ERROR`).
    pub fn max_results(mut self, max_results: u32) -> Self {
        self.max_results = Some(max_results);
        self
    }

    /// The page to get: the `next_token` of the previous page.
    pub fn next_token(mut self, next_token: impl Into<String>) -> Self {
        self.next_token = Some(next_token.into());
        self
    }

    /// Sends the request: one page.
    pub async fn send(self) -> Result<StageList, Error> {
        fetch_page(&self.client, self.max_results, self.next_token).await
    }

    /// Every stage from this page on, following `nextToken` page after page,
    /// `max_results` a request.
    pub fn into_stream(self) -> StageListStream {
        let pages = Pages {
            client: self.client,
            max_results: self.max_results,
            next_token: self.next_token,
            items: VecDeque::new(),
            done: false,
        };
        let inner = futures_util::stream::unfold(pages, |mut pages| async move {
            let item = pages.next_item().await?;
            Some((item, pages))
        });
        StageListStream {
            inner: Box::pin(inner),
        }
    }
}

async fn fetch_page(
    client: &Client,
    max_results: Option<u32>,
    next_token: Option<String>,
) -> Result<StageList, Error> {
    let call = Call::get("/api/stage/list")
        .query("maxResults", max_results.map(|n| n.to_string()))
        .query("nextToken", next_token);
    client.send_data(call).await
}

/// Where a [`StageListStream`] is: the rest of the current page and the
/// token of the next.
struct Pages {
    client: Client,
    max_results: Option<u32>,
    next_token: Option<String>,
    items: VecDeque<StageListItem>,
    done: bool,
}

impl Pages {
    async fn next_item(&mut self) -> Option<Result<StageListItem, Error>> {
        loop {
            if let Some(item) = self.items.pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            // Boxed: a request future with its retries is kilobytes, and the
            // stream would otherwise carry it for as long as it lives.
            let page = Box::pin(fetch_page(
                &self.client,
                self.max_results,
                self.next_token.take(),
            ))
            .await;
            match page {
                Ok(page) => {
                    self.items = page.stages.into();
                    // The server reads an empty token as "the first page":
                    // following it would start over, forever.
                    self.next_token = page.next_token.filter(|t| !t.is_empty());
                    self.done = self.next_token.is_none();
                }
                Err(e) => {
                    // The client's retry policy has had its go: asking for
                    // the same page again at once would most likely fail the
                    // same way, and skipping it would lose stages silently.
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Every stage of `GET /api/stage/list`, page after page; get one with
/// [`StagesApi::list_all`] or [`ListStages::into_stream`].
///
/// Pages are requested one at a time, when the previous one has been read.
/// A failed request (after the client's retries) is yielded as an `Err`
/// item and ends the stream. Read it with [`next`](Self::next), or with the
/// [`StreamExt`](crate::StreamExt) combinators (it is a
/// [`Stream`](crate::Stream)).
#[must_use = "streams do nothing unless polled"]
pub struct StageListStream {
    inner: Pin<Box<dyn Stream<Item = Result<StageListItem, Error>> + Send>>,
}

impl StageListStream {
    /// The next stage; `None` after the last one or after an error.
    pub async fn next(&mut self) -> Option<Result<StageListItem, Error>> {
        self.inner.next().await
    }
}

impl Stream for StageListStream {
    type Item = Result<StageListItem, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for StageListStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageListStream").finish_non_exhaustive()
    }
}
