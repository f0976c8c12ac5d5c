//! Long-lived tokens: issue, describe, verify and renew.
//!
//! A token is an EdDSA-signed JWT. The signature proves where it came from; the database decides
//! whether it is still good. Only its SHA-256 digest is stored, looked up by `jti`, so a leaked
//! database cannot be replayed and a forged-but-validly-signed JWT cannot pass either.
//!
//! Validity is `last use (or issue) + 90 days`, decided here rather than by a JWT `exp`, because
//! an `exp` cannot move without reissuing. Uses are written at most once per
//! [`TokenConfig::renew_interval`], and a small in-process cache keeps the database out of the
//! hot path for at most [`TokenConfig::cache_ttl`], which bounds how late a revocation can bite.

use crate::clock::Clock;
use crate::secret;
use crate::store::{SigningKeyRecord, Store, StoreError, TokenRecord, TokenUse, Tx};
use crate::wire::{DedicatedToken, IssuedToken, TokenState};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// The JWT `typ` (RFC 9068 explicit typing).
const JWT_TYPE: &str = "at+jwt";

#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// How long a token stays valid after its last use (or issue).
    pub validity: Duration,
    /// A use is written to the database at most this often per token.
    pub renew_interval: Duration,
    /// How long a verification result may be served from memory.
    pub cache_ttl: std::time::Duration,
    pub issuer: String,
    pub audience: String,
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            validity: Duration::days(90),
            renew_interval: Duration::minutes(10),
            cache_ttl: std::time::Duration::from_millis(500),
            issuer: "devconsole".into(),
            audience: "devconsole-scim".into(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    client_id: String,
    iat: i64,
    jti: Uuid,
}

/// Why a presented token was refused. The SCIM API answers all of them with 401, except
/// `Store`, which is the server's fault.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's signature, algorithm, issuer or audience is not ours")]
    BadSignature,
    #[error("the token is not known to this server")]
    Unknown,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token has expired")]
    Expired,
    #[error("SCIM is disabled for the token's app")]
    ScimDisabled,
    #[error("token store unavailable: {0}")]
    Store(#[from] StoreError),
}

/// The app a refused token still speaks for. Only a token with our signature names its app (we
/// signed its client ID and id), and only one whose stored row is that app's: a made-up or
/// foreign token names none, so it cannot be used to fill an app's records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenApp {
    pub app_id: Uuid,
    pub client_id: String,
}

/// A refused token: why, and the app it speaks for when that is certain.
#[derive(Debug)]
pub struct Refusal {
    pub error: VerifyError,
    pub app: Option<TokenApp>,
}

impl Refusal {
    fn of(error: VerifyError, app: &TokenApp) -> Self {
        Refusal {
            error,
            app: Some(app.clone()),
        }
    }
}

impl From<VerifyError> for Refusal {
    fn from(error: VerifyError) -> Self {
        Refusal { error, app: None }
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        VerifyError::Store(e).into()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueTokenError {
    #[error("no such app")]
    AppNotFound,
    #[error("SCIM is disabled for this app; enable SCIM before issuing a token")]
    ScimDisabled,
    #[error("this app already has an active token; revoke it before issuing a new one")]
    TokenExists,
    #[error("could not sign the token")]
    Sign,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A token that passed verification, and the app it speaks for.
#[derive(Debug, Clone)]
pub struct VerifiedToken {
    pub token_id: Uuid,
    pub app_id: Uuid,
    pub client_id: String,
    pub service_account: String,
    pub expires_at: OffsetDateTime,
}

#[derive(Clone)]
struct CachedToken {
    checked: Instant,
    token_id: Uuid,
    app_id: Uuid,
    client_id: String,
    service_account: String,
    digest: String,
    /// When validity is counted from, as recorded in the database.
    renewed_at: OffsetDateTime,
    /// Whether any use is on record yet; the first one is always written.
    used: bool,
}

#[derive(Default)]
struct VerifyCache {
    entries: HashMap<String, CachedToken>,
    /// When each app's entries were last dropped: a verification that read the database before
    /// then must not put a now-revoked token back.
    forgotten: HashMap<Uuid, Instant>,
    /// When every entry was last dropped (the change listener lost its connection): the same
    /// guard, for all apps.
    forgotten_all: Option<Instant>,
}

impl VerifyCache {
    fn insert(&mut self, digest: String, entry: CachedToken) {
        let stale = self
            .forgotten
            .get(&entry.app_id)
            .is_some_and(|at| entry.checked <= *at)
            || self.forgotten_all.is_some_and(|at| entry.checked <= at);
        if !stale {
            self.entries.insert(digest, entry);
        }
    }
}

struct Keys {
    active_kid: String,
    encoding: EncodingKey,
    /// Every key that verifies, by kid; grows when another instance adds one (rotation).
    decoding: std::sync::RwLock<HashMap<String, DecodingKey>>,
    /// When the keys were last reloaded for an unknown kid; at most once a second, so forged
    /// kids cannot turn every request into a database read.
    reloaded: Mutex<Option<Instant>>,
}

pub struct TokenService {
    store: Store,
    clock: Arc<dyn Clock>,
    config: TokenConfig,
    keys: Keys,
    validation: Validation,
    /// Token digest → what was last verified about it.
    cache: Mutex<VerifyCache>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService")
            .field("config", &self.config)
            .field("active_kid", &self.keys.active_kid)
            .finish_non_exhaustive()
    }
}

impl TokenService {
    /// Loads the signing keys, generating and persisting the first one on a new database.
    pub async fn new(store: Store, clock: Arc<dyn Clock>, config: TokenConfig) -> Result<Self, StoreError> {
        // Created under a lock, so instances starting together agree on one key.
        let records = store
            .signing_keys_or_insert(&generate_signing_key()?, clock.now())
            .await?;
        // Newest first: the newest key signs, all keys verify, so keys can rotate.
        let active = &records[0];
        let keys = Keys {
            active_kid: active.kid.clone(),
            encoding: EncodingKey::from_ed_der(&active.private_der),
            decoding: std::sync::RwLock::new(
                records
                    .iter()
                    .map(|r| (r.kid.clone(), DecodingKey::from_ed_der(&r.public_raw)))
                    .collect(),
            ),
            reloaded: Mutex::new(None),
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.validate_exp = false;
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        Ok(TokenService {
            store,
            clock,
            config,
            keys,
            validation,
            cache: Mutex::new(VerifyCache::default()),
        })
    }

    pub fn config(&self) -> &TokenConfig {
        &self.config
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Issues the app's long-lived token inside the caller's transaction, so the caller can
    /// write its audit record in the same commit. The rules: the app must exist with SCIM on; it
    /// may hold one active token, and one that has run out is retired first; the service account
    /// is created on first issue. The partial unique index turns a lost race into `TokenExists`.
    pub async fn issue_token(&self, tx: &mut Tx, app_id: Uuid) -> Result<IssuedToken, IssueTokenError> {
        let now = self.clock.now();
        let app = tx.lock_app(app_id).await?.ok_or(IssueTokenError::AppNotFound)?;
        if !app.scim_enabled {
            return Err(IssueTokenError::ScimDisabled);
        }
        if let Some(active) = tx.active_token(app_id).await? {
            if active.renewed_at() + self.config.validity > now {
                return Err(IssueTokenError::TokenExists);
            }
            tx.retire_token(active.id, TokenState::Expired, now).await?;
        }
        let service_account = match app.service_account {
            Some(sa) => sa,
            None => {
                let sa = format!("{}.serviceaccount", app.client_id);
                tx.set_service_account(app_id, &sa).await?;
                sa
            }
        };
        let jti = Uuid::now_v7();
        let claims = Claims {
            iss: self.config.issuer.clone(),
            sub: service_account,
            aud: self.config.audience.clone(),
            client_id: app.client_id,
            iat: now.unix_timestamp(),
            jti,
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.keys.active_kid.clone());
        header.typ = Some(JWT_TYPE.into());
        let jwt = jsonwebtoken::encode(&header, &claims, &self.keys.encoding).map_err(|e| {
            tracing::error!(error = %e, "signing a token failed");
            IssueTokenError::Sign
        })?;
        let token = SecretString::from(jwt);
        let record = TokenRecord {
            id: jti,
            app_id,
            digest: secret::digest(token.expose_secret()),
            state: TokenState::Active,
            issued_at: now,
            last_used_at: None,
            revoked_at: None,
        };
        tx.insert_token(&record).await.map_err(|e| match e {
            StoreError::Conflict(_) => IssueTokenError::TokenExists,
            other => other.into(),
        })?;
        Ok(IssuedToken {
            token,
            token_id: record.id,
            issued_at: record.issued_at,
            expires_at: record.issued_at + self.config.validity,
        })
    }

    /// Revokes the app's active token inside the caller's transaction; returns its id. Call
    /// [`TokenService::forget_app`] once it commits.
    pub async fn revoke(&self, tx: &mut Tx, app_id: Uuid) -> Result<Option<Uuid>, StoreError> {
        match tx.active_token(app_id).await? {
            Some(t) => {
                tx.retire_token(t.id, TokenState::Revoked, self.clock.now())
                    .await?;
                Ok(Some(t.id))
            }
            None => Ok(None),
        }
    }

    /// Drops cached verifications for an app, after a revoke or a SCIM switch (by this
    /// instance, or by another one: [`crate::server`] listens for their changes on PostgreSQL).
    pub fn forget_app(&self, app_id: Uuid) {
        let ttl = self.config.cache_ttl;
        let mut cache = self.lock_cache();
        cache.entries.retain(|_, c| c.app_id != app_id);
        cache.forgotten.retain(|_, at| at.elapsed() < ttl);
        cache.forgotten.insert(app_id, Instant::now());
    }

    /// Drops every cached verification: changes may have been missed.
    pub fn forget_all(&self) {
        let mut cache = self.lock_cache();
        cache.entries.clear();
        cache.forgotten.clear();
        cache.forgotten_all = Some(Instant::now());
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, VerifyCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The console's view of a stored token at this moment.
    pub fn describe(&self, t: &TokenRecord) -> DedicatedToken {
        let expires_at = t.renewed_at() + self.config.validity;
        let state = match t.state {
            TokenState::Active if expires_at <= self.clock.now() => TokenState::Expired,
            state => state,
        };
        DedicatedToken {
            token_id: t.id,
            state,
            issued_at: t.issued_at,
            last_used_at: t.last_used_at,
            expires_at,
            revoked_at: t.revoked_at,
        }
    }

    /// Verifies a presented token and renews it.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        self.check(token).await.map_err(|r| r.error)
    }

    /// [`TokenService::verify`], and on refusal the app the token still speaks for (a revoked,
    /// expired or superseded token of ours, or one whose app has SCIM off). This is what the
    /// SCIM API calls on every request.
    pub async fn check(&self, token: &str) -> Result<VerifiedToken, Refusal> {
        // The cache is keyed by the token's digest: a hit means these exact bytes were verified
        // (signature and stored digest) moments ago, so the signature check can be skipped.
        let digest = secret::digest(token);
        let cached = {
            let cache = self.lock_cache();
            cache
                .entries
                .get(&digest)
                .filter(|c| c.checked.elapsed() < self.config.cache_ttl)
                .cloned()
        };
        let mut entry = match cached {
            Some(c) => c,
            None => {
                self.learn_kid(token).await?;
                let claims = self.decode(token)?;
                let entry = self.load(claims.jti, &claims.client_id).await?;
                if !secret::digest_eq(&entry.digest, &digest) {
                    return Err(VerifyError::Unknown.into());
                }
                entry
            }
        };
        let app = TokenApp {
            app_id: entry.app_id,
            client_id: entry.client_id.clone(),
        };
        let now = self.clock.now();
        if entry.renewed_at + self.config.validity <= now {
            self.lock_cache().entries.remove(&digest);
            // The statement re-checks the last use, so a renewal another request (or instance)
            // recorded since this entry was read keeps the token alive.
            if self
                .store
                .expire_token_if_idle(entry.token_id, now - self.config.validity)
                .await?
            {
                return Err(Refusal::of(VerifyError::Expired, &app));
            }
            entry = self.load(entry.token_id, &entry.client_id).await?;
            if entry.renewed_at + self.config.validity <= now {
                return Err(Refusal::of(VerifyError::Expired, &app));
            }
        }
        if !entry.used || now - entry.renewed_at >= self.config.renew_interval {
            // Only a token that is no longer active is refused: a use another request or
            // instance recorded within the interval is not an error, just no second write.
            match self
                .store
                .record_token_use(entry.token_id, now, now - self.config.renew_interval)
                .await?
            {
                TokenUse::Recorded => entry.renewed_at = entry.renewed_at.max(now),
                TokenUse::Recent(at) => entry.renewed_at = entry.renewed_at.max(at),
                TokenUse::NotActive => {
                    self.lock_cache().entries.remove(&digest);
                    let reloaded = self.load(entry.token_id, &entry.client_id).await;
                    return Err(reloaded
                        .err()
                        .unwrap_or_else(|| Refusal::of(VerifyError::Revoked, &app)));
                }
            }
            entry.used = true;
        }
        let verified = VerifiedToken {
            token_id: entry.token_id,
            app_id: entry.app_id,
            client_id: entry.client_id.clone(),
            service_account: entry.service_account.clone(),
            expires_at: entry.renewed_at + self.config.validity,
        };
        self.lock_cache().insert(digest, entry);
        Ok(verified)
    }

    /// Reloads the keys from the database when the token names a kid this instance does not
    /// know: another instance may have added it. At most once a second.
    async fn learn_kid(&self, token: &str) -> Result<(), VerifyError> {
        let Some(kid) = jsonwebtoken::decode_header(token).ok().and_then(|h| h.kid) else {
            return Ok(());
        };
        if self.decoding().contains_key(&kid) {
            return Ok(());
        }
        {
            let mut last = self.keys.reloaded.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < std::time::Duration::from_secs(1)) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        let records = self.store.signing_keys().await?;
        let mut decoding = self.keys.decoding.write().unwrap_or_else(|e| e.into_inner());
        for r in &records {
            decoding
                .entry(r.kid.clone())
                .or_insert_with(|| DecodingKey::from_ed_der(&r.public_raw));
        }
        Ok(())
    }

    fn decoding(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, DecodingKey>> {
        self.keys.decoding.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the JWT itself: EdDSA only, a known `kid`, our issuer and audience.
    fn decode(&self, token: &str) -> Result<Claims, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(VerifyError::BadSignature);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding().get(kid).cloned())
            .ok_or(VerifyError::BadSignature)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidToken
                | jsonwebtoken::errors::ErrorKind::Base64(_)
                | jsonwebtoken::errors::ErrorKind::Json(_)
                | jsonwebtoken::errors::ErrorKind::Utf8(_)
                | jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(_) => VerifyError::Malformed,
                _ => VerifyError::BadSignature,
            })?;
        Ok(data.claims)
    }

    async fn load(&self, jti: Uuid, client_id: &str) -> Result<CachedToken, Refusal> {
        let row = self
            .store
            .token_for_verify(jti)
            .await?
            .ok_or(VerifyError::Unknown)?;
        if row.client_id != client_id {
            return Err(VerifyError::Unknown.into());
        }
        let app = TokenApp {
            app_id: row.token.app_id,
            client_id: row.client_id.clone(),
        };
        match row.token.state {
            TokenState::Revoked => return Err(Refusal::of(VerifyError::Revoked, &app)),
            TokenState::Expired => return Err(Refusal::of(VerifyError::Expired, &app)),
            TokenState::Active => {}
        }
        if !row.scim_enabled {
            return Err(Refusal::of(VerifyError::ScimDisabled, &app));
        }
        Ok(CachedToken {
            checked: Instant::now(),
            token_id: row.token.id,
            app_id: row.token.app_id,
            client_id: row.client_id,
            service_account: row.service_account.unwrap_or_default(),
            renewed_at: row.token.renewed_at(),
            used: row.token.last_used_at.is_some(),
            digest: row.token.digest,
        })
    }
}

fn generate_signing_key() -> Result<SigningKeyRecord, StoreError> {
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let der = key
        .to_pkcs8_der()
        .map_err(|e| StoreError::Corrupt(format!("encoding a new signing key: {e}")))?;
    Ok(SigningKeyRecord {
        kid: Uuid::now_v7().simple().to_string(),
        private_der: zeroize::Zeroizing::new(der.as_bytes().to_vec()),
        public_raw: key.verifying_key().to_bytes().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{NameKeys, NewApp};

    async fn setup() -> (tempfile::TempDir, Store, ManualClock, TokenService, Uuid) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let clock = ManualClock::new(time::macros::datetime!(2026-01-01 0:00 UTC));
        let svc = TokenService::new(store.clone(), Arc::new(clock.clone()), TokenConfig::default())
            .await
            .unwrap();
        let app = Uuid::now_v7();
        let mut tx = store.begin().await.unwrap();
        tx.insert_app(&NewApp {
            id: app,
            name: NameKeys {
                name: "Sync",
                key: "sync",
                skeleton: "sync",
            },
            description: "",
            client_id: "cid",
            client_secret_digest: "d",
            created_by: "dev",
            now: clock.now(),
        })
        .await
        .unwrap();
        tx.set_scim(app, true, clock.now()).await.unwrap();
        tx.commit().await.unwrap();
        (dir, store, clock, svc, app)
    }

    impl TokenService {
        /// Issue or revoke in a transaction of its own (the handlers add an audit row).
        async fn issue_alone(&self, app: Uuid) -> Result<IssuedToken, IssueTokenError> {
            let mut tx = self.store.begin().await?;
            let issued = self.issue_token(&mut tx, app).await?;
            tx.commit().await?;
            Ok(issued)
        }

        async fn revoke_alone(&self, app: Uuid) {
            let mut tx = self.store.begin().await.unwrap();
            self.revoke(&mut tx, app).await.unwrap();
            tx.commit().await.unwrap();
            self.forget_app(app);
        }
    }

    #[tokio::test]
    async fn parallel_uses_of_a_fresh_token_all_pass() {
        let (_dir, _store, _clock, svc, app) = setup().await;
        let svc = Arc::new(TokenService {
            config: TokenConfig {
                renew_interval: Duration::ZERO,
                cache_ttl: std::time::Duration::ZERO,
                ..TokenConfig::default()
            },
            ..svc
        });
        let jwt = svc
            .issue_alone(app)
            .await
            .unwrap()
            .token
            .expose_secret()
            .to_string();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (svc, jwt) = (svc.clone(), jwt.clone());
                tokio::spawn(async move { svc.verify(&jwt).await.map(|_| ()) })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().expect("an active token was refused");
        }
    }

    #[tokio::test]
    async fn issued_token_is_an_eddsa_jwt_with_kid_and_verifies() {
        let (_dir, _store, _clock, svc, app) = setup().await;
        let issued = svc.issue_alone(app).await.unwrap();
        let header = jsonwebtoken::decode_header(issued.token.expose_secret()).unwrap();
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert!(header.kid.is_some());
        let v = svc.verify(issued.token.expose_secret()).await.unwrap();
        assert_eq!(v.app_id, app);
        assert_eq!(v.service_account, "cid.serviceaccount");
        assert!(matches!(
            svc.issue_alone(app).await,
            Err(IssueTokenError::TokenExists)
        ));
    }

    #[tokio::test]
    async fn tampered_and_foreign_tokens_are_refused() {
        let (_dir, _store, _clock, svc, app) = setup().await;
        let issued = svc.issue_alone(app).await.unwrap();
        let jwt = issued.token.expose_secret();
        // Cached as verified first: a different token with the same jti must still be refused.
        svc.verify(jwt).await.unwrap();
        assert!(matches!(
            svc.verify("not a jwt").await,
            Err(VerifyError::Malformed)
        ));
        // Flip one character of the signature.
        let mut bad = jwt.to_string();
        let last = bad.pop().unwrap();
        bad.push(if last == 'A' { 'B' } else { 'A' });
        assert!(svc.verify(&bad).await.is_err());
        // An HS256 token with the same claims must not pass the pinned algorithm.
        let claims: serde_json::Value = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(jwt)
            .unwrap()
            .claims;
        let hs = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"guess"),
        )
        .unwrap();
        assert!(matches!(svc.verify(&hs).await, Err(VerifyError::BadSignature)));
    }

    #[tokio::test]
    async fn the_first_use_is_recorded_even_right_after_issue() {
        let (_dir, store, clock, svc, app) = setup().await;
        let issued = svc.issue_alone(app).await.unwrap();
        clock.advance(Duration::seconds(5));
        svc.verify(issued.token.expose_secret()).await.unwrap();
        let t = store.latest_token(app).await.unwrap().unwrap();
        assert_eq!(
            t.last_used_at,
            Some(clock.now()),
            "the console must show the first use"
        );
        // Later uses inside the interval are coalesced.
        clock.advance(Duration::minutes(1));
        svc.verify(issued.token.expose_secret()).await.unwrap();
        let t = store.latest_token(app).await.unwrap().unwrap();
        assert_eq!(t.last_used_at, Some(clock.now() - Duration::minutes(1)));
    }

    #[tokio::test]
    async fn uses_renew_validity_and_idle_tokens_expire() {
        let (_dir, store, clock, svc, app) = setup().await;
        let issued = svc.issue_alone(app).await.unwrap();
        let jwt = issued.token.expose_secret().to_string();
        clock.advance(Duration::days(80));
        let v = svc.verify(&jwt).await.unwrap();
        assert_eq!(v.expires_at, clock.now() + Duration::days(90));
        assert_eq!(
            store.latest_token(app).await.unwrap().unwrap().last_used_at,
            Some(clock.now())
        );
        // A use within the renew interval is not written.
        let first_use = clock.now();
        clock.advance(Duration::minutes(5));
        svc.verify(&jwt).await.unwrap();
        assert_eq!(
            store.latest_token(app).await.unwrap().unwrap().last_used_at,
            Some(first_use)
        );
        clock.advance(Duration::days(90));
        assert!(matches!(svc.verify(&jwt).await, Err(VerifyError::Expired)));
        let t = store.latest_token(app).await.unwrap().unwrap();
        assert_eq!(svc.describe(&t).state, TokenState::Expired);
        // An expired token does not block a new issue.
        svc.issue_alone(app).await.unwrap();
    }

    #[test]
    fn a_verification_begun_before_a_revoke_cannot_recache_the_token() {
        let app_id = Uuid::now_v7();
        let entry = CachedToken {
            checked: Instant::now(),
            token_id: Uuid::now_v7(),
            app_id,
            client_id: "cid".into(),
            service_account: "cid.serviceaccount".into(),
            digest: "d".into(),
            renewed_at: OffsetDateTime::UNIX_EPOCH,
            used: true,
        };
        let mut cache = VerifyCache::default();
        cache.forgotten.insert(app_id, Instant::now());
        cache.insert("d".into(), entry.clone());
        assert!(
            cache.entries.is_empty(),
            "a result read before the revoke was cached"
        );
        let later = CachedToken {
            checked: Instant::now() + std::time::Duration::from_millis(1),
            ..entry
        };
        cache.insert("d".into(), later);
        assert_eq!(cache.entries.len(), 1);
    }

    #[tokio::test]
    async fn revocation_is_immediate_in_process() {
        let (_dir, _store, _clock, svc, app) = setup().await;
        let issued = svc.issue_alone(app).await.unwrap();
        svc.verify(issued.token.expose_secret()).await.unwrap();
        svc.revoke_alone(app).await;
        assert!(matches!(
            svc.verify(issued.token.expose_secret()).await,
            Err(VerifyError::Revoked)
        ));
    }
}
