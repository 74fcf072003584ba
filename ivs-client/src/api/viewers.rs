use reqwest::Method;

use super::stage_path;
use crate::client::Call;
use crate::model::{Heartbeat, StageArn, UserId, ViewerList, ViewerRef, WatchDuration};
use crate::retry::Idempotency;
use crate::{Client, Error};

/// Viewer endpoints; get it with [`Client::viewers`].
///
/// `user_id` is the id the viewer sent when it asked for its token (not the
/// `"viewer-"`-prefixed IVS user id the token answer carries).
#[derive(Debug, Clone, Copy)]
pub struct ViewersApi<'a> {
    client: &'a Client,
}

impl<'a> ViewersApi<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        ViewersApi { client }
    }

    /// `POST /api/viewer/heartbeat`: keeps the viewer counted (send one at
    /// least every 60 s; [`Client::start_heartbeat`] does it for you).
    /// `NOT_FOUND` means the server no longer counts this viewer.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// # let joined = client.tokens().viewer(&ivs_client::model::TokenRequest::new("viewer-001".parse()?)).await?;
    /// use ivs_client::{StageArn, UserId};
    ///
    /// // The user id of the token request, and the stage its answer assigned.
    /// let user: UserId = "viewer-001".parse()?;
    /// let stage: StageArn = "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8".parse()?;
    /// # let stage = joined.stage_arn;
    /// let beat = client.viewers().heartbeat(&user, &stage).await?;
    /// println!("counted until 60 s after {}", beat.last_heartbeat);
    /// # Ok(()) }
    /// ```
    pub async fn heartbeat(
        self,
        user_id: &UserId,
        stage_arn: &StageArn,
    ) -> Result<Heartbeat, Error> {
        let call = Call::new(
            Method::POST,
            "/api/viewer/heartbeat",
            Idempotency::Idempotent,
        )
        .json(&ViewerRef::new(user_id.clone(), stage_arn.clone()))?;
        self.client.send_data(call).await
    }

    /// `POST /api/viewer/leave`: stops counting the viewer and returns how
    /// long it watched. Retried like an idempotent call, so a retry after a
    /// lost answer may report `NOT_FOUND`.
    pub async fn leave(
        self,
        user_id: &UserId,
        stage_arn: &StageArn,
    ) -> Result<WatchDuration, Error> {
        let call = Call::new(Method::POST, "/api/viewer/leave", Idempotency::Idempotent)
            .json(&ViewerRef::new(user_id.clone(), stage_arn.clone()))?;
        self.client.send_data(call).await
    }

    /// `GET /api/viewer/list/:stageArn`: the viewers counted on a stage.
    pub async fn list(self, stage_arn: &StageArn) -> Result<ViewerList, Error> {
        let call = Call::get(stage_path("/api/viewer/list/", stage_arn));
        self.client.send_data(call).await
    }

    /// `GET /api/viewer/duration?userId=&stageArn=`: how long a viewer has watched.
    pub async fn duration(
        self,
        user_id: &UserId,
        stage_arn: &StageArn,
    ) -> Result<WatchDuration, Error> {
        let call = Call::get("/api/viewer/duration")
            .query("userId", Some(user_id.to_string()))
            .query("stageArn", Some(stage_arn.to_string()));
        self.client.send_data(call).await
    }
}
