//! The audit log: one entry per change, written in the transaction of the change.

use serde::Serialize;

use crate::model::{Actor, AuditEntry, Page, PageRequest, page_of};
use crate::{Result, Store};

/// An entry to write (see the `audit!` macro).
pub(crate) struct NewAudit {
    pub tenant_id: String,
    pub actor: Actor,
    /// `<target>.<verb>`, e.g. `realm.create`, `credential.revoke`.
    pub action: &'static str,
    pub target_kind: &'static str,
    pub target_id: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

impl NewAudit {
    pub fn new(
        tenant_id: &str,
        actor: &Actor,
        action: &'static str,
        target_kind: &'static str,
        target_id: &str,
    ) -> Self {
        NewAudit {
            tenant_id: tenant_id.to_string(),
            actor: actor.clone(),
            action,
            target_kind,
            target_id: target_id.to_string(),
            before: None,
            after: None,
        }
    }
    pub fn before(mut self, value: &impl Serialize) -> Self {
        self.before = serde_json::to_string(value).ok();
        self
    }
    pub fn after(mut self, value: &impl Serialize) -> Self {
        self.after = serde_json::to_string(value).ok();
        self
    }
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: String,
    tenant_id: String,
    actor_kind: String,
    actor_id: String,
    actor_label: String,
    action: String,
    target_kind: String,
    target_id: String,
    before_json: Option<String>,
    after_json: Option<String>,
    at: i64,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        AuditEntry {
            id: r.id,
            tenant_id: r.tenant_id,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            actor_label: r.actor_label,
            action: r.action,
            target_kind: r.target_kind,
            target_id: r.target_id,
            before: parse(r.before_json),
            after: parse(r.after_json),
            at: r.at,
        }
    }
}

/// An action on something the store does not hold (a router session killed through the admin
/// API, ...), for [`Store::record_action`].
#[derive(Clone, Debug)]
pub struct ActionRecord<'a> {
    pub tenant_id: &'a str,
    /// `<target>.<verb>`, e.g. `session.kill`.
    pub action: &'static str,
    pub target_kind: &'static str,
    pub target_id: &'a str,
    /// What was done, as the entry's `after` (no secrets).
    pub details: serde_json::Value,
}

impl Store {
    /// Writes an audit-log entry for an action that changes nothing in the store (there is no
    /// transaction to share: call it once the action is done).
    pub async fn record_action(&self, actor: &Actor, record: ActionRecord<'_>) -> Result<()> {
        with_tx!(self, |tx| {
            audit!(
                tx,
                NewAudit::new(
                    record.tenant_id,
                    actor,
                    record.action,
                    record.target_kind,
                    record.target_id,
                )
                .after(&record.details)
            );
        });
        Ok(())
    }

    /// The tenant's audit log, oldest first.
    pub async fn list_audit(
        &self,
        tenant_id: &str,
        page: &PageRequest,
    ) -> Result<Page<AuditEntry>> {
        let rows: Vec<AuditRow> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM audit_log WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(tenant_id)
            .bind(page.after())
            .bind(page.fetch())
            .fetch_all(pool)
            .await?
        });
        let entries = rows.into_iter().map(AuditEntry::from).collect();
        Ok(page_of(entries, page, |e: &AuditEntry| &e.id))
    }
}
