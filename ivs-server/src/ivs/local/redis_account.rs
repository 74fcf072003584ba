//! The emulated account in Redis, shared by every local-mode instance that
//! uses the same Redis: N processes then behave like N processes on one AWS
//! account.
//!
//! The keys belong to the account (`ivs-local:{<account>:<region>}:…`), not
//! to a deployment's prefix: two deployments (prefixes) in one emulated
//! account see each other's stages, exactly as on AWS, and must tell theirs
//! apart by tags. Every key shares one hash tag and every script declares
//! its keys, so each call is one atomic step on one cluster slot.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use redis::{Script, Value};

use super::account::{AccountState, Session, StageState, StoredStage, DISCONNECT_MEMORY_MS};
use crate::ivs::IvsError;
use crate::store::redis::RedisStore;
use crate::store::StoreError;

struct Scripts {
    insert: Script,
    get: Script,
    list: Script,
    rename: Script,
    remove: Script,
    publish: Script,
    disconnect: Script,
    disconnected: Script,
    signing_key: Script,
}

impl Scripts {
    fn new() -> Self {
        Scripts {
            insert: Script::new(include_str!("redis/insert.lua")),
            get: Script::new(include_str!("redis/get.lua")),
            list: Script::new(include_str!("redis/list.lua")),
            rename: Script::new(include_str!("redis/rename.lua")),
            remove: Script::new(include_str!("redis/remove.lua")),
            publish: Script::new(include_str!("redis/publish.lua")),
            disconnect: Script::new(include_str!("redis/disconnect.lua")),
            disconnected: Script::new(include_str!("redis/disconnected.lua")),
            signing_key: Script::new(include_str!("redis/signing_key.lua")),
        }
    }
}

/// The account's keys.
struct Keys {
    stages: String,
    sessions: String,
    disconnected: String,
    signing_key: String,
}

/// An emulated account kept in Redis.
pub struct RedisAccount {
    store: Arc<RedisStore>,
    keys: Keys,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAccount")
            .field("stages", &self.keys.stages)
            .finish_non_exhaustive()
    }
}

/// The key prefix of an emulated account, `ivs-local:{<account>:<region>}:`.
pub fn account_key_prefix(account: &str, region: &str) -> String {
    format!("ivs-local:{{{account}:{region}}}:")
}

fn unavailable(e: StoreError) -> IvsError {
    IvsError::Unavailable(format!("emulated account in Redis: {e}"))
}

fn corrupt(what: impl std::fmt::Display) -> IvsError {
    IvsError::Other(format!("emulated account in Redis holds bad data: {what}"))
}

fn text(value: &Value) -> Result<String, IvsError> {
    match value {
        Value::BulkString(b) => String::from_utf8(b.clone()).map_err(corrupt),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Nil => Ok(String::new()),
        other => Err(corrupt(format!("expected text, got {other:?}"))),
    }
}

fn int(value: &Value) -> Result<i64, IvsError> {
    match value {
        Value::Int(i) => Ok(*i),
        other => Err(corrupt(format!("expected an integer, got {other:?}"))),
    }
}

fn array(value: Value) -> Result<Vec<Value>, IvsError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(corrupt(format!("expected an array, got {other:?}"))),
    }
}

fn parse_session(raw: &str) -> Option<Session> {
    let (until, id) = raw.split_once(' ')?;
    Some(Session {
        until: until.parse().ok()?,
        id: id.to_string(),
    })
}

fn parse_state(arn: String, stage: &str, session: &str) -> Result<StageState, IvsError> {
    let stage: StoredStage =
        serde_json::from_str(stage).map_err(|e| corrupt(format!("stage {arn}: {e}")))?;
    Ok(StageState {
        arn,
        stage,
        session: parse_session(session),
    })
}

impl RedisAccount {
    /// The account `account`/`region` in the Redis behind `store`.
    pub fn new(store: Arc<RedisStore>, account: &str, region: &str) -> Self {
        let prefix = account_key_prefix(account, region);
        RedisAccount {
            store,
            keys: Keys {
                stages: format!("{prefix}stages"),
                sessions: format!("{prefix}sessions"),
                disconnected: format!("{prefix}disconnected"),
                signing_key: format!("{prefix}signing-key"),
            },
            scripts: Scripts::new(),
        }
    }

    /// The account's token-signing key (PKCS#8 DER): `fresh` if no instance
    /// stored one yet, else the stored one, so every instance's tokens
    /// verify with one public key.
    pub async fn signing_key(&self, fresh: &[u8]) -> Result<Vec<u8>, IvsError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let encoded = b64.encode(fresh);
        let value = self
            .store
            .eval(
                &self.scripts.signing_key,
                &[&self.keys.signing_key],
                &[encoded.as_str().into()],
            )
            .await
            .map_err(unavailable)?;
        b64.decode(text(&value)?)
            .map_err(|e| corrupt(format!("signing key: {e}")))
    }
}

#[async_trait]
impl AccountState for RedisAccount {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn insert(&self, arn: &str, stage: &StoredStage) -> Result<(), IvsError> {
        let json = serde_json::to_string(stage).map_err(corrupt)?;
        self.store
            .eval(
                &self.scripts.insert,
                &[&self.keys.stages],
                &[arn.into(), json.as_str().into()],
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn get(&self, arn: &str) -> Result<Option<StageState>, IvsError> {
        let reply = self
            .store
            .eval(
                &self.scripts.get,
                &[&self.keys.stages, &self.keys.sessions],
                &[arn.into()],
            )
            .await
            .map_err(unavailable)?;
        let items = array(reply)?;
        let (Some(stage), Some(session)) = (items.first(), items.get(1)) else {
            return Err(corrupt("short reply to get"));
        };
        let stage = text(stage)?;
        if stage.is_empty() {
            return Ok(None);
        }
        parse_state(arn.to_string(), &stage, &text(session)?).map(Some)
    }

    async fn list(&self) -> Result<Vec<StageState>, IvsError> {
        let reply = self
            .store
            .eval(
                &self.scripts.list,
                &[&self.keys.stages, &self.keys.sessions],
                &[],
            )
            .await
            .map_err(unavailable)?;
        let mut parts = array(reply)?.into_iter();
        let (Some(stages), Some(sessions)) = (parts.next(), parts.next()) else {
            return Err(corrupt("short reply to list"));
        };
        let sessions = array(sessions)?;
        let mut by_arn = std::collections::HashMap::new();
        for pair in sessions.chunks(2) {
            if let [arn, session] = pair {
                by_arn.insert(text(arn)?, text(session)?);
            }
        }
        let stages = array(stages)?;
        let mut out = Vec::with_capacity(stages.len() / 2);
        for pair in stages.chunks(2) {
            if let [arn, stage] = pair {
                let arn = text(arn)?;
                let session = by_arn.get(&arn).cloned().unwrap_or_default();
                out.push(parse_state(arn, &text(stage)?, &session)?);
            }
        }
        Ok(out)
    }

    async fn rename(&self, arn: &str, name: &str) -> Result<Option<StageState>, IvsError> {
        let reply = self
            .store
            .eval(
                &self.scripts.rename,
                &[&self.keys.stages, &self.keys.sessions],
                &[arn.into(), name.into()],
            )
            .await
            .map_err(unavailable)?;
        let items = array(reply)?;
        match (items.first(), items.get(1)) {
            (Some(stage), Some(session)) => {
                parse_state(arn.to_string(), &text(stage)?, &text(session)?).map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn remove(&self, arn: &str) -> Result<bool, IvsError> {
        let reply = self
            .store
            .eval(
                &self.scripts.remove,
                &[&self.keys.stages, &self.keys.sessions],
                &[arn.into()],
            )
            .await
            .map_err(unavailable)?;
        Ok(int(&reply)? == 1)
    }

    async fn publish(
        &self,
        arn: &str,
        until: i64,
        now: i64,
        new_id: &str,
    ) -> Result<bool, IvsError> {
        let reply = self
            .store
            .eval(
                &self.scripts.publish,
                &[&self.keys.stages, &self.keys.sessions],
                &[arn.into(), until.into(), now.into(), new_id.into()],
            )
            .await
            .map_err(unavailable)?;
        Ok(int(&reply)? == 1)
    }

    async fn disconnect(
        &self,
        arn: &str,
        participant_id: &str,
        now: i64,
    ) -> Result<bool, IvsError> {
        let reply = self
            .store
            .eval(
                &self.scripts.disconnect,
                &[&self.keys.stages, &self.keys.disconnected],
                &[
                    arn.into(),
                    participant_id.into(),
                    now.into(),
                    DISCONNECT_MEMORY_MS.into(),
                ],
            )
            .await
            .map_err(unavailable)?;
        Ok(int(&reply)? == 1)
    }

    async fn disconnected(&self, arn: &str, now: i64) -> Result<Vec<String>, IvsError> {
        let reply = self
            .store
            .eval(
                &self.scripts.disconnected,
                &[&self.keys.disconnected],
                &[(now - DISCONNECT_MEMORY_MS).into()],
            )
            .await
            .map_err(unavailable)?;
        let mut out = Vec::new();
        for member in array(reply)? {
            let member = text(&member)?;
            if let Some((a, participant)) = member.split_once(' ') {
                if a == arn {
                    out.push(participant.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
