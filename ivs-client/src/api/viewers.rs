use reqwest::Method;

use crate::client::{encode_segment, Call};
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
    pub async fn heartbeat(self, user_id: &str, stage_arn: &str) -> Result<Heartbeat, Error> {
        let call = Call::new(
            Method::POST,
            "/api/viewer/heartbeat",
            Idempotency::Idempotent,
        )
        .json(&viewer_ref(user_id, stage_arn)?)?;
        self.client.send_data(call).await
    }

    /// `POST /api/viewer/leave`: stops counting the viewer and returns how
    /// long it watched. Retried like an idempotent call, so a retry after a
    /// lost answer may report `NOT_FOUND`.
    pub async fn leave(self, user_id: &str, stage_arn: &str) -> Result<WatchDuration, Error> {
        let call = Call::new(Method::POST, "/api/viewer/leave", Idempotency::Idempotent)
            .json(&viewer_ref(user_id, stage_arn)?)?;
        self.client.send_data(call).await
    }

    /// `GET /api/viewer/list/:stageArn`: the viewers counted on a stage.
    pub async fn list(self, stage_arn: &str) -> Result<ViewerList, Error> {
        let call = Call::get(format!("/api/viewer/list/{}", encode_segment(stage_arn)));
        self.client.send_data(call).await
    }

    /// `GET /api/viewer/duration?userId=&stageArn=`: how long a viewer has watched.
    pub async fn duration(self, user_id: &str, stage_arn: &str) -> Result<WatchDuration, Error> {
        let call = Call::get("/api/viewer/duration")
            .query("userId", Some(user_id.to_owned()))
            .query("stageArn", Some(stage_arn.to_owned()));
        self.client.send_data(call).await
    }
}

/// Checks both ids before anything is sent: a malformed one is the caller's
/// bug, which a round trip (and its retries) would only hide behind a 400.
fn viewer_ref(user_id: &str, stage_arn: &str) -> Result<ViewerRef, Error> {
    Ok(ViewerRef::new(
        UserId::new(user_id)?,
        stage_arn.parse::<StageArn>()?,
    ))
}
