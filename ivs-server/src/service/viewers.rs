//! Viewer endpoints: heartbeat, leave, list, watch duration.

use ivs_client::model::{format_duration, Heartbeat, Timestamp, Viewer, ViewerList, WatchDuration};

use super::{now_ms, App};
use crate::error::ApiError;
use crate::store::LeaveOutcome;
use crate::validate;

fn not_counted(user_id: &str, stage_arn: &str) -> ApiError {
    ApiError::not_found(
        "觀眾不存在",
        format!("viewer {user_id} is not counted on stage {stage_arn} (it left, expired, or never joined); get a new viewer token"),
    )
}

fn duration(user_id: String, stage_arn: String, secs: u64) -> WatchDuration {
    WatchDuration {
        user_id,
        stage_arn,
        watch_duration: secs,
        watch_duration_formatted: format_duration(secs),
    }
}

impl App {
    /// `POST /api/viewer/heartbeat`: one store call.
    pub async fn heartbeat(
        &self,
        user_id: String,
        stage_arn: String,
    ) -> Result<Heartbeat, ApiError> {
        validate::viewer_id(&user_id)?;
        validate::stage_arn(&stage_arn)?;
        match self.store.heartbeat(&user_id, &stage_arn, now_ms()).await? {
            Some(at) => Ok(Heartbeat {
                user_id,
                stage_arn,
                last_heartbeat: Timestamp::from_millis(at),
            }),
            None => Err(not_counted(&user_id, &stage_arn)),
        }
    }

    /// `POST /api/viewer/leave`: idempotent; a repeated leave returns the recorded time.
    pub async fn leave(
        &self,
        user_id: String,
        stage_arn: String,
    ) -> Result<WatchDuration, ApiError> {
        validate::viewer_id(&user_id)?;
        validate::stage_arn(&stage_arn)?;
        let retention = self.settings.limits.duration_retention;
        match self
            .store
            .leave(&user_id, &stage_arn, now_ms(), retention)
            .await?
        {
            LeaveOutcome::Left(secs) => {
                tracing::debug!(stage = %stage_arn, secs, "viewer left");
                Ok(duration(user_id, stage_arn, secs))
            }
            LeaveOutcome::AlreadyGone(secs) => Ok(duration(user_id, stage_arn, secs)),
            LeaveOutcome::Unknown => Err(not_counted(&user_id, &stage_arn)),
        }
    }

    /// `GET /api/viewer/list/:stageArn`.
    pub async fn viewer_list(&self, stage_arn: &str) -> Result<ViewerList, ApiError> {
        self.registered(stage_arn).await?;
        let viewers: Vec<Viewer> = self
            .store
            .viewers(stage_arn)
            .await?
            .into_iter()
            .map(|v| Viewer {
                user_id: v.user_id,
                participant_id: v.participant_id,
                joined_at: Timestamp::from_millis(v.joined_at),
                last_heartbeat: Timestamp::from_millis(v.last_heartbeat),
            })
            .collect();
        Ok(ViewerList {
            stage_arn: stage_arn.to_string(),
            total_viewers: viewers.len() as u32,
            viewers,
            timestamp: Timestamp::now(),
        })
    }

    /// `GET /api/viewer/duration`.
    pub async fn watch_duration(
        &self,
        user_id: String,
        stage_arn: String,
    ) -> Result<WatchDuration, ApiError> {
        validate::viewer_id(&user_id)?;
        validate::stage_arn(&stage_arn)?;
        match self.store.watch_duration(&user_id, &stage_arn, now_ms()).await? {
            Some(secs) => Ok(duration(user_id, stage_arn, secs)),
            None => Err(ApiError::not_found(
                "找不到觀看紀錄",
                format!("no watch record for viewer {user_id} on stage {stage_arn} (records are kept {} s after leaving)", self.settings.limits.duration_retention.as_secs()),
            )),
        }
    }
}
