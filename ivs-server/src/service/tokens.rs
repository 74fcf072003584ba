//! Participant tokens: the publisher's, and a viewer's (which is also its join).

use std::time::Duration;

use ivs_api::{Capability, PublisherToken, TokenRequest, ViewerToken};

use super::validate;
use super::{held_arn, now_ms, App, Invalid, ScaleResult, ServiceError};
use crate::ivs::rules::{random_id, ID_LEN, PUBLISHER_PREFIX, VIEWER_PREFIX};
use crate::ivs::{IvsError, ParticipantToken, TokenSpec};
use crate::metrics::Metrics;
use crate::store::{JoinOutcome, JoinRequest};

/// How long a viewer waits for another instance's stage creation when every
/// stage is full, before getting `STAGE_FULL`.
const FULL_WAIT: Duration = Duration::from_secs(2);

fn token_error(err: IvsError) -> ServiceError {
    match err {
        IvsError::Unavailable(_) | IvsError::NotFound(_) => ServiceError::Ivs(err),
        other => ServiceError::Token(other),
    }
}

impl App {
    /// `POST /api/token/publisher`.
    pub async fn publisher_token(&self, req: TokenRequest) -> Result<PublisherToken, ServiceError> {
        req.user_id.fits_publisher()?;
        let attributes = req.attributes.unwrap_or_default();
        validate::attributes(&attributes)?;
        let stage_arn = match req.stage_arn {
            Some(arn) => self.registered(arn.as_str()).await?.record.arn,
            None => self.current_master().await?,
        };
        let spec = TokenSpec {
            stage_arn: stage_arn.clone(),
            user_id: format!("{PUBLISHER_PREFIX}{}", req.user_id),
            participant_id: random_id(ID_LEN),
            attributes: attributes.clone(),
            capabilities: vec![Capability::Publish],
            duration: self.settings.limits.publisher_token_ttl,
        };
        let token = self.ivs.create_token(&spec).await.map_err(token_error)?;
        tracing::info!(stage = %stage_arn, participant = %token.participant_id, "publisher token issued");
        Ok(PublisherToken::builder()
            .token(token.token)
            .participant_id(token.participant_id)
            .stage_arn(held_arn(&stage_arn)?)
            .user_id(spec.user_id)
            .expires_at(token.expires_at)
            .capabilities(spec.capabilities)
            .attributes(attributes)
            .build())
    }

    /// `POST /api/token/viewer`: counts the viewer on a stage, then mints its token.
    pub async fn viewer_token(&self, req: TokenRequest) -> Result<ViewerToken, ServiceError> {
        if req.stage_arn.is_some() {
            return Err(Invalid::ViewerStageArn.into());
        }
        let attributes = req.attributes.unwrap_or_default();
        validate::attributes(&attributes)?;
        let limits = self.settings.limits;
        let participant_id = random_id(ID_LEN);
        // When IVS picks the token's participant id, viewer.joined waits for
        // it: the event then names the id the viewer holds, and a join undone
        // because no token came says nothing at all.
        let announce = self.ivs.keeps_participant_id();
        let give_up_at = tokio::time::Instant::now() + FULL_WAIT;
        let mut vanished = 0u32;
        loop {
            let join = JoinRequest {
                user_id: req.user_id.to_string(),
                participant_id: participant_id.clone(),
                now: now_ms(),
                capacity: limits.viewers_per_stage,
                scale_up_at: limits.scale_up_threshold,
                announce,
            };
            match self.store.join(&join).await? {
                JoinOutcome::Joined {
                    stage_arn,
                    viewers,
                    rejoined,
                    needs_stage,
                } => {
                    if needs_stage {
                        self.spawn_scale_up();
                    }
                    let token = match self
                        .mint_viewer_token(
                            req.user_id.as_str(),
                            &stage_arn,
                            &participant_id,
                            &attributes,
                        )
                        .await
                    {
                        Ok(token) => token,
                        Err(err) => {
                            if !rejoined {
                                // Undo the count: a viewer without a token watches nothing.
                                if let Err(e) = self
                                    .store
                                    .forget(req.user_id.as_str(), &stage_arn, announce)
                                    .await
                                {
                                    tracing::warn!(error = %e, "could not undo a failed join");
                                }
                            }
                            // A stage deleted out of band: forget it at once
                            // (IVS confirms) and place the viewer elsewhere.
                            if let MintError::StageGone(api) = err {
                                vanished += 1;
                                let master = stage_arn == self.master_arn();
                                match self.forget_if_gone(&stage_arn, master).await {
                                    Ok(true) if vanished <= 3 => continue,
                                    _ => return Err(api),
                                }
                            }
                            return Err(err.into_error());
                        }
                    };
                    if !rejoined {
                        Metrics::inc(&self.metrics.joins);
                    }
                    let announce_now = !rejoined && !announce;
                    if announce_now || token.participant_id != participant_id {
                        self.store
                            .set_participant(
                                req.user_id.as_str(),
                                &stage_arn,
                                &token.participant_id,
                                announce_now,
                            )
                            .await?;
                    }
                    return Ok(ViewerToken::builder()
                        .token(token.token)
                        .participant_id(token.participant_id)
                        .stage_arn(held_arn(&stage_arn)?)
                        .user_id(format!("{VIEWER_PREFIX}{}", req.user_id))
                        .expires_at(token.expires_at)
                        .capabilities(vec![Capability::Subscribe])
                        .viewer_count(viewers)
                        .attributes(attributes)
                        .build());
                }
                // The scale-up runs as the server's task: a client that goes
                // away does not cut it short; this request only waits for it.
                JoinOutcome::Full => match self.scale_up_and_wait(give_up_at).await {
                    Some(ScaleResult::Added | ScaleResult::Revived) => {}
                    // Room appeared meanwhile (or the limits leave a gap
                    // between capacity and threshold): look again, gently.
                    Some(ScaleResult::NotNeeded) => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Some(ScaleResult::AtLimit) => {
                        return Err(ServiceError::StageLimitReached {
                            max_stages: limits.max_stages,
                            all_full: true,
                        });
                    }
                    Some(ScaleResult::Busy) | None => {
                        if tokio::time::Instant::now() >= give_up_at {
                            return Err(ServiceError::StageFull);
                        }
                        // Another instance is scaling: its stage shows up in
                        // the store, so look again shortly.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
            if tokio::time::Instant::now() >= give_up_at {
                return Err(ServiceError::StageFull);
            }
        }
    }

    async fn mint_viewer_token(
        &self,
        user_id: &str,
        stage_arn: &str,
        participant_id: &str,
        attributes: &ivs_api::Attributes,
    ) -> Result<ParticipantToken, MintError> {
        let spec = TokenSpec {
            stage_arn: stage_arn.to_string(),
            user_id: format!("{VIEWER_PREFIX}{user_id}"),
            participant_id: participant_id.to_string(),
            attributes: attributes.clone(),
            capabilities: vec![Capability::Subscribe],
            duration: self.settings.limits.viewer_token_ttl,
        };
        self.ivs.create_token(&spec).await.map_err(|e| match e {
            IvsError::NotFound(_) => MintError::StageGone(token_error(e)),
            other => MintError::Other(token_error(other)),
        })
    }
}

/// Why a viewer token could not be minted.
enum MintError {
    /// IVS says the stage does not exist.
    StageGone(ServiceError),
    /// Anything else.
    Other(ServiceError),
}

impl MintError {
    fn into_error(self) -> ServiceError {
        match self {
            MintError::StageGone(e) | MintError::Other(e) => e,
        }
    }
}
