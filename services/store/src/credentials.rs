//! Credentials with which WAMP clients authenticate to a realm. See
//! [`CredentialMaterial`] for what is stored for each kind and why.

use crate::audit::NewAudit;
use crate::ids::new_id;
use crate::model::*;
use crate::{Result, Secret, Store, StoreError, conflict_on, now_millis};

#[derive(sqlx::FromRow)]
struct CredentialRow {
    id: String,
    realm_id: String,
    kind: String,
    authid: String,
    role: String,
    label: String,
    secret_hash: Option<String>,
    secret: Option<String>,
    salt: Option<String>,
    iterations: Option<i64>,
    keylen: Option<i64>,
    secret_derived: bool,
    public_key: Option<String>,
    algorithm: Option<String>,
    created_at: i64,
    updated_at: i64,
    revoked_at: Option<i64>,
}

fn corrupt(what: &str, id: &str) -> StoreError {
    StoreError::Corrupt(format!("credential {id}: {what}"))
}

impl CredentialRow {
    fn algorithm(&self) -> Result<Option<JwtAlgorithm>> {
        self.algorithm
            .as_deref()
            .map(|a| JwtAlgorithm::parse(a).ok_or_else(|| corrupt("algorithm", &self.id)))
            .transpose()
    }

    fn public(&self) -> Result<Credential> {
        Ok(Credential {
            id: self.id.clone(),
            realm_id: self.realm_id.clone(),
            kind: CredentialKind::parse(&self.kind)?,
            authid: self.authid.clone(),
            role: self.role.clone(),
            label: self.label.clone(),
            salt: self.salt.clone(),
            iterations: self.iterations,
            keylen: self.keylen,
            public_key: self.public_key.clone(),
            algorithm: self.algorithm()?,
            created_at: self.created_at,
            updated_at: self.updated_at,
            revoked_at: self.revoked_at,
        })
    }

    fn into_auth(self) -> Result<AuthCredential> {
        let material = match CredentialKind::parse(&self.kind)? {
            CredentialKind::Ticket => CredentialMaterial::Ticket {
                secret_hash: self
                    .secret_hash
                    .clone()
                    .ok_or_else(|| corrupt("no ticket hash", &self.id))?,
            },
            CredentialKind::Wampcra => CredentialMaterial::Wampcra {
                secret: Secret::new(
                    self.secret
                        .clone()
                        .ok_or_else(|| corrupt("no secret", &self.id))?,
                ),
                salt: self.salt.clone(),
                iterations: self.iterations,
                keylen: self.keylen,
                derived: self.secret_derived,
            },
            CredentialKind::Cryptosign => CredentialMaterial::Cryptosign {
                public_key: self
                    .public_key
                    .clone()
                    .ok_or_else(|| corrupt("no public key", &self.id))?,
            },
            CredentialKind::Jwt => CredentialMaterial::Jwt {
                algorithm: self
                    .algorithm()?
                    .ok_or_else(|| corrupt("no algorithm", &self.id))?,
                secret: self.secret.clone().map(Secret::new),
                public_key: self.public_key.clone(),
            },
        };
        Ok(AuthCredential {
            id: self.id,
            authid: self.authid,
            role: self.role,
            material,
        })
    }
}

/// The columns of a credential's material, in the order of the SQL below.
struct MaterialColumns {
    secret_hash: Option<String>,
    secret: Option<String>,
    salt: Option<String>,
    iterations: Option<i64>,
    keylen: Option<i64>,
    secret_derived: bool,
    public_key: Option<String>,
    algorithm: Option<&'static str>,
}

const CRA_SALTED_PASSWORD: &str =
    "a salted WAMP-CRA secret must be stored as its derived key (derived: true)";
const CRA_UNSALTED_DERIVED: &str = "a derived WAMP-CRA key needs its salt, iterations and keylen";
const CRYPTOSIGN_KEY_TAKEN: &str = "another live credential of the realm has this public key";

impl TryFrom<&CredentialMaterial> for MaterialColumns {
    type Error = StoreError;
    fn try_from(m: &CredentialMaterial) -> Result<Self> {
        let mut c = MaterialColumns {
            secret_hash: None,
            secret: None,
            salt: None,
            iterations: None,
            keylen: None,
            secret_derived: false,
            public_key: None,
            algorithm: None,
        };
        match m {
            CredentialMaterial::Ticket { secret_hash } => c.secret_hash = Some(secret_hash.clone()),
            CredentialMaterial::Wampcra {
                secret,
                salt,
                iterations,
                keylen,
                derived,
            } => {
                let salted = salt.is_some() || iterations.is_some() || keylen.is_some();
                if salted && !derived {
                    return Err(StoreError::Invalid(CRA_SALTED_PASSWORD));
                }
                if *derived && (salt.is_none() || iterations.is_none() || keylen.is_none()) {
                    return Err(StoreError::Invalid(CRA_UNSALTED_DERIVED));
                }
                c.secret = Some(secret.expose().to_string());
                c.salt = salt.clone();
                c.iterations = *iterations;
                c.keylen = *keylen;
                c.secret_derived = *derived;
            }
            CredentialMaterial::Cryptosign { public_key } => {
                c.public_key = Some(public_key.clone())
            }
            CredentialMaterial::Jwt {
                algorithm,
                secret,
                public_key,
            } => {
                c.algorithm = Some(algorithm.as_str());
                c.secret = secret.as_ref().map(|s| s.expose().to_string());
                c.public_key = public_key.clone();
            }
        }
        Ok(c)
    }
}

impl Store {
    pub async fn create_credential(
        &self,
        actor: &Actor,
        realm: &Realm,
        new: NewCredential,
    ) -> Result<Credential> {
        let now = now_millis();
        let m = MaterialColumns::try_from(&new.material)?;
        let credential = Credential {
            id: new_id("crd"),
            realm_id: realm.id.clone(),
            kind: new.material.kind(),
            authid: new.authid,
            role: new.role,
            label: new.label,
            salt: m.salt.clone(),
            iterations: m.iterations,
            keylen: m.keylen,
            public_key: m.public_key.clone(),
            algorithm: match &new.material {
                CredentialMaterial::Jwt { algorithm, .. } => Some(*algorithm),
                _ => None,
            },
            created_at: now,
            updated_at: now,
            revoked_at: None,
        };
        with_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO credentials (id, realm_id, kind, authid, role, label, secret_hash, secret, \
                 salt, iterations, keylen, secret_derived, public_key, algorithm, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(&credential.id)
            .bind(&credential.realm_id)
            .bind(credential.kind.as_str())
            .bind(&credential.authid)
            .bind(&credential.role)
            .bind(&credential.label)
            .bind(&m.secret_hash)
            .bind(&m.secret)
            .bind(&m.salt)
            .bind(m.iterations)
            .bind(m.keylen)
            .bind(m.secret_derived)
            .bind(&m.public_key)
            .bind(m.algorithm)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on("public_key", CRYPTOSIGN_KEY_TAKEN))?;
            audit!(
                tx,
                NewAudit::new(
                    &realm.tenant_id,
                    actor,
                    "credential.create",
                    "credential",
                    &credential.id
                )
                .after(&credential)
            );
        });
        Ok(credential)
    }

    pub async fn list_credentials(
        &self,
        realm: &Realm,
        page: &PageRequest,
    ) -> Result<Page<Credential>> {
        let rows: Vec<CredentialRow> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT * FROM credentials WHERE realm_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(&realm.id)
            .bind(page.after())
            .bind(page.fetch())
            .fetch_all(pool)
            .await?
        });
        let creds = rows
            .iter()
            .map(CredentialRow::public)
            .collect::<Result<Vec<_>>>()?;
        Ok(page_of(creds, page, |c: &Credential| &c.id))
    }

    pub async fn get_credential(&self, realm: &Realm, id: &str) -> Result<Credential> {
        let row: Option<CredentialRow> = with_db!(self, |pool| {
            sqlx::query_as("SELECT * FROM credentials WHERE realm_id = $1 AND id = $2")
                .bind(&realm.id)
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)?.public()
    }

    /// Replaces a live credential's material (a new secret or key of the same kind).
    pub async fn rotate_credential(
        &self,
        actor: &Actor,
        realm: &Realm,
        before: &Credential,
        material: CredentialMaterial,
    ) -> Result<Credential> {
        if before.revoked_at.is_some() {
            return Err(StoreError::Conflict {
                field: "id",
                message: "the credential is revoked".into(),
            });
        }
        if material.kind() != before.kind {
            return Err(StoreError::Conflict {
                field: "kind",
                message: "a credential keeps its kind".into(),
            });
        }
        let m = MaterialColumns::try_from(&material)?;
        let after = Credential {
            salt: m.salt.clone(),
            iterations: m.iterations,
            keylen: m.keylen,
            public_key: m.public_key.clone(),
            algorithm: m.algorithm.and_then(JwtAlgorithm::parse),
            updated_at: now_millis(),
            ..before.clone()
        };
        with_tx!(self, |tx| {
            let done = sqlx::query(
                "UPDATE credentials SET secret_hash = $1, secret = $2, salt = $3, iterations = $4, \
                 keylen = $5, secret_derived = $6, public_key = $7, algorithm = $8, updated_at = $9 \
                 WHERE realm_id = $10 AND id = $11 AND revoked_at IS NULL",
            )
            .bind(&m.secret_hash)
            .bind(&m.secret)
            .bind(&m.salt)
            .bind(m.iterations)
            .bind(m.keylen)
            .bind(m.secret_derived)
            .bind(&m.public_key)
            .bind(m.algorithm)
            .bind(after.updated_at)
            .bind(&realm.id)
            .bind(&before.id)
            .execute(&mut *tx)
            .await
            .map_err(conflict_on("public_key", CRYPTOSIGN_KEY_TAKEN))?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound);
            }
            audit!(
                tx,
                NewAudit::new(
                    &realm.tenant_id,
                    actor,
                    "credential.rotate",
                    "credential",
                    &before.id
                )
                .before(before)
                .after(&after)
            );
        });
        Ok(after)
    }

    /// Revokes a credential: it stays listed, and authenticates nothing. Idempotent.
    pub async fn revoke_credential(
        &self,
        actor: &Actor,
        realm: &Realm,
        before: &Credential,
    ) -> Result<Credential> {
        if before.revoked_at.is_some() {
            return Ok(before.clone());
        }
        let now = now_millis();
        let after = Credential {
            revoked_at: Some(now),
            updated_at: now,
            ..before.clone()
        };
        with_tx!(self, |tx| {
            sqlx::query("UPDATE credentials SET revoked_at = $1, updated_at = $1 WHERE realm_id = $2 AND id = $3")
                .bind(now)
                .bind(&realm.id)
                .bind(&before.id)
                .execute(&mut *tx)
                .await?;
            audit!(
                tx,
                NewAudit::new(
                    &realm.tenant_id,
                    actor,
                    "credential.revoke",
                    "credential",
                    &before.id
                )
                .before(before)
                .after(&after)
            );
        });
        Ok(after)
    }

    pub async fn delete_credential(
        &self,
        actor: &Actor,
        realm: &Realm,
        credential: &Credential,
    ) -> Result<()> {
        delete_audited!(
            self,
            "DELETE FROM credentials WHERE realm_id = $1 AND id = $2",
            &realm.id,
            &credential.id,
            NewAudit::new(
                &realm.tenant_id,
                actor,
                "credential.delete",
                "credential",
                &credential.id
            )
            .before(credential)
        );
        Ok(())
    }

    /// For routers: the live (not revoked) credentials of an authid in a realm, oldest first.
    pub async fn credentials_for_authid(
        &self,
        realm_uri: &str,
        authid: &str,
    ) -> Result<Vec<AuthCredential>> {
        let rows: Vec<CredentialRow> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT c.* FROM credentials c JOIN realms r ON r.id = c.realm_id \
                 WHERE r.uri = $1 AND c.authid = $2 AND c.revoked_at IS NULL ORDER BY c.id",
            )
            .bind(realm_uri)
            .bind(authid)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(CredentialRow::into_auth).collect()
    }

    /// For routers: the live cryptosign credential of a realm with this Ed25519 public key
    /// (hex, either case), for a client that sends its key without an authid. A key names at
    /// most one live credential per realm (the store refuses a second one), so the answer is
    /// never ambiguous. `None` for an unknown realm or key, and for revoked credentials.
    pub async fn credential_by_public_key(
        &self,
        realm_uri: &str,
        public_key_hex: &str,
    ) -> Result<Option<Credential>> {
        let key = public_key_hex.to_ascii_lowercase();
        let row: Option<CredentialRow> = with_db!(self, |pool| {
            // `kind = 'cryptosign' AND revoked_at IS NULL` as in the partial index
            // credentials_cryptosign_key, so that the planner uses it.
            sqlx::query_as(
                "SELECT c.* FROM credentials c JOIN realms r ON r.id = c.realm_id \
                 WHERE r.uri = $1 AND c.kind = 'cryptosign' AND c.revoked_at IS NULL \
                 AND c.public_key = $2 ORDER BY c.id LIMIT 1",
            )
            .bind(realm_uri)
            .bind(&key)
            .fetch_optional(pool)
            .await?
        });
        row.as_ref().map(CredentialRow::public).transpose()
    }

    /// For routers: the live JWT verification keys of a realm (a JWT names its authid inside,
    /// so the router tries the realm's keys, selected by the token's `kid` = credential authid
    /// when present).
    pub async fn jwt_keys(&self, realm_uri: &str) -> Result<Vec<AuthCredential>> {
        let rows: Vec<CredentialRow> = with_db!(self, |pool| {
            sqlx::query_as(
                "SELECT c.* FROM credentials c JOIN realms r ON r.id = c.realm_id \
                 WHERE r.uri = $1 AND c.kind = 'jwt' AND c.revoked_at IS NULL ORDER BY c.id",
            )
            .bind(realm_uri)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(CredentialRow::into_auth).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::{Db, MIGRATOR, NewRealm, NewSignup};

    fn actor() -> Actor {
        Actor {
            kind: ActorKind::System,
            id: "test".into(),
            label: "test".into(),
        }
    }

    async fn store() -> Store {
        let store = Store::connect("sqlite::memory:").await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn realm(store: &Store, slug: &str, uri: &str) -> Realm {
        let (tenant, _) = store
            .signup(NewSignup {
                tenant_slug: slug.into(),
                tenant_name: slug.into(),
                plan: "free".into(),
                limits: TenantLimits::free(),
                email: format!("{slug}@test.test"),
                password_hash: "x".into(),
            })
            .await
            .unwrap();
        store
            .create_realm(
                &actor(),
                &tenant.id,
                NewRealm {
                    uri: uri.into(),
                    allow_anonymous: false,
                    anonymous_role: "anonymous".into(),
                    token_key: Secret::new("k"),
                    authenticator: None,
                },
            )
            .await
            .unwrap()
    }

    fn cra(secret: &str, salt: Option<&str>, derived: bool) -> CredentialMaterial {
        CredentialMaterial::Wampcra {
            secret: Secret::new(secret),
            salt: salt.map(str::to_string),
            iterations: salt.map(|_| 1000),
            keylen: salt.map(|_| 32),
            derived,
        }
    }

    fn new_cred(authid: &str, material: CredentialMaterial) -> NewCredential {
        NewCredential {
            authid: authid.into(),
            role: "r".into(),
            label: String::new(),
            material,
        }
    }

    fn cryptosign(key: &str) -> CredentialMaterial {
        CredentialMaterial::Cryptosign {
            public_key: key.into(),
        }
    }

    #[tokio::test]
    async fn salted_wampcra_secrets_are_stored_as_derived_keys_only() {
        let store = store().await;
        let realm = realm(&store, "cra", "com.cra").await;
        store
            .create_credential(
                &actor(),
                &realm,
                new_cred("salted", cra("derived-key", Some("salt"), true)),
            )
            .await
            .unwrap();
        store
            .create_credential(
                &actor(),
                &realm,
                new_cred("plain", cra("plain-secret", None, false)),
            )
            .await
            .unwrap();
        let found = store
            .credentials_for_authid("com.cra", "salted")
            .await
            .unwrap();
        assert_eq!(found[0].material, cra("derived-key", Some("salt"), true));
        let found = store
            .credentials_for_authid("com.cra", "plain")
            .await
            .unwrap();
        assert_eq!(found[0].material, cra("plain-secret", None, false));

        // A salted password, or a derived key without its parameters, is refused.
        for bad in [cra("password", Some("salt"), false), cra("key", None, true)] {
            let err = store
                .create_credential(&actor(), &realm, new_cred("bad", bad))
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
        }
        assert!(
            store
                .credentials_for_authid("com.cra", "bad")
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn salted_secrets_written_before_the_migration_read_as_passwords() {
        // A database at the first migration, holding a salted WAMP-CRA password.
        let store = Store::connect("sqlite::memory:").await.unwrap();
        let first = sqlx::migrate::Migrator {
            migrations: Cow::Owned(MIGRATOR.migrations[..1].to_vec()),
            ..sqlx::migrate::Migrator::DEFAULT
        };
        let Db::Sqlite(pool) = &store.db else {
            unreachable!()
        };
        first.run(pool).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO tenants VALUES ('ten_1', 'old', 'Old', 'free', 1, 1, 1, 1, 0, 0);
             INSERT INTO realms VALUES ('rlm_1', 'ten_1', 'com.old', FALSE, 'anonymous', 'k', 0, 0);
             INSERT INTO credentials (id, realm_id, kind, authid, role, secret, salt, iterations, keylen, created_at, updated_at)
             VALUES ('crd_1', 'rlm_1', 'wampcra', 'legacy', 'r', 'the-password', 'salt', 1000, 32, 0, 0);",
        )
        .execute(pool)
        .await
        .unwrap();
        store.migrate().await.unwrap();

        let found = store
            .credentials_for_authid("com.old", "legacy")
            .await
            .unwrap();
        assert_eq!(found[0].material, cra("the-password", Some("salt"), false));
        // Rotating it stores a derived key.
        let realm = store.get_realm("ten_1", "rlm_1").await.unwrap();
        let before = store.get_credential(&realm, "crd_1").await.unwrap();
        store
            .rotate_credential(
                &actor(),
                &realm,
                &before,
                cra("new-derived-key", Some("salt2"), true),
            )
            .await
            .unwrap();
        let found = store
            .credentials_for_authid("com.old", "legacy")
            .await
            .unwrap();
        assert_eq!(
            found[0].material,
            cra("new-derived-key", Some("salt2"), true)
        );
    }

    #[tokio::test]
    async fn cryptosign_credentials_are_found_by_public_key() {
        let store = store().await;
        let a = realm(&store, "a", "com.a").await;
        let b = realm(&store, "b", "com.b").await;
        let key = "ab".repeat(32);
        let other = "cd".repeat(32);
        let created = store
            .create_credential(&actor(), &a, new_cred("device1", cryptosign(&key)))
            .await
            .unwrap();

        let found = store.credential_by_public_key("com.a", &key).await.unwrap();
        assert_eq!(
            found.as_ref().map(|c| c.id.as_str()),
            Some(created.id.as_str())
        );
        assert_eq!(found.unwrap().authid, "device1");
        // Hex in upper case names the same key.
        let upper = key.to_ascii_uppercase();
        assert!(
            store
                .credential_by_public_key("com.a", &upper)
                .await
                .unwrap()
                .is_some()
        );
        // Another realm, another key, another kind: nothing.
        assert!(
            store
                .credential_by_public_key("com.b", &key)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .credential_by_public_key("com.a", &other)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .credential_by_public_key("com.nope", &key)
                .await
                .unwrap()
                .is_none()
        );

        // A key names at most one live credential per realm; other realms may use it too.
        let err = store
            .create_credential(&actor(), &a, new_cred("device2", cryptosign(&key)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    field: "public_key",
                    ..
                }
            ),
            "{err:?}"
        );
        store
            .create_credential(&actor(), &b, new_cred("device1", cryptosign(&key)))
            .await
            .unwrap();
        let second = store
            .create_credential(&actor(), &a, new_cred("device2", cryptosign(&other)))
            .await
            .unwrap();
        let err = store
            .rotate_credential(&actor(), &a, &second, cryptosign(&key))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Conflict {
                    field: "public_key",
                    ..
                }
            ),
            "{err:?}"
        );

        // Revoked: not found, and the key is free again.
        store
            .revoke_credential(&actor(), &a, &created)
            .await
            .unwrap();
        assert!(
            store
                .credential_by_public_key("com.a", &key)
                .await
                .unwrap()
                .is_none()
        );
        let again = store
            .create_credential(&actor(), &a, new_cred("device3", cryptosign(&key)))
            .await
            .unwrap();
        let found = store
            .credential_by_public_key("com.a", &key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.id, found.authid), (again.id, "device3".to_string()));
    }

    #[tokio::test]
    async fn the_public_key_lookup_uses_its_index() {
        let store = store().await;
        let Db::Sqlite(pool) = &store.db else {
            unreachable!()
        };
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
            "EXPLAIN QUERY PLAN SELECT c.* FROM credentials c JOIN realms r ON r.id = c.realm_id \
             WHERE r.uri = $1 AND c.kind = 'cryptosign' AND c.revoked_at IS NULL \
             AND c.public_key = $2 ORDER BY c.id LIMIT 1",
        )
        .bind("com.a")
        .bind("ab")
        .fetch_all(pool)
        .await
        .unwrap();
        let details: Vec<&str> = plan.iter().map(|p| p.3.as_str()).collect();
        assert!(
            details
                .iter()
                .any(|d| d.contains("credentials_cryptosign_key")),
            "{details:?}"
        );
    }
}
