//! Statistics endpoints and the `/ws` stats snapshot.

use ivs_api::{
    PublisherStatus, StageArn, StageStats, StageStatsDetail, StageStatsInfo, StageStatsList, Stats,
    StatsUpdate, Timestamp, ViewerStats,
};

use super::App;
use super::ServiceError;
use crate::store::StageLoad;

fn stage_stats(s: &StageLoad, with_tags: bool) -> StageStats {
    StageStats {
        stage_arn: s.record.arn.clone(),
        stage_name: s.record.name.clone(),
        viewer_count: s.viewers,
        auto_scaled: s.record.kind.is_auto_scaled(),
        created_at: Timestamp::from_millis(s.record.created_at),
        tags: with_tags.then(|| s.record.tags.clone()),
    }
}

impl App {
    /// Whether the publisher is live on the master stage. A backend failure
    /// reads as "not live" rather than failing the statistics.
    pub async fn publisher_live(&self) -> bool {
        let master = match self.current_master().await {
            Ok(arn) => arn,
            Err(_) => self.master_arn(),
        };
        match self.ivs.publisher_live(&master).await {
            Ok(live) => live,
            Err(e) => {
                tracing::warn!(error = %e, "publisher liveness unknown");
                false
            }
        }
    }

    /// `GET /api/stats`.
    pub async fn stats(&self) -> Result<Stats, ServiceError> {
        let (stages, live) = tokio::join!(self.store.stages(), self.publisher_live());
        let stages = stages?;
        Ok(Stats {
            total_viewers: stages.iter().map(|s| s.viewers).sum(),
            active_stages: stages.len() as u32,
            is_publisher_live: live,
            stages: stages.iter().map(|s| stage_stats(s, false)).collect(),
            timestamp: Timestamp::now(),
        })
    }

    /// `GET /api/stats/viewers`.
    pub async fn viewer_stats(&self) -> Result<ViewerStats, ServiceError> {
        let stages = self.store.stages().await?;
        Ok(ViewerStats {
            total_viewers: stages.iter().map(|s| s.viewers).sum(),
            calculated_from: "real-time sum".into(),
            timestamp: Timestamp::now(),
        })
    }

    /// `GET /api/stats/stages`.
    pub async fn stage_stats(&self) -> Result<StageStatsList, ServiceError> {
        let stages = self.store.stages().await?;
        Ok(StageStatsList {
            total_stages: stages.len() as u32,
            stages: stages.iter().map(|s| stage_stats(s, true)).collect(),
            timestamp: Timestamp::now(),
        })
    }

    /// `GET /api/stats/stages/:stageArn`.
    pub async fn one_stage_stats(&self, arn: &StageArn) -> Result<StageStatsDetail, ServiceError> {
        let arn = arn.as_str();
        let s = self.registered(arn).await?;
        Ok(StageStatsDetail {
            stage_arn: s.record.arn.clone(),
            viewer_count: s.viewers,
            info: StageStatsInfo {
                name: s.record.name.clone(),
                auto_scaled: s.record.kind.is_auto_scaled(),
                created_at: Timestamp::from_millis(s.record.created_at),
            },
            timestamp: Timestamp::now(),
        })
    }

    /// `GET /api/stats/publisher`.
    pub async fn publisher_status(&self) -> PublisherStatus {
        PublisherStatus {
            is_live: self.publisher_live().await,
            timestamp: Timestamp::now(),
        }
    }

    /// The `/ws` snapshot.
    pub async fn stats_update(&self) -> Result<StatsUpdate, ServiceError> {
        let stages = self.store.stages().await?;
        Ok(StatsUpdate {
            viewer_count: stages.iter().map(|s| s.viewers).sum(),
            active_stages: stages.len() as u32,
            timestamp: Timestamp::now(),
        })
    }
}
