//! The local IVS emulator behaves the same whether its account lives in the
//! process or in Redis, and over Redis several emulators (one per server
//! process) are one account: they see each other's stages and sessions and
//! sign with one key.

use std::sync::Arc;
use std::time::Duration;

use ivs_client::model::{Capability, Tags};
use ivs_server::ivs::local::redis_account::RedisAccount;
use ivs_server::ivs::local::LocalIvs;
use ivs_server::ivs::token::TokenSigner;
use ivs_server::ivs::{IvsBackend, IvsError, TokenSpec};
use ivs_server::store::redis::RedisStore;
use ivs_test_support::redis_server::RedisServer;

const REGION: &str = "ap-northeast-1";
const ACCOUNT: &str = "123456789012";
const KID: &str = "arn:aws:ivs:ap-northeast-1:123456789012:public-key/local";

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn token_spec(arn: &str, caps: Vec<Capability>) -> TokenSpec {
    TokenSpec {
        stage_arn: arn.to_string(),
        user_id: "viewer-a".into(),
        participant_id: "p1".into(),
        attributes: Default::default(),
        capabilities: caps,
        duration: Duration::from_secs(600),
    }
}

async fn redis_emulator(redis: &RedisServer, prefix: &str) -> LocalIvs {
    let store = Arc::new(RedisStore::connect(&redis.url(), prefix).await.unwrap());
    let state = RedisAccount::new(store, ACCOUNT, REGION);
    let key = state
        .signing_key(&TokenSigner::generate_pkcs8().unwrap())
        .await
        .unwrap();
    let signer = TokenSigner::from_pkcs8(&key, KID).unwrap();
    LocalIvs::with_state(REGION, ACCOUNT, signer, Box::new(state))
}

/// Every emulator call's observable behaviour, as IVS behaves.
async fn behaves_like_ivs(ivs: &LocalIvs) {
    let stage = ivs
        .create_stage("stage-a", &tags(&[("ManagedBy", "api-server")]))
        .await
        .unwrap();
    assert!(stage
        .arn
        .starts_with("arn:aws:ivs:ap-northeast-1:123456789012:stage/"));
    assert_eq!(stage.name, "stage-a");
    assert!(stage.active_session_id.is_none());
    assert!(!stage.endpoints.whip.is_empty());

    let got = ivs.get_stage(&stage.arn).await.unwrap();
    assert_eq!(got, stage);
    let listed = ivs.list_stages().await.unwrap();
    assert_eq!(listed, vec![stage.clone()]);

    // Validation as IVS does it.
    assert!(matches!(
        ivs.create_stage("bad name!", &Tags::new()).await,
        Err(IvsError::Validation(_))
    ));
    assert!(matches!(
        ivs.create_stage("x", &tags(&[("aws:reserved", "1")])).await,
        Err(IvsError::Validation(_))
    ));

    let renamed = ivs.update_stage(&stage.arn, "stage-b").await.unwrap();
    assert_eq!(renamed.name, "stage-b");
    assert_eq!(renamed.tags, stage.tags);
    assert_eq!(ivs.get_stage(&stage.arn).await.unwrap().name, "stage-b");

    // A viewer token starts no session; a publisher token does, and a second
    // one keeps the same session.
    ivs.create_token(&token_spec(&stage.arn, vec![Capability::Subscribe]))
        .await
        .unwrap();
    assert!(!ivs.publisher_live(&stage.arn).await.unwrap());
    ivs.create_token(&token_spec(&stage.arn, vec![Capability::Publish]))
        .await
        .unwrap();
    assert!(ivs.publisher_live(&stage.arn).await.unwrap());
    let session = ivs.get_stage(&stage.arn).await.unwrap().active_session_id;
    assert!(session.as_deref().is_some_and(|s| s.starts_with("st-")));
    ivs.create_token(&token_spec(&stage.arn, vec![Capability::Publish]))
        .await
        .unwrap();
    assert_eq!(
        ivs.get_stage(&stage.arn).await.unwrap().active_session_id,
        session
    );

    ivs.disconnect_participant(&stage.arn, "p1").await.unwrap();
    assert_eq!(ivs.disconnected(&stage.arn).await.unwrap(), vec!["p1"]);

    // Gone is gone, for every call.
    ivs.delete_stage(&stage.arn).await.unwrap();
    let missing = |r: &Result<(), IvsError>| matches!(r, Err(IvsError::NotFound(_)));
    assert!(missing(&ivs.get_stage(&stage.arn).await.map(|_| ())));
    assert!(missing(&ivs.delete_stage(&stage.arn).await.map(|_| ())));
    assert!(missing(
        &ivs.update_stage(&stage.arn, "c").await.map(|_| ())
    ));
    assert!(missing(
        &ivs.create_token(&token_spec(&stage.arn, vec![Capability::Subscribe]))
            .await
            .map(|_| ())
    ));
    assert!(missing(&ivs.disconnect_participant(&stage.arn, "p1").await));
    assert!(!ivs.publisher_live(&stage.arn).await.unwrap());
    assert!(ivs.list_stages().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_in_process_account_behaves_like_ivs() {
    let ivs = LocalIvs::generate(REGION, ACCOUNT).unwrap();
    behaves_like_ivs(&ivs).await;
}

#[tokio::test]
async fn the_redis_account_behaves_like_ivs() {
    let redis = RedisServer::start();
    let ivs = redis_emulator(&redis, "ivs:").await;
    behaves_like_ivs(&ivs).await;
}

#[tokio::test]
async fn emulators_on_one_redis_are_one_account() {
    let redis = RedisServer::start();
    // Two deployments (prefixes) and two processes' emulators: one account.
    let a = redis_emulator(&redis, "one:").await;
    let b = redis_emulator(&redis, "two:").await;
    let stage = a.create_stage("shared", &Tags::new()).await.unwrap();
    assert_eq!(b.get_stage(&stage.arn).await.unwrap().name, "shared");
    b.update_stage(&stage.arn, "renamed").await.unwrap();
    assert_eq!(a.get_stage(&stage.arn).await.unwrap().name, "renamed");

    // A publisher token minted through one starts the session the other sees.
    a.create_token(&token_spec(&stage.arn, vec![Capability::Publish]))
        .await
        .unwrap();
    assert!(b.publisher_live(&stage.arn).await.unwrap());

    // Both sign with the account's one key.
    assert_eq!(a.signer().public_key_point(), b.signer().public_key_point());

    b.delete_stage(&stage.arn).await.unwrap();
    assert!(matches!(
        a.get_stage(&stage.arn).await,
        Err(IvsError::NotFound(_))
    ));
}

#[tokio::test]
async fn a_redis_account_answers_unavailable_while_redis_is_down() {
    let mut redis = RedisServer::start();
    let ivs = redis_emulator(&redis, "ivs:").await;
    let stage = ivs.create_stage("s", &Tags::new()).await.unwrap();
    redis.kill();
    assert!(matches!(
        ivs.get_stage(&stage.arn).await,
        Err(IvsError::Unavailable(_))
    ));
    redis.restart();
    // The account had no persistence: it comes back empty, not broken.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match ivs.get_stage(&stage.arn).await {
            Err(IvsError::NotFound(_)) => break,
            other => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no recovery: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
