import re
p='src/store/console.rs'
s=open(p).read()
s=s.replace('''/// The first key of PostgreSQL advisory locks on sign-in attempts (the second is the
/// username's hash).
const ADVISORY_LOGIN: i32 = 0x6463_0001;''','''/// The first key of PostgreSQL advisory locks on sign-in attempts (the second is the
/// username's hash).
const ADVISORY_LOGIN: i32 = 0x6463_0001;
/// The PostgreSQL advisory lock held while the first signing key is created.
const ADVISORY_KEYS: i32 = 0x6463_0002;''')
anchor='''    pub async fn insert_signing_key(&self, key: &SigningKeyRecord, now: OffsetDateTime) -> StoreResult<()> {'''
assert anchor in s
s=s.replace(anchor,'''    /// The signing keys, newest first, after inserting `first` if there are none yet. The check
    /// and the insert happen under a lock (SQLite's write lock; a PostgreSQL advisory lock), so
    /// instances starting together on an empty database agree on one key.
    pub async fn signing_keys_or_insert(
        &self,
        first: &SigningKeyRecord,
        now: OffsetDateTime,
    ) -> StoreResult<Vec<SigningKeyRecord>> {
        let mut tx = self.begin().await?;
        if let TxInner::Postgres(c) = &mut tx.tx {
            sqlx::query("SELECT pg_advisory_xact_lock($1, 0)")
                .bind(ADVISORY_KEYS)
                .execute(&mut **c)
                .await?;
        }
        let count: i64 = on_tx!(tx, c => {
            sqlx::query_scalar("SELECT COUNT(*) FROM signing_keys")
                .fetch_one(&mut *c)
                .await?
        });
        if count == 0 {
            on_tx!(tx, c => {
                sqlx::query(
                    "INSERT INTO signing_keys (kid, private_der, public_raw, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&first.kid)
                .bind(first.private_der.as_slice())
                .bind(&first.public_raw)
                .bind(to_millis(now))
                .execute(&mut *c)
                .await?;
            });
        }
        tx.commit().await?;
        self.signing_keys().await
    }

'''+anchor)
open(p,'w').write(s)

p='src/tokens.rs'
s=open(p).read()
s=s.replace('''struct Keys {
    active_kid: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
}''','''struct Keys {
    active_kid: String,
    encoding: EncodingKey,
    /// Every key that verifies, by kid; grows when another instance adds one (rotation).
    decoding: std::sync::RwLock<HashMap<String, DecodingKey>>,
    /// When the keys were last reloaded for an unknown kid; at most once a second, so forged
    /// kids cannot turn every request into a database read.
    reloaded: Mutex<Option<Instant>>,
}''')
s=s.replace('''        let mut records = store.signing_keys().await?;
        if records.is_empty() {
            let record = generate_signing_key()?;
            store.insert_signing_key(&record, clock.now()).await?;
            records.push(record);
        }''','''        // Created under a lock, so instances starting together agree on one key.
        let records = store
            .signing_keys_or_insert(&generate_signing_key()?, clock.now())
            .await?;''')
s=s.replace('''            decoding: records
                .iter()
                .map(|r| (r.kid.clone(), DecodingKey::from_ed_der(&r.public_raw)))
                .collect(),
        };''','''            decoding: std::sync::RwLock::new(
                records
                    .iter()
                    .map(|r| (r.kid.clone(), DecodingKey::from_ed_der(&r.public_raw)))
                    .collect(),
            ),
            reloaded: Mutex::new(None),
        };''')
s=s.replace('''            None => {
                let claims = self.decode(token)?;''','''            None => {
                self.learn_kid(token).await?;
                let claims = self.decode(token)?;''')
s=s.replace('''    /// Checks the JWT itself: EdDSA only, a known `kid`, our issuer and audience.''','''    /// Reloads the keys from the database when the token names a kid this instance does not
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

    /// Checks the JWT itself: EdDSA only, a known `kid`, our issuer and audience.''')
s=s.replace('''        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.decoding.get(kid))
            .ok_or(VerifyError::BadSignature)?;''','''        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding().get(kid).cloned())
            .ok_or(VerifyError::BadSignature)?;''')
s=s.replace('jsonwebtoken::decode::<Claims>(token, key, &self.validation)','jsonwebtoken::decode::<Claims>(token, &key, &self.validation)')
open(p,'w').write(s)
