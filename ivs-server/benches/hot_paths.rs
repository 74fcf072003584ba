//! Criterion benchmarks of the pure hot functions: token signing, the
//! assignment policy, request validation, and JSON encoding of the large
//! responses. Run with `cargo bench -p ivs-server --bench hot_paths`;
//! results are recorded in docs/performance.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ivs_api::{
    Attributes, Capability, Envelope, StageStats, Stats, Timestamp, TokenRequest, Viewer,
    ViewerList,
};
use ivs_server::ivs::local::LocalIvs;
use ivs_server::ivs::token::{CapabilityClaims, Claims, TokenSigner};
use ivs_server::ivs::{IvsBackend, TokenSpec};
use ivs_server::store::memory::MemoryStore;
use ivs_server::store::{JoinRequest, StageKind, StageRecord, ViewerStore};

fn claims() -> Claims {
    Claims {
        exp: 1_800_000_000,
        iat: 1_799_996_400,
        jti: "obT9s4Qwhy5u".into(),
        user_id: "viewer-viewer-001".into(),
        resource: "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8".into(),
        topic: "sWyAydfRqqF8".into(),
        events_url: "wss://global.events.live-video.net".into(),
        whip_url: "https://abc.global-bm.whip.live-video.net".into(),
        capabilities: CapabilityClaims {
            allow_publish: false,
            allow_subscribe: true,
        },
        attributes: [("displayName".to_string(), "觀眾小華".to_string())].into(),
        version: "1.0".into(),
    }
}

fn token_signing(c: &mut Criterion) {
    let signer =
        TokenSigner::generate("arn:aws:ivs:ap-northeast-1:125371974421:public-key/k").unwrap();
    let claims = claims();
    c.bench_function("token/sign_es384", |b| {
        b.iter(|| signer.sign(black_box(&claims)).unwrap())
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ivs = LocalIvs::generate("ap-northeast-1", "125371974421").unwrap();
    let stage = rt
        .block_on(ivs.create_stage("bench", &Default::default()))
        .unwrap();
    let spec = TokenSpec {
        stage_arn: stage.arn,
        user_id: "viewer-bench".into(),
        participant_id: "obT9s4Qwhy5u".into(),
        attributes: Attributes::new(),
        capabilities: vec![Capability::Subscribe],
        duration: Duration::from_secs(3600),
    };
    c.bench_function("token/local_emulator_create_token", |b| {
        b.iter(|| rt.block_on(ivs.create_token(black_box(&spec))).unwrap())
    });
}

fn assignment(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let store = Arc::new(MemoryStore::new());
    rt.block_on(async {
        for i in 0..20 {
            store
                .register_stage(&StageRecord {
                    arn: format!("arn:aws:ivs:ap-northeast-1:125371974421:stage/stage{i:07}"),
                    name: format!("s{i}"),
                    tags: Default::default(),
                    kind: if i == 0 {
                        StageKind::Master
                    } else {
                        StageKind::AutoScaled
                    },
                    created_at: i,
                    draining: false,
                    revived_at: None,
                })
                .await
                .unwrap();
        }
        // 20 stages at 40 viewers: the policy scans them all on each join.
        for u in 0..800 {
            let req = JoinRequest {
                user_id: format!("seed-{u}"),
                participant_id: "p".into(),
                now: 1,
                capacity: 50,
                scale_up_at: 45,
                announce: true,
            };
            store.join(&req).await.unwrap();
        }
    });
    let mut n = 0u64;
    c.bench_function("store/memory_join_and_forget_20_stages", |b| {
        b.iter(|| {
            n += 1;
            let user = format!("bench-{n}");
            let req = JoinRequest {
                user_id: user.clone(),
                participant_id: "p".into(),
                now: 2,
                capacity: 50,
                scale_up_at: 45,
                announce: true,
            };
            rt.block_on(async {
                if let Ok(ivs_server::store::JoinOutcome::Joined { stage_arn, .. }) =
                    store.join(&req).await
                {
                    store.forget(&user, &stage_arn, true).await.unwrap();
                }
            })
        })
    });
    c.bench_function("store/memory_heartbeat", |b| {
        let arn = "arn:aws:ivs:ap-northeast-1:125371974421:stage/stage0000000";
        let mut t = 10;
        b.iter(|| {
            t += 1;
            rt.block_on(store.heartbeat("seed-0", black_box(arn), t))
                .unwrap()
        })
    });
}

fn validation(c: &mut Criterion) {
    let body = br#"{"userId":"viewer-001","attributes":{"displayName":"\u89c0\u773e\u5c0f\u83ef","level":"VIP"}}"#;
    c.bench_function("request/decode_and_validate_token_request", |b| {
        b.iter(|| {
            // The user id is checked while deserialising (ivs_api::UserId).
            let req: TokenRequest = serde_json::from_slice(black_box(body)).unwrap();
            ivs_server::service::validate::attributes(req.attributes.as_ref().unwrap()).unwrap();
        })
    });
    c.bench_function("request/parse_stage_arn", |b| {
        b.iter(|| {
            black_box("arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8")
                .parse::<ivs_api::StageArn>()
                .unwrap()
        })
    });
}

fn encoding(c: &mut Criterion) {
    let stats = Envelope::ok(
        Stats::builder()
            .total_viewers(900)
            .total_stages(20)
            .is_publisher_live(true)
            .stages(
                (0..20)
                    .map(|i| {
                        StageStats::builder()
                            .arn(
                                format!(
                                    "arn:aws:ivs:ap-northeast-1:125371974421:stage/stage{i:07}"
                                )
                                .parse()
                                .unwrap(),
                            )
                            .name(format!("auto-stage-17608687{i:05}"))
                            .viewer_count(45)
                            .auto_scaled(i > 0)
                            .created_at(Timestamp::from_millis(1_760_868_709_374))
                            .build()
                    })
                    .collect(),
            )
            .timestamp(Timestamp::now())
            .build(),
    );
    c.bench_function("json/stats_20_stages", |b| {
        b.iter(|| serde_json::to_vec(black_box(&stats)).unwrap())
    });
    let list = Envelope::ok(
        ViewerList::builder()
            .stage_arn(
                "arn:aws:ivs:ap-northeast-1:125371974421:stage/sWyAydfRqqF8"
                    .parse()
                    .unwrap(),
            )
            .viewers(
                (0..50)
                    .map(|i| {
                        Viewer::builder()
                            .user_id(format!("viewer-{i:03}").parse().unwrap())
                            .participant_id("obT9s4Qwhy5u")
                            .joined_at(Timestamp::from_millis(1_760_868_709_374))
                            .last_heartbeat(Timestamp::from_millis(1_760_868_739_374))
                            .build()
                    })
                    .collect(),
            )
            .viewer_count(50)
            .timestamp(Timestamp::now())
            .build(),
    );
    c.bench_function("json/viewer_list_50", |b| {
        b.iter(|| serde_json::to_vec(black_box(&list)).unwrap())
    });
}

criterion_group!(benches, token_signing, assignment, validation, encoding);
criterion_main!(benches);
