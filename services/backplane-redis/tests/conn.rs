//! The connection layer on one Redis (127.0.0.1:6379) and on a throwaway Redis Cluster: Lua
//! scripts and pipelines over one hash tag, runtime (un)subscription, publish routing.

use std::time::Duration;

use junction_backplane_redis::testing::{RedisCluster, unique_prefix};
use junction_backplane_redis::{RedisConfig, RedisConn, Subscriber, SubscriberEvent};
use redis::Script;
use tokio::sync::mpsc;

const PATIENCE: Duration = Duration::from_secs(15);

async fn next(rx: &mut mpsc::Receiver<SubscriberEvent>) -> SubscriberEvent {
    tokio::time::timeout(PATIENCE, rx.recv()).await.expect("an event arrives").expect("subscriber running")
}

async fn scripts_and_pipelines(config: RedisConfig) {
    let conn = RedisConn::start(config).expect("start");
    assert!(conn.wait_connected(PATIENCE).await);
    let n = conn.naming().clone();
    // Two keys of one realm: same tag, same shard, one script.
    let keys = vec![n.realm_key("com.acme", "a"), n.realm_key("com.acme", "b")];
    let script = Script::new("redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[2]); redis.call('PEXPIRE', KEYS[1], 60000); redis.call('PEXPIRE', KEYS[2], 60000); return redis.call('STRLEN', KEYS[1]) + redis.call('STRLEN', KEYS[2])");
    let total: i64 = conn.run_script(&script, &keys, &["one", "three"]).await.expect("script");
    assert_eq!(total, 8);
    let mut pipe = redis::pipe();
    pipe.get(&keys[0]).get(&keys[1]).del(&keys).ignore();
    let (a, b): (String, String) = conn.pipeline(&pipe).await.expect("pipeline");
    assert_eq!((a.as_str(), b.as_str()), ("one", "three"));
    let gone: Option<String> = conn.query(redis::cmd("GET").arg(&keys[0])).await.expect("get");
    assert_eq!(gone, None);
}

async fn runtime_subscriptions(config: RedisConfig) {
    let conn = RedisConn::start(config.clone()).expect("start");
    let n = conn.naming().clone();
    let (first, second) = (n.realm_key("com.acme", "events"), n.realm_key("org.other", "events"));
    let (sub, mut rx) = Subscriber::start(&config, [first.clone()], 16).expect("subscriber");
    let mut health = sub.health();
    assert!(conn.wait_connected(PATIENCE).await);
    tokio::time::timeout(PATIENCE, health.wait_for(|up| *up)).await.expect("in time").expect("subscribed");

    assert_eq!(conn.publish(&first, b"1").await.expect("publish"), 1);
    assert_eq!(next(&mut rx).await, SubscriberEvent::Message { channel: first.clone(), payload: b"1".to_vec() });
    // Not subscribed yet: nobody hears it.
    assert_eq!(conn.publish(&second, b"lost").await.expect("publish"), 0);
    sub.subscribe(second.clone()).await.expect("subscribe at runtime");
    conn.publish(&second, b"2").await.expect("publish");
    assert_eq!(next(&mut rx).await, SubscriberEvent::Message { channel: second.clone(), payload: b"2".to_vec() });
    sub.unsubscribe(first.clone()).await.expect("unsubscribe");
    assert_eq!(conn.publish(&first, b"unheard").await.expect("publish"), 0);
    conn.publish(&second, b"3").await.expect("publish");
    assert_eq!(next(&mut rx).await, SubscriberEvent::Message { channel: second, payload: b"3".to_vec() });
}

/// A consumer that does not keep up loses messages but is told so.
async fn a_slow_consumer_is_told_it_missed_messages(config: RedisConfig) {
    let conn = RedisConn::start(config.clone()).expect("start");
    let channel = conn.naming().realm_key("com.acme", "flood");
    let (sub, mut rx) = Subscriber::start(&config, [channel.clone()], 4).expect("subscriber");
    let mut health = sub.health();
    assert!(conn.wait_connected(PATIENCE).await);
    tokio::time::timeout(PATIENCE, health.wait_for(|up| *up)).await.expect("in time").expect("subscribed");
    // Nothing is read while this floods in: the 4-message channel overflows.
    const FLOOD: usize = 2000;
    for i in 0..FLOOD {
        conn.publish(&channel, i.to_string().as_bytes()).await.expect("publish");
    }
    let mut before_gap = Vec::new();
    loop {
        match next(&mut rx).await {
            SubscriberEvent::Message { payload, .. } => before_gap.push(String::from_utf8(payload).expect("utf-8")),
            SubscriberEvent::Gap(reason) => {
                assert_eq!(reason, junction_backplane_redis::GapReason::Overflow);
                break;
            }
        }
    }
    // What did arrive is in order and without holes; the gap marks where messages were lost.
    let expected: Vec<String> = (0..before_gap.len()).map(|i| i.to_string()).collect();
    assert_eq!(before_gap, expected);
    assert!((4..FLOOD).contains(&before_gap.len()), "{} before the gap", before_gap.len());
}

fn single(label: &str) -> RedisConfig {
    let prefix = unique_prefix(label);
    RedisConfig::single("redis://127.0.0.1:6379").with_client_name(prefix.clone()).with_prefix(prefix)
}

#[tokio::test]
async fn on_one_redis() {
    scripts_and_pipelines(single("conn-script")).await;
    runtime_subscriptions(single("conn-sub")).await;
    a_slow_consumer_is_told_it_missed_messages(single("conn-slow")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster() {
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3)).await.expect("join").expect("redis cluster");
    let config = |label: &str| {
        let prefix = unique_prefix(label);
        cluster.config().with_client_name(prefix.clone()).with_prefix(prefix)
    };
    scripts_and_pipelines(config("cconn-script")).await;
    runtime_subscriptions(config("cconn-sub")).await;
    a_slow_consumer_is_told_it_missed_messages(config("cconn-slow")).await;
}
