use super::stage_path;
use crate::client::Call;
use crate::model::{
    PublisherStatus, StageArn, StageStatsDetail, StageStatsList, Stats, ViewerStats,
};
use crate::{Client, Error};

/// Statistics endpoints; get it with [`Client::stats`]. For a live feed use
/// [`Client::stats_stream`].
#[derive(Debug, Clone, Copy)]
pub struct StatsApi<'a> {
    client: &'a Client,
}

impl<'a> StatsApi<'a> {
    pub(crate) fn new(client: &'a Client) -> Self {
        StatsApi { client }
    }

    /// `GET /api/stats`: viewers in all, stages, whether the publisher is live.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (base_url, api_key) = ivs_test_support::doc::server().await;
    /// # let client = ivs_client::Client::new(base_url, api_key)?;
    /// let stats = client.stats().overall().await?;
    /// println!("{} viewers on {} stages", stats.total_viewers, stats.total_stages);
    /// # Ok(()) }
    /// ```
    pub async fn overall(self) -> Result<Stats, Error> {
        self.client.send_data(Call::get("/api/stats")).await
    }

    /// `GET /api/stats/viewers`: viewers in all.
    pub async fn viewers(self) -> Result<ViewerStats, Error> {
        self.client.send_data(Call::get("/api/stats/viewers")).await
    }

    /// `GET /api/stats/stages`: every stage with its tags.
    pub async fn stages(self) -> Result<StageStatsList, Error> {
        self.client.send_data(Call::get("/api/stats/stages")).await
    }

    /// `GET /api/stats/stages/:stageArn`: one stage.
    pub async fn stage(self, stage_arn: &StageArn) -> Result<StageStatsDetail, Error> {
        let call = Call::get(stage_path("/api/stats/stages/", stage_arn));
        self.client.send_data(call).await
    }

    /// `GET /api/stats/publisher`: whether the publisher is live.
    pub async fn publisher(self) -> Result<PublisherStatus, Error> {
        self.client
            .send_data(Call::get("/api/stats/publisher"))
            .await
    }
}
