//! The event log's behaviours (part of the store suite: every store).

use std::time::Duration;

use ivs_server::store::events::LoggedEvent;
use ivs_server::store::ViewerStore;

use super::{ARN_A, ARN_B};

/// Records `n` events at times `t0`, `t0 + 1`, … (the publisher on ARN_B
/// going live and offline in turn).
async fn record(s: &dyn ViewerStore, t0: i64, n: i64) {
    for i in 0..n {
        let live = !s.publisher(ARN_B).await.unwrap().is_some_and(|(l, _)| l);
        let changed = s.record_publisher(ARN_B, live, t0 + i).await.unwrap();
        assert!(changed, "flip {i} recorded");
    }
}

fn positions(events: &[LoggedEvent]) -> Vec<String> {
    events.iter().map(|e| e.position.clone()).collect()
}

pub(super) async fn publisher_state_ignores_older_observations(s: &dyn ViewerStore) {
    let log = s.event_log();
    let (start, _) = log.tail(None, 10).await.unwrap();
    assert_eq!(s.publisher(ARN_A).await.unwrap(), None);
    // Offline first: nothing recorded reads as offline, so no change.
    assert!(!s.record_publisher(ARN_A, false, 1_000).await.unwrap());
    assert_eq!(s.publisher(ARN_A).await.unwrap(), Some((false, 1_000)));
    assert!(s.record_publisher(ARN_A, true, 2_000).await.unwrap());
    // Older or equal observations are ignored, whatever they say.
    assert!(!s.record_publisher(ARN_A, false, 1_500).await.unwrap());
    assert!(!s.record_publisher(ARN_A, false, 2_000).await.unwrap());
    assert_eq!(s.publisher(ARN_A).await.unwrap(), Some((true, 2_000)));
    // A newer one with the same state moves the time, records nothing.
    assert!(!s.record_publisher(ARN_A, true, 3_000).await.unwrap());
    assert!(s.record_publisher(ARN_A, false, 4_000).await.unwrap());
    assert_eq!(s.publisher(ARN_A).await.unwrap(), Some((false, 4_000)));
    // Stages are independent.
    assert_eq!(s.publisher(ARN_B).await.unwrap(), None);
    let (_, events) = log.tail(Some(&start), 100).await.unwrap();
    let seen: Vec<(&str, i64)> = events
        .iter()
        .map(|e| (e.event.event_type(), e.event.timestamp.millis()))
        .collect();
    assert_eq!(
        seen,
        [("publisher.live", 2_000), ("publisher.offline", 4_000)]
    );
    let json = serde_json::to_value(&events[0].event).unwrap();
    assert_eq!(json["data"], serde_json::json!({ "stageArn": ARN_A }));
    assert!(
        events[0].event.id.starts_with("evt_"),
        "{}",
        events[0].event.id
    );
    assert_ne!(events[0].event.id, events[1].event.id);
}

pub(super) async fn event_groups_hand_each_event_to_one_consumer(s: &dyn ViewerStore) {
    let log = s.event_log();
    record(s, 10, 2).await;
    // A new group starts at the end: what came before is not delivered.
    log.create_group("hooks").await.unwrap();
    log.create_group("hooks").await.unwrap();
    assert!(log.read_new("hooks", "c1", 10).await.unwrap().is_empty());
    record(s, 20, 5).await;
    let first = log.read_new("hooks", "c1", 3).await.unwrap();
    let second = log.read_new("hooks", "c2", 10).await.unwrap();
    assert_eq!((first.len(), second.len()), (3, 2));
    assert!(log.read_new("hooks", "c2", 10).await.unwrap().is_empty());
    let all: Vec<i64> = first
        .iter()
        .chain(&second)
        .map(|e| e.event.timestamp.millis())
        .collect();
    assert_eq!(all, [20, 21, 22, 23, 24]);
    // Positions increase; ids are stable across reads of the same entry.
    let mut sorted = positions(&first);
    sorted.extend(positions(&second));
    let (_, tail) = log.tail(Some("0-0"), 100).await.unwrap();
    let tail_last5: Vec<String> = positions(&tail[tail.len() - 5..]);
    assert_eq!(sorted, tail_last5);
    assert_eq!(tail[tail.len() - 1].event.id, second[1].event.id);
    // Another group sees the same events independently.
    log.create_group("audit").await.unwrap();
    record(s, 30, 1).await;
    assert_eq!(log.read_new("audit", "a", 10).await.unwrap().len(), 1);
    assert_eq!(log.read_new("hooks", "c1", 10).await.unwrap().len(), 1);
    // Pending: every unacknowledged event, in log order, with its consumer.
    let pending = log
        .pending("hooks", Duration::ZERO, None, 100)
        .await
        .unwrap();
    assert_eq!(pending.len(), 6);
    assert_eq!(pending[0].consumer, "c1");
    assert_eq!(pending[3].consumer, "c2");
    assert!(pending.iter().all(|p| p.deliveries == 1));
    // Paged by position.
    let page = log
        .pending("hooks", Duration::ZERO, Some(&pending[1].position), 2)
        .await
        .unwrap();
    assert_eq!(positions_of(&page), positions_of(&pending[2..4]));
    log.ack("hooks", &positions(&first)).await.unwrap();
    let left = log
        .pending("hooks", Duration::ZERO, None, 100)
        .await
        .unwrap();
    assert_eq!(positions_of(&left), positions_of(&pending[3..]));
    // The other group is untouched by this one's acks.
    assert_eq!(
        log.pending("audit", Duration::ZERO, None, 100)
            .await
            .unwrap()
            .len(),
        1
    );
    // A group nobody created has nothing pending.
    assert!(log
        .pending("nobody", Duration::ZERO, None, 10)
        .await
        .unwrap()
        .is_empty());
}

fn positions_of(p: &[ivs_server::store::events::PendingEvent]) -> Vec<String> {
    p.iter().map(|p| p.position.clone()).collect()
}

pub(super) async fn claims_take_idle_events_once(s: &dyn ViewerStore) {
    let log = s.event_log();
    log.create_group("g").await.unwrap();
    record(s, 100, 3).await;
    let read = log.read_new("g", "crashed", 10).await.unwrap();
    let wanted = positions(&read);
    // Not idle long enough: nothing is taken, nothing is listed.
    let hour = Duration::from_secs(3600);
    let none = log.claim("g", "c2", hour, &wanted).await.unwrap();
    assert!(none.events.is_empty() && none.trimmed.is_empty());
    assert!(log.pending("g", hour, None, 10).await.unwrap().is_empty());
    let min = Duration::from_millis(500);
    tokio::time::sleep(min + Duration::from_millis(100)).await;
    let idle = log.pending("g", min, None, 10).await.unwrap();
    assert_eq!(idle.len(), 3);
    assert!(idle.iter().all(|p| p.idle >= min));
    // Two instances claim at once: each event goes to exactly one.
    let (a, b) = tokio::join!(
        log.claim("g", "c2", min, &wanted),
        log.claim("g", "c3", min, &wanted)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut got = positions(&a.events);
    got.extend(positions(&b.events));
    got.sort();
    assert_eq!(got, wanted);
    // A claim restarts the idle time and counts a delivery.
    let after = log.pending("g", Duration::ZERO, None, 10).await.unwrap();
    assert!(after.iter().all(|p| p.deliveries == 2), "{after:?}");
    assert!(after.iter().all(|p| p.idle < min), "{after:?}");
    assert!(after.iter().all(|p| p.consumer != "crashed"));
    // The claimed events are the same events (same ids).
    let by_pos = |p: &str| {
        read.iter()
            .find(|e| e.position == p)
            .unwrap()
            .event
            .id
            .clone()
    };
    for e in a.events.iter().chain(&b.events) {
        assert_eq!(e.event.id, by_pos(&e.position));
    }
    log.ack("g", &wanted).await.unwrap();
    assert!(log
        .pending("g", Duration::ZERO, None, 10)
        .await
        .unwrap()
        .is_empty());
    // Claiming what is no longer pending takes nothing.
    let again = log.claim("g", "c4", Duration::ZERO, &wanted).await.unwrap();
    assert!(again.events.is_empty() && again.trimmed.is_empty());
}

pub(super) async fn tail_follows_from_now_on_in_pages(s: &dyn ViewerStore) {
    let log = s.event_log();
    record(s, 200, 2).await;
    let (now, none) = log.tail(None, 10).await.unwrap();
    assert!(none.is_empty());
    // Following from an empty point gives nothing new, at the same place.
    let (same, none) = log.tail(Some(&now), 10).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(same, now);
    record(s, 300, 5).await;
    let (p1, page1) = log.tail(Some(&now), 2).await.unwrap();
    let (p2, page2) = log.tail(Some(&p1), 2).await.unwrap();
    let (p3, page3) = log.tail(Some(&p2), 2).await.unwrap();
    let times: Vec<i64> = page1
        .iter()
        .chain(&page2)
        .chain(&page3)
        .map(|e| e.event.timestamp.millis())
        .collect();
    assert_eq!(times, [300, 301, 302, 303, 304]);
    assert_eq!(p3, page3[0].position);
    assert_eq!(log.backlog().await.unwrap(), 7);
}
