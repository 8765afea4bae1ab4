//! Cost of an authorization decision (the per-message hot path) and, for scale, of each
//! log-in verification.
//!
//! `cargo bench -p junction-auth --bench authz`
//!
//! The role has 50 rules: 20 exact, 20 prefix (of several lengths), 10 wildcard. The cache
//! holds 500 (realm, role) entries; `cache/*` is what the router pays per message on a hit
//! (snapshot load, two hash lookups, the decision). `rwlock/*` is the same lookup behind a
//! `parking_lot::RwLock` read, for comparison.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use junction_auth::cache::{AuthzCache, LoadError, RuleLoader};
use junction_auth::cra::{ChallengeInfo, CraChallenge, CraSecret, compute_signature};
use junction_auth::cryptosign::{self, CryptosignChallenge, PublicKey};
use junction_auth::jwt::{JwtKey, JwtVerifier};
use junction_auth::ticket::TicketCache;
use junction_auth::{Action, Allow, Disclose, Rule, RuleSet, Secret};
use junction_protocol::MatchPolicy;
use parking_lot::RwLock;

fn rules() -> Vec<Rule> {
    let mut rules = Vec::new();
    for i in 0..20 {
        rules.push(
            Rule::new(format!("com.acme.shop.svc{i}.proc{i}"), MatchPolicy::Exact)
                .allow(Allow { call: true, ..Allow::NONE }),
        );
    }
    for i in 0..10 {
        rules.push(
            Rule::new(format!("com.acme.shop.svc{i}."), MatchPolicy::Prefix)
                .allow(Allow { subscribe: true, ..Allow::NONE }),
        );
        rules.push(
            Rule::new(format!("com.acme.tenant{i}.area.zone{i}."), MatchPolicy::Prefix)
                .allow(Allow::ALL)
                .disclose(Disclose { caller: true, publisher: true }),
        );
    }
    for i in 0..10 {
        rules.push(
            Rule::new(format!("com.acme..device{i}.event"), MatchPolicy::Wildcard)
                .allow(Allow { publish: true, ..Allow::NONE }),
        );
    }
    assert_eq!(rules.len(), 50);
    rules
}

struct Loader;

#[async_trait::async_trait]
impl RuleLoader for Loader {
    async fn load(&self, _realm: &str, _role: &str) -> Result<Option<Vec<Rule>>, LoadError> {
        Ok(Some(rules()))
    }
}

const CASES: [(&str, &str, Action); 4] = [
    ("exact", "com.acme.shop.svc7.proc7", Action::Call),
    ("prefix", "com.acme.tenant3.area.zone3.sensors.temperature", Action::Publish),
    ("wildcard", "com.acme.lyon.device4.event", Action::Publish),
    ("miss", "org.other.thing", Action::Subscribe),
];

fn bench_decide(c: &mut Criterion) {
    let set = RuleSet::compile(rules()).unwrap();
    for (name, uri, action) in CASES {
        c.bench_function(&format!("ruleset/{name}"), |b| b.iter(|| black_box(&set).decide(black_box(uri), action)));
    }

    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let cache = AuthzCache::new(Arc::new(Loader));
    let mut baseline: HashMap<String, HashMap<String, Arc<RuleSet>>> = HashMap::new();
    for r in 0..100 {
        for role in ["anonymous", "user", "backend", "admin", "device"] {
            let realm = format!("com.tenant{r}.realm");
            let set = rt.block_on(cache.load(&realm, role)).unwrap();
            baseline.entry(realm).or_default().insert(role.to_owned(), set);
        }
    }
    let rwlock = RwLock::new(baseline);
    // Two threads (this machine's two cores) deciding at once on the same entry: the case
    // where a shared lock's cache line would bounce. Reported per decision per thread.
    let (_, uri, action) = CASES[1];
    c.bench_function("cache/prefix_2_threads", |b| {
        b.iter_custom(|iters| {
            contended(iters, || {
                cache.try_decide(black_box("com.tenant42.realm"), black_box("backend"), black_box(uri), action)
            })
        })
    });
    c.bench_function("rwlock/prefix_2_threads", |b| {
        b.iter_custom(|iters| {
            contended(iters, || {
                let map = rwlock.read();
                map.get(black_box("com.tenant42.realm"))
                    .and_then(|roles| roles.get(black_box("backend")))
                    .map(|set| set.decide(black_box(uri), action))
            })
        })
    });
    for (name, uri, action) in CASES {
        c.bench_function(&format!("cache/{name}"), |b| {
            b.iter(|| cache.try_decide(black_box("com.tenant42.realm"), black_box("backend"), black_box(uri), action))
        });
        c.bench_function(&format!("rwlock/{name}"), |b| {
            b.iter(|| {
                let map = rwlock.read();
                map.get(black_box("com.tenant42.realm"))
                    .and_then(|roles| roles.get(black_box("backend")))
                    .map(|set| set.decide(black_box(uri), action))
            })
        });
    }
}

fn contended<T>(iters: u64, f: impl Fn() -> T + Sync) -> Duration {
    let start = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..iters {
                    black_box(f());
                }
            });
        }
    });
    start.elapsed()
}

fn bench_login(c: &mut Criterion) {
    let info = ChallengeInfo { authid: "peter", authrole: "user", authprovider: "junction", session: 42 };
    let secret = CraSecret::Plain(Secret::new("secret123"));
    let challenge = CraChallenge::new(info, None);
    let sig = compute_signature(&secret.hmac_key(), challenge.challenge());
    c.bench_function("login/wampcra_verify", |b| b.iter(|| challenge.verify(&secret, black_box(&sig))));

    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let public = PublicKey::from(key.verifying_key());
    let cs = CryptosignChallenge::new();
    let cs_sig = cryptosign::sign(&key, &cs, None);
    c.bench_function("login/cryptosign_verify", |b| b.iter(|| cs.verify(&public, black_box(&cs_sig), None)));

    let hs_secret = Secret::new("a-32-byte-long-shared-secret-xyz");
    let verifier = JwtVerifier::new("com.acme", vec![JwtKey::hs256(None, &hs_secret).unwrap()]);
    let claims = serde_json::json!({"sub": "a", "aud": "com.acme", "exp": jsonwebtoken::get_current_timestamp() + 3600, "role": "r"});
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(hs_secret.as_bytes()),
    )
    .unwrap();
    c.bench_function("login/jwt_hs256_verify", |b| b.iter(|| verifier.verify(black_box(&token), None).unwrap()));

    let now = jsonwebtoken::get_current_timestamp();
    for (name, alg, private, key) in [
        (
            "rs256",
            jsonwebtoken::Algorithm::RS256,
            jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("../tests/fixtures/rsa_private.pem")).unwrap(),
            JwtKey::rs256_pem(None, include_str!("../tests/fixtures/rsa_public.pem")).unwrap(),
        ),
        (
            "eddsa",
            jsonwebtoken::Algorithm::EdDSA,
            jsonwebtoken::EncodingKey::from_ed_pem(include_bytes!("../tests/fixtures/ed25519_private.pem")).unwrap(),
            JwtKey::eddsa_pem(None, include_str!("../tests/fixtures/ed25519_public.pem")).unwrap(),
        ),
    ] {
        let verifier = JwtVerifier::new("com.acme", vec![key]);
        let claims = serde_json::json!({"sub": "a", "aud": "com.acme", "exp": now + 3600, "role": "r"});
        let token = jsonwebtoken::encode(&jsonwebtoken::Header::new(alg), &claims, &private).unwrap();
        c.bench_function(&format!("login/jwt_{name}_verify"), |b| {
            b.iter(|| verifier.verify(black_box(&token), None).unwrap())
        });
    }

    let tickets = TicketCache::default();
    let ticket = Secret::new("a-ticket-of-some-length");
    tickets.remember("realm", "alice", &ticket, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
    c.bench_function("login/ticket_cache_hit", |b| {
        b.iter(|| tickets.is_verified("realm", "alice", &ticket, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = bench_decide, bench_login
}
criterion_main!(benches);
