//! The Redis change feed against a real Redis on 127.0.0.1:6379 and on a throwaway Redis
//! Cluster. Each test uses its own key prefix and client name, so tests run concurrently on one
//! Redis without seeing each other (and nothing is flushed).

use std::time::{Duration, Instant};

use junction_backplane_redis::testing::{RedisCluster, kill_clients_named, unique_prefix};
use junction_backplane_redis::{RedisConfig, RedisFeed};
use junction_changefeed::{Change, ChangeFeed, ChangeReceiver, FeedError, Received};

/// A guard against hanging forever, not a speed check (latency is measured by the
/// `feed_latency` example).
const PATIENCE: Duration = Duration::from_secs(15);

fn single(label: &str) -> RedisConfig {
    let prefix = unique_prefix(label);
    RedisConfig::single("redis://127.0.0.1:6379").with_client_name(prefix.clone()).with_prefix(prefix)
}

async fn ready_feed(config: &RedisConfig) -> RedisFeed {
    let feed = RedisFeed::start(config).expect("feed starts");
    assert!(feed.wait_ready(PATIENCE).await, "feed connected and subscribed");
    feed
}

async fn next(rx: &mut ChangeReceiver) -> Received {
    tokio::time::timeout(PATIENCE, rx.recv()).await.expect("a change arrives")
}

fn role_updated(i: usize) -> Change {
    Change::RoleUpdated { realm: "com.acme".into(), role: format!("role{i}") }
}

/// Two pods: each sees its own and the other's changes, in publication order.
async fn two_pods_see_each_others_changes(config: RedisConfig) {
    let (a, b) = (ready_feed(&config).await, ready_feed(&config).await);
    let (mut rx_a, mut rx_b) = (a.subscribe(), b.subscribe());
    let c1 = role_updated(1);
    let c2 = Change::CredentialRevoked { realm: "com.acme".into(), authid: "app1".into() };
    a.publish(c1.clone()).await.expect("publish on a");
    b.publish(c2.clone()).await.expect("publish on b");
    for rx in [&mut rx_a, &mut rx_b] {
        assert_eq!(next(rx).await, Received::Change(c1.clone()));
        assert_eq!(next(rx).await, Received::Change(c2.clone()));
    }
    // Another deployment (another prefix) on the same Redis hears nothing of it.
    let other = ready_feed(&config.clone().with_prefix(unique_prefix("other"))).await;
    let mut rx_other = other.subscribe();
    a.publish(role_updated(3)).await.expect("publish");
    assert_eq!(next(&mut rx_a).await, Received::Change(role_updated(3)));
    other.publish(role_updated(4)).await.expect("publish");
    assert_eq!(next(&mut rx_other).await, Received::Change(role_updated(4)), "not role3 from the other prefix");
}

/// The subscriber's connection is killed: listeners get `Lagged` once it is back, then changes
/// again.
async fn a_killed_subscription_reports_lagged_then_resumes(config: RedisConfig, ports: &[u16]) {
    let (a, b) = (ready_feed(&config).await, ready_feed(&config).await);
    let mut rx_b = b.subscribe();
    a.publish(role_updated(1)).await.expect("publish");
    assert_eq!(next(&mut rx_b).await, Received::Change(role_updated(1)));

    // Both feeds share the client name: kill both subscriptions, as a Redis restart would.
    let mut killed = 0;
    for &port in ports {
        killed += kill_clients_named(port, &format!("{}-sub", config.client_name)).expect("CLIENT KILL");
    }
    assert!(killed >= 2, "killed {killed} subscriber connections");
    assert_eq!(next(&mut rx_b).await, Received::Lagged);
    // `Lagged` comes once the subscription is back: a change published now is not missed.
    let mut rx_a = a.subscribe();
    assert!(a.wait_ready(PATIENCE).await);
    a.publish(role_updated(2)).await.expect("publish after the reconnect");
    assert_eq!(next(&mut rx_b).await, Received::Change(role_updated(2)));
    // a's listener subscribed after a's own gap (or before it: then it sees Lagged first).
    match next(&mut rx_a).await {
        Received::Lagged => assert_eq!(next(&mut rx_a).await, Received::Change(role_updated(2))),
        other => assert_eq!(other, Received::Change(role_updated(2))),
    }
}

/// Publishing while Redis is unreachable fails at once with `Unavailable`.
async fn publish_without_redis_is_unavailable(config: RedisConfig) {
    let feed = RedisFeed::start(&config).expect("starts without Redis");
    for _ in 0..3 {
        let started = Instant::now();
        let result = tokio::time::timeout(PATIENCE, feed.publish(role_updated(1))).await.expect("publish returns");
        assert!(matches!(result, Err(FeedError::Unavailable(_))), "{result:?}");
        // Nothing is queued or retried: the caller is told at once.
        assert!(started.elapsed() < Duration::from_secs(1), "took {:?}", started.elapsed());
    }
    assert!(!*feed.health().borrow());
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
    // dropped here: nothing listens on it any more
}

#[tokio::test]
async fn two_pods_on_one_redis() {
    two_pods_see_each_others_changes(single("feed-two")).await;
}

#[tokio::test]
async fn killed_subscription_on_one_redis() {
    a_killed_subscription_reports_lagged_then_resumes(single("feed-kill"), &[6379]).await;
}

#[tokio::test]
async fn unreachable_redis() {
    publish_without_redis_is_unavailable(RedisConfig::single(format!("redis://127.0.0.1:{}", closed_port()))).await;
    publish_without_redis_is_unavailable(RedisConfig::cluster([format!("redis://127.0.0.1:{}", closed_port())])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_on_a_redis_cluster() {
    let cluster = tokio::task::spawn_blocking(|| RedisCluster::start(3)).await.expect("join").expect("redis cluster");
    let config = |label: &str| {
        let prefix = unique_prefix(label);
        cluster.config().with_client_name(prefix.clone()).with_prefix(prefix)
    };
    two_pods_see_each_others_changes(config("cfeed-two")).await;
    a_killed_subscription_reports_lagged_then_resumes(config("cfeed-kill"), cluster.ports()).await;
}
