//! Viewer endpoints: heartbeat, leave, list, watch duration.

use ivs_api::{
    Heartbeat, StageArn, Timestamp, UserId, Viewer, ViewerList, ViewerRef, WatchDuration,
};

use super::ServiceError;
use super::{now_ms, App};
use crate::store::{LeaveOutcome, StoreError};

fn not_counted(user_id: &str, stage_arn: &str) -> ServiceError {
    ServiceError::ViewerNotCounted {
        user_id: user_id.into(),
        stage_arn: stage_arn.into(),
    }
}

fn duration(viewer: ViewerRef, secs: u64) -> WatchDuration {
    WatchDuration::builder()
        .user_id(viewer.user_id)
        .stage_arn(viewer.stage_arn)
        .watch_duration(secs)
        .watch_duration_formatted(format_duration(secs))
        .build()
}

impl App {
    /// `POST /api/viewer/heartbeat`: one store call.
    pub async fn heartbeat(&self, viewer: ViewerRef) -> Result<Heartbeat, ServiceError> {
        let (user_id, stage_arn) = (viewer.user_id.as_str(), viewer.stage_arn.as_str());
        match self.store.heartbeat(user_id, stage_arn, now_ms()).await? {
            Some(at) => Ok(Heartbeat::builder()
                .user_id(viewer.user_id)
                .stage_arn(viewer.stage_arn)
                .last_heartbeat(Timestamp::from_millis(at))
                .build()),
            None => Err(not_counted(user_id, stage_arn)),
        }
    }

    /// `POST /api/viewer/leave`: idempotent; a repeated leave returns the recorded time.
    pub async fn leave(&self, viewer: ViewerRef) -> Result<WatchDuration, ServiceError> {
        let (user_id, stage_arn) = (viewer.user_id.as_str(), viewer.stage_arn.as_str());
        let retention = self.settings.limits.duration_retention;
        match self
            .store
            .leave(user_id, stage_arn, now_ms(), retention)
            .await?
        {
            LeaveOutcome::Left(secs) => {
                tracing::debug!(stage = %stage_arn, secs, "viewer left");
                Ok(duration(viewer, secs))
            }
            LeaveOutcome::AlreadyGone(secs) => Ok(duration(viewer, secs)),
            LeaveOutcome::Unknown => Err(not_counted(user_id, stage_arn)),
        }
    }

    /// `GET /api/viewer/list/:stageArn`.
    pub async fn viewer_list(&self, stage_arn: &StageArn) -> Result<ViewerList, ServiceError> {
        self.registered(stage_arn.as_str()).await?;
        let viewers = self
            .store
            .viewers(stage_arn.as_str())
            .await?
            .into_iter()
            .map(|v| {
                // Every user id was checked when its viewer joined.
                let user_id = UserId::try_from(v.user_id).map_err(|e| {
                    StoreError::Corrupt(format!("a stored viewer's userId does not parse: {e}"))
                })?;
                Ok(Viewer::builder()
                    .user_id(user_id)
                    .participant_id(v.participant_id)
                    .joined_at(Timestamp::from_millis(v.joined_at))
                    .last_heartbeat(Timestamp::from_millis(v.last_heartbeat))
                    .build())
            })
            .collect::<Result<Vec<Viewer>, ServiceError>>()?;
        Ok(ViewerList::builder()
            .stage_arn(stage_arn.clone())
            .viewer_count(viewers.len() as u32)
            .viewers(viewers)
            .timestamp(Timestamp::now())
            .build())
    }

    /// `GET /api/viewer/duration`.
    pub async fn watch_duration(&self, viewer: ViewerRef) -> Result<WatchDuration, ServiceError> {
        let (user_id, stage_arn) = (viewer.user_id.as_str(), viewer.stage_arn.as_str());
        match self
            .store
            .watch_duration(user_id, stage_arn, now_ms())
            .await?
        {
            Some(secs) => Ok(duration(viewer, secs)),
            None => Err(ServiceError::NoWatchRecord {
                user_id: user_id.into(),
                stage_arn: stage_arn.into(),
                retention: self.settings.limits.duration_retention,
            }),
        }
    }
}

/// Formats a watch duration as the API does: `"30分 50秒"`, `"1時 2分 3秒"`.
fn format_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, (seconds % 3600) / 60, seconds % 60);
    if h > 0 {
        format!("{h}時 {m}分 {s}秒")
    } else {
        format!("{m}分 {s}秒")
    }
}

#[cfg(test)]
mod tests {
    use super::format_duration;

    #[test]
    fn durations_read_as_the_spec_writes_them() {
        assert_eq!(format_duration(1850), "30分 50秒");
        assert_eq!(format_duration(5), "0分 5秒");
        assert_eq!(format_duration(3723), "1時 2分 3秒");
    }
}
