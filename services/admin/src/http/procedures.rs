//! Dynamic authenticators (per realm) and authorizers (per role): a tenant procedure the
//! router calls, registered in the realm itself or in another realm of the same tenant.

use junction_store::ProcedureRef;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::uris::check_uri;
use crate::error::{ApiError, Violations};
use crate::state::AppState;

/// A procedure the router calls: `{"procedure": "com.acme.authenticate", "realm": "com.acme.auth"}`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Procedure {
    /// The procedure URI (exact).
    pub procedure: String,
    /// URI of the realm, of the same tenant, where the procedure is registered; absent or
    /// null = this realm.
    #[serde(default)]
    pub realm: Option<String>,
}

impl From<Procedure> for ProcedureRef {
    fn from(p: Procedure) -> Self {
        ProcedureRef { procedure: p.procedure, realm: p.realm }
    }
}

impl From<ProcedureRef> for Procedure {
    fn from(p: ProcedureRef) -> Self {
        Procedure { procedure: p.procedure, realm: p.realm }
    }
}

/// For PATCH fields: absent = `None` (unchanged), `null` = `Some(None)` (clear).
pub(crate) fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The URI checks of a procedure given in `field`.
pub(crate) fn check(v: &mut Violations, field: &str, p: Option<&Procedure>) {
    let Some(p) = p else { return };
    v.check(&format!("{field}.procedure"), check_uri(&p.procedure));
    if let Some(realm) = &p.realm {
        v.check(&format!("{field}.realm"), check_uri(realm));
    }
}

/// Checks that the procedure's realm is one of the tenant's (after [`check`] passed). The
/// message is the same whether the realm belongs to another tenant or does not exist.
pub(crate) async fn check_realm(state: &AppState, tenant_id: &str, field: &str, p: Option<&Procedure>) -> Result<(), ApiError> {
    let Some(realm) = p.and_then(|p| p.realm.as_deref()) else { return Ok(()) };
    match state.store.tenant_realm_by_uri(tenant_id, realm).await {
        Ok(_) => Ok(()),
        Err(junction_store::StoreError::NotFound) => {
            Err(ApiError::field(format!("{field}.realm"), "must be the URI of a realm of this tenant"))
        }
        Err(e) => Err(e.into()),
    }
}
