//! Statistics endpoints and the `/ws` stats snapshot.

use ivs_api::{
    PublisherStatus, StageArn, StageStats, StageStatsDetail, StageStatsList, Stats, StatsUpdate,
    Timestamp, ViewerStats,
};

use super::ServiceError;
use super::{held_arn, App};
use crate::store::StageLoad;

fn stage_stats(s: &StageLoad, with_tags: bool) -> Result<StageStats, ServiceError> {
    Ok(StageStats::builder()
        .arn(held_arn(&s.record.arn)?)
        .name(s.record.name.as_str())
        .viewer_count(s.viewers)
        .auto_scaled(s.record.kind.is_auto_scaled())
        .draining(s.record.draining)
        .created_at(Timestamp::from_millis(s.record.created_at))
        .maybe_tags(with_tags.then(|| s.record.tags.clone()))
        .build())
}

fn all_stage_stats(stages: &[StageLoad], with_tags: bool) -> Result<Vec<StageStats>, ServiceError> {
    stages.iter().map(|s| stage_stats(s, with_tags)).collect()
}

impl App {
    /// `GET /api/stats`.
    pub async fn stats(&self) -> Result<Stats, ServiceError> {
        let (stages, live) = tokio::join!(self.store.stages(), self.publisher_live());
        let stages = stages?;
        Ok(Stats::builder()
            .total_viewers(stages.iter().map(|s| s.viewers).sum())
            .total_stages(stages.len() as u32)
            .is_publisher_live(live)
            .stages(all_stage_stats(&stages, false)?)
            .timestamp(Timestamp::now())
            .build())
    }

    /// `GET /api/stats/viewers`.
    pub async fn viewer_stats(&self) -> Result<ViewerStats, ServiceError> {
        let stages = self.store.stages().await?;
        Ok(ViewerStats::builder()
            .total_viewers(stages.iter().map(|s| s.viewers).sum())
            .calculated_from("real-time sum")
            .timestamp(Timestamp::now())
            .build())
    }

    /// `GET /api/stats/stages`.
    pub async fn stage_stats(&self) -> Result<StageStatsList, ServiceError> {
        let stages = self.store.stages().await?;
        Ok(StageStatsList::builder()
            .total_stages(stages.len() as u32)
            .stages(all_stage_stats(&stages, true)?)
            .timestamp(Timestamp::now())
            .build())
    }

    /// `GET /api/stats/stages/:stageArn`.
    pub async fn one_stage_stats(&self, arn: &StageArn) -> Result<StageStatsDetail, ServiceError> {
        let s = self.registered(arn.as_str()).await?;
        Ok(StageStatsDetail::builder()
            .arn(held_arn(&s.record.arn)?)
            .name(s.record.name)
            .viewer_count(s.viewers)
            .auto_scaled(s.record.kind.is_auto_scaled())
            .created_at(Timestamp::from_millis(s.record.created_at))
            .timestamp(Timestamp::now())
            .build())
    }

    /// `GET /api/stats/publisher`.
    pub async fn publisher_status(&self) -> PublisherStatus {
        PublisherStatus::builder()
            .is_live(self.publisher_live().await)
            .timestamp(Timestamp::now())
            .build()
    }

    /// The `/ws` snapshot.
    pub async fn stats_update(&self) -> Result<StatsUpdate, ServiceError> {
        let stages = self.store.stages().await?;
        Ok(StatsUpdate::builder()
            .total_viewers(stages.iter().map(|s| s.viewers).sum())
            .total_stages(stages.len() as u32)
            .timestamp(Timestamp::now())
            .build())
    }
}
