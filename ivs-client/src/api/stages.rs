use reqwest::Method;

use crate::client::{encode_segment, Call};
use crate::model::{
    CreateStageRequest, CreatedStage, DeletedStage, MasterStageInfo, StageInfo, StageList,
    UpdateStageRequest, UpdatedStage,
};
use crate::retry::Idempotency;
use crate::{Client, Error};

/// Stage endpoints; get it with [`Client::stages`].
///
/// Stage ARNs are percent-encoded into the path by the client: pass them as
/// IVS writes them.
#[derive(Debug, Clone, Copy)]
pub struct StagesApi<'a> {
    client: &'a Client,
}

impl<'a> StagesApi<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        StagesApi { client }
    }

    /// `GET /api/stage/list?maxResults=&nextToken=`: one page of stages.
    ///
    /// ```no_run
    /// # async fn demo(client: ivs_client::Client) -> Result<(), ivs_client::Error> {
    /// let mut next: Option<String> = None;
    /// loop {
    ///     let page = client.stages().list(Some(50), next.as_deref()).await?;
    ///     for stage in &page.stages {
    ///         println!("{} {} viewers", stage.name, stage.viewer_count);
    ///     }
    ///     match page.next_token {
    ///         Some(token) => next = Some(token),
    ///         None => break,
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list(
        self,
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> Result<StageList, Error> {
        let call = Call::get("/api/stage/list")
            .query("maxResults", max_results.map(|n| n.to_string()))
            .query("nextToken", next_token.map(str::to_owned));
        self.client.send_data(call).await
    }

    /// `GET /api/stage/master/info`: the master stage.
    pub async fn master(self) -> Result<MasterStageInfo, Error> {
        self.client
            .send_data(Call::get("/api/stage/master/info"))
            .await
    }

    /// `GET /api/stage/:stageArn`: one stage; `NOT_FOUND` when it does not exist.
    pub async fn get(self, stage_arn: &str) -> Result<StageInfo, Error> {
        let call = Call::get(format!("/api/stage/{}", encode_segment(stage_arn)));
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
        stage_arn: &str,
        request: &UpdateStageRequest,
    ) -> Result<UpdatedStage, Error> {
        let call = Call::new(
            Method::PUT,
            format!("/api/stage/{}", encode_segment(stage_arn)),
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
    pub async fn delete(self, stage_arn: &str) -> Result<DeletedStage, Error> {
        let call = Call::new(
            Method::DELETE,
            format!("/api/stage/{}", encode_segment(stage_arn)),
            Idempotency::Idempotent,
        );
        self.client.send(call).await
    }
}
