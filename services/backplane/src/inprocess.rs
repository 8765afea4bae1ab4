//! The in-process backplane: the pods of one process share a hub. With one pod it is the
//! embedded default; with several it runs multi-pod routing in one test process.
//!
//! The hub keeps each realm's registry (from which late joiners get a snapshot, so no log
//! is retained) and one ordered channel per (pod, realm) carrying log entries and messages
//! alike; a task per channel hands them to the pod's sink, so nothing ever calls into a
//! pod while holding another pod's lock.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::registry::Registry;
use crate::{Backplane, BackplaneError, Entry, MessageCounts, PodId, RealmSink};

enum Delivery {
    Entry(Bytes),
    Message(PodId, Bytes),
}

struct HubRealm {
    registry: Registry,
    members: HashMap<PodId, mpsc::UnboundedSender<Delivery>>,
}

#[derive(Default)]
struct HubState {
    realms: HashMap<String, HubRealm>,
    pods: Vec<PodId>,
    counters: HashMap<String, MessageCounts>,
}

/// Pods of one process, sharing realms.
#[derive(Default)]
pub struct InProcessHub {
    state: Mutex<HubState>,
}

impl InProcessHub {
    pub fn new() -> Arc<Self> {
        Arc::new(InProcessHub::default())
    }

    /// A new pod on this hub.
    pub fn pod(self: &Arc<Self>) -> Arc<InProcessBackplane> {
        let mut pod = rand::random::<u64>() >> 11;
        let mut state = self.state.lock();
        while pod == 0 || state.pods.contains(&pod) {
            pod = rand::random::<u64>() >> 11;
        }
        state.pods.push(pod);
        Arc::new(InProcessBackplane { hub: self.clone(), pod })
    }

    /// Make a pod vanish as if its process died: nothing reaches it any more and its
    /// heartbeat stops (the other pods reap it).
    pub fn kill(&self, pod: PodId) {
        let mut state = self.state.lock();
        state.pods.retain(|p| *p != pod);
        for realm in state.realms.values_mut() {
            realm.members.remove(&pod);
        }
    }
}

pub struct InProcessBackplane {
    hub: Arc<InProcessHub>,
    pod: PodId,
}

impl InProcessBackplane {
    fn is_member(&self) -> bool {
        self.hub.state.lock().pods.contains(&self.pod)
    }
}

#[async_trait]
impl Backplane for InProcessBackplane {
    fn pod(&self) -> PodId {
        self.pod
    }

    async fn open(&self, realm: &str, sink: Arc<dyn RealmSink>) -> Result<(), BackplaneError> {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let snapshot = {
            let mut state = self.hub.state.lock();
            if !state.pods.contains(&self.pod) {
                return Err(BackplaneError::Unavailable("pod is no longer on the hub".into()));
            }
            let entry = state
                .realms
                .entry(realm.to_owned())
                .or_insert_with(|| HubRealm { registry: Registry::new(realm), members: HashMap::new() });
            entry.members.insert(self.pod, tx);
            entry.registry.to_ops(None).iter().map(|op| crate::encode_entry(0, 0, op)).collect()
        };
        // The snapshot is taken under the hub lock, and every later entry is queued to this
        // pod under the same lock, so nothing is missed or seen twice.
        sink.reset(snapshot, false);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut entries = Vec::new();
                let mut next = Some(first);
                while let Some(d) = next.take().or_else(|| rx.try_recv().ok()) {
                    match d {
                        Delivery::Entry(e) => entries.push(e),
                        Delivery::Message(from, frame) => {
                            if !entries.is_empty() {
                                sink.entries(std::mem::take(&mut entries));
                            }
                            sink.deliver(from, frame);
                        }
                    }
                }
                if !entries.is_empty() {
                    sink.entries(entries);
                }
            }
        });
        Ok(())
    }

    async fn append(&self, realm: &str, entry: Bytes) -> Result<(), BackplaneError> {
        let decoded: Entry = rmp_serde::from_slice(&entry).map_err(|e| BackplaneError::Protocol(e.to_string()))?;
        let mut state = self.hub.state.lock();
        if !state.pods.contains(&self.pod) {
            return Err(BackplaneError::Unavailable("pod is no longer on the hub".into()));
        }
        let Some(r) = state.realms.get_mut(realm) else {
            return Err(BackplaneError::Protocol(format!("realm {realm} was not opened")));
        };
        r.registry.apply(&decoded.op);
        for tx in r.members.values() {
            let _ = tx.send(Delivery::Entry(entry.clone()));
        }
        Ok(())
    }

    fn send(&self, realm: &str, to: PodId, frame: Bytes) {
        if !self.is_member() {
            return;
        }
        let state = self.hub.state.lock();
        match state.realms.get(realm).and_then(|r| r.members.get(&to)) {
            Some(tx) => {
                let _ = tx.send(Delivery::Message(self.pod, frame));
            }
            None => tracing::debug!(realm, to, "message for a pod that is gone dropped"),
        }
    }

    async fn live_pods(&self) -> Result<Vec<PodId>, BackplaneError> {
        Ok(self.hub.state.lock().pods.clone())
    }

    fn ready(&self) -> bool {
        true
    }

    async fn add_counters(&self, realm: &str, counts: MessageCounts) -> Result<(), BackplaneError> {
        let mut state = self.hub.state.lock();
        let total = state.counters.entry(realm.to_owned()).or_default();
        total.messages_in += counts.messages_in;
        total.messages_out += counts.messages_out;
        Ok(())
    }

    async fn counters(&self, realm: &str) -> Result<MessageCounts, BackplaneError> {
        Ok(self.hub.state.lock().counters.get(realm).copied().unwrap_or_default())
    }
}
