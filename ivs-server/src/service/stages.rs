//! Stage endpoints: list, master info, get, create, rename, delete.

use ivs_api::{
    CreateStageRequest, CreatedStage, CreatedStageDetail, DeletedStage, MasterStageInfo,
    RemovalReason, StageArn, StageDetail, StageInfo, StageList, StageListItem, Timestamp,
    UpdateStageRequest, UpdatedStage, UpdatedStageDetail,
};

use super::scaling::{Created, ScaleError};
use super::{held_arn, now_ms, validate, App, Invalid, ServiceError};
use crate::ivs::IvsError;
use crate::store::StageKind;
use crate::store::{RemoveOutcome, StageLoad, StageRecord};

/// IVS's ListStages page bound, kept for ours.
pub const MAX_PAGE: u32 = 100;

fn detail(
    load: &StageLoad,
    active_session_id: Option<String>,
) -> Result<StageDetail, ServiceError> {
    Ok(StageDetail::builder()
        .arn(held_arn(&load.record.arn)?)
        .name(load.record.name.as_str())
        .maybe_active_session_id(active_session_id)
        .tags(load.record.tags.clone())
        .build())
}

impl App {
    async fn session_of(&self, arn: &str) -> Result<Option<String>, ServiceError> {
        match self.ivs.get_stage(arn).await {
            Ok(stage) => Ok(stage.active_session_id),
            Err(IvsError::NotFound(_)) => Err(ServiceError::StageGone { arn: arn.into() }),
            Err(e) => Err(e.into()),
        }
    }

    /// `GET /api/stage/list`: registered stages, oldest first, paginated.
    pub async fn list_stages(
        &self,
        max_results: Option<u32>,
        next_token: Option<&str>,
    ) -> Result<StageList, ServiceError> {
        let max = max_results.unwrap_or(50);
        if !(1..=MAX_PAGE).contains(&max) {
            return Err(Invalid::PageSize { max: MAX_PAGE }.into());
        }
        let start: usize = match next_token {
            None | Some("") => 0,
            Some(t) => t
                .strip_prefix("o")
                .and_then(|n| n.parse().ok())
                .ok_or(Invalid::PageToken)?,
        };
        let stages = self.store.stages().await?;
        let total = stages.len();
        // Saturating: a forged offset near usize::MAX must read as "past the
        // end" (an empty page), not overflow.
        let end = start.saturating_add(max as usize).min(total);
        let page = stages.get(start.min(total)..end).unwrap_or_default();
        let items = page
            .iter()
            .map(|s| {
                Ok(StageListItem::builder()
                    .arn(held_arn(&s.record.arn)?)
                    .name(s.record.name.as_str())
                    .viewer_count(s.viewers)
                    .auto_scaled(s.record.kind.is_auto_scaled())
                    .created_at(Timestamp::from_millis(s.record.created_at))
                    .tags(s.record.tags.clone())
                    .build())
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        Ok(StageList::builder()
            .stages(items)
            .total_stages(total as u32)
            .maybe_next_token((end < total).then(|| format!("o{end}")))
            .timestamp(Timestamp::now())
            .build())
    }

    /// `GET /api/stage/master/info`.
    pub async fn master_info(&self) -> Result<MasterStageInfo, ServiceError> {
        let load = self.registered(&self.current_master().await?).await?;
        let session = self.session_of(&load.record.arn).await?;
        Ok(MasterStageInfo::builder()
            .stage(detail(&load, session)?)
            .viewer_count(load.viewers)
            .timestamp(Timestamp::now())
            .build())
    }

    /// `GET /api/stage/:stageArn`.
    pub async fn stage_info(&self, arn: &StageArn) -> Result<StageInfo, ServiceError> {
        let arn = arn.as_str();
        let load = self.registered(arn).await?;
        let session = self.session_of(arn).await?;
        Ok(StageInfo::builder()
            .stage(detail(&load, session)?)
            .viewer_count(load.viewers)
            .maybe_replication_note(self.ivs.replication_note(arn))
            .timestamp(Timestamp::now())
            .build())
    }

    /// `POST /api/stage`: a managed stage that counts toward the limit but
    /// receives no automatically assigned viewers.
    pub async fn create_stage(
        &self,
        req: CreateStageRequest,
    ) -> Result<CreatedStage, ServiceError> {
        validate::stage_name(&req.name)?;
        let user_tags = req.tags.unwrap_or_default();
        validate::tags(&user_tags)?;
        let mut tags = user_tags;
        tags.extend(self.managed_tags());
        // Under the stage lease, through a creation intent: the limit counts
        // stages being created, and a manual create and an automatic one
        // cannot both take the last slot.
        let holder = self.lease_holder();
        let mut created = None;
        let (name, tags) = (&req.name, &tags);
        for _ in 0..40 {
            let attempt = self
                .with_stage_lease(&holder, |fence| async move {
                    self.create_managed(name, tags, StageKind::Custom, &fence)
                        .await
                })
                .await?;
            if let Some(result) = attempt {
                created = Some(result.map_err(|e| match e {
                    ScaleError::Store(e) => ServiceError::Store(e),
                    ScaleError::Ivs(e) => ServiceError::Ivs(e),
                })?);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let record = match created {
            Some(Created::Stage(record)) => record,
            Some(Created::AtLimit) => {
                return Err(ServiceError::StageLimitReached {
                    max_stages: self.settings.limits.max_stages,
                    all_full: false,
                });
            }
            _ => return Err(ServiceError::StageOperationBusy),
        };
        tracing::info!(stage = %record.arn, "stage created on request");
        Ok(CreatedStage::builder()
            .stage(
                CreatedStageDetail::builder()
                    .arn(held_arn(&record.arn)?)
                    .name(record.name)
                    .tags(record.tags)
                    .build(),
            )
            .timestamp(Timestamp::now())
            .build())
    }

    /// `PUT /api/stage/:stageArn`.
    pub async fn rename_stage(
        &self,
        arn: &StageArn,
        req: UpdateStageRequest,
    ) -> Result<UpdatedStage, ServiceError> {
        let arn = arn.as_str();
        validate::stage_name(&req.name)?;
        self.registered(arn).await?;
        let stage = self.ivs.update_stage(arn, &req.name).await?;
        self.store.rename_stage(arn, &stage.name).await?;
        Ok(UpdatedStage::builder()
            .stage(
                UpdatedStageDetail::builder()
                    .arn(held_arn(&stage.arn)?)
                    .name(stage.name)
                    .build(),
            )
            .timestamp(Timestamp::now())
            .build())
    }

    async fn restore_stage(&self, record: &StageRecord) {
        if let Err(e) = self.store.register_stage(record).await {
            tracing::warn!(error = %e, "could not restore a stage after a failed delete");
        }
    }

    /// `DELETE /api/stage/:stageArn`: never the master, never with viewers.
    pub async fn delete_stage(&self, arn: &StageArn) -> Result<DeletedStage, ServiceError> {
        let arn = arn.as_str();
        let load = self.registered(arn).await?;
        if load.record.kind.is_master() || arn == self.current_master().await? {
            return Err(ServiceError::MasterStageProtected);
        }
        // Stop new viewers first, so the emptiness check below cannot be raced.
        self.store.set_draining(arn, true).await?;
        let current = self.registered(arn).await?;
        if current.viewers > 0 {
            self.restore_stage(&load.record).await;
            return Err(ServiceError::StageHasViewers {
                viewers: current.viewers,
            });
        }
        match self.ivs.delete_stage(arn).await {
            Ok(()) | Err(IvsError::NotFound(_)) => {}
            Err(e) => {
                self.restore_stage(&load.record).await;
                return Err(e.into());
            }
        }
        match self
            .store
            .remove_stage_if_empty(arn, RemovalReason::Deleted)
            .await?
        {
            RemoveOutcome::Removed | RemoveOutcome::Unknown => {}
            RemoveOutcome::NotEmpty(_) => {
                self.store
                    .purge_stage(arn, now_ms(), RemovalReason::Deleted)
                    .await?
            }
            RemoveOutcome::NotDraining | RemoveOutcome::Fenced => {}
        }
        tracing::info!(stage = %arn, "stage deleted on request");
        Ok(DeletedStage::builder()
            .message("Stage 已刪除")
            .timestamp(Timestamp::now())
            .build())
    }
}
