//! The run history: one SQLite file per project (`.incant/incant.db` by default).
//!
//! Every case is written the moment it finishes, in WAL mode with a busy timeout, so an
//! eval and a viewer (or two evals) can share the file, a crash loses at most the case in
//! flight, and the store stays readable. The schema is versioned: [`MIGRATIONS`] are
//! applied in order on open, inside a transaction each, and a database from a newer incant
//! is refused rather than damaged.
//!
//! The store does not know incant's result types: a case is a few indexed columns plus the
//! full result as JSON, so reports can change without a migration.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Schema migrations; entry `i` brings the database from version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id          TEXT PRIMARY KEY,
    suite       TEXT NOT NULL,
    description TEXT,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    status      TEXT NOT NULL,
    total       INTEGER NOT NULL,
    config      TEXT NOT NULL
);
CREATE TABLE cases (
    run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    prompt   TEXT NOT NULL,
    provider TEXT NOT NULL,
    pass     INTEGER NOT NULL,
    score    REAL NOT NULL,
    result   TEXT NOT NULL,
    PRIMARY KEY (run_id, idx)
);
"#,
    r#"
CREATE TABLE cache (
    key        TEXT PRIMARY KEY,
    response   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
"#,
];

/// Everything that can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("{}: {source}", path.display())]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer incant.
    #[error("{}: schema version {found} is newer than this incant understands ({known})", path.display())]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: usize,
        /// Ours.
        known: usize,
    },
    /// A run id that is not in the store.
    #[error("no run `{0}` in the store")]
    NoSuchRun(String),
    /// The folder could not be created.
    #[error("{}: {source}", path.display())]
    Io {
        /// The folder.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A run's summary row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunSummary {
    /// Its id.
    pub id: String,
    /// The suite file.
    pub suite: String,
    /// The suite's description.
    pub description: Option<String>,
    /// Unix seconds.
    pub started_at: i64,
    /// Unix seconds, once finished.
    pub finished_at: Option<i64>,
    /// `running`, `finished` or `interrupted`.
    pub status: String,
    /// Cases planned.
    pub total: usize,
    /// Cases stored.
    pub done: usize,
    /// Cases that passed.
    pub passed: usize,
}

/// One case as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCase {
    /// Position in the run.
    pub idx: usize,
    /// Prompt name.
    pub prompt: String,
    /// Provider label.
    pub provider: String,
    /// Verdict.
    pub pass: bool,
    /// Score.
    pub score: f64,
    /// The full result as JSON.
    pub result: String,
}

/// An open store.
pub struct Store {
    path: PathBuf,
    conn: Connection,
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Store {
    /// Opens (creating if needed) the database and brings its schema up to date.
    ///
    /// Two processes creating the same new file at once can see SQLITE_BUSY while one of
    /// them switches it to WAL; opening is retried for up to 10 s, like any busy write.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let start = std::time::Instant::now();
        loop {
            match Self::open_once(path) {
                Err(StoreError::Sqlite { source, .. })
                    if is_busy(&source) && start.elapsed() < Duration::from_secs(10) =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other,
            }
        }
    }

    fn open_once(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let err = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        // Two processes may open a new file at once: the check and the migrations run in
        // one write transaction, so the second sees the first one's schema.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let version: usize = tx
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .map_err(err)? as usize;
        if version > MIGRATIONS.len() {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(sql).map_err(err)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
            conn,
        })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        move |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Starts a run and returns its id (`r` + start time + a counter, sortable).
    pub fn begin_run(
        &self,
        suite: &str,
        description: Option<&str>,
        total: usize,
        config: &str,
    ) -> Result<String, StoreError> {
        let started = now();
        let mut n = 0;
        loop {
            let id = format!("r{started}-{n}");
            let inserted = self
                .conn
                .execute(
                    "INSERT OR IGNORE INTO runs (id, suite, description, started_at, status, total, config) VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6)",
                    params![id, suite, description, started, total as i64, config],
                )
                .map_err(self.err())?;
            if inserted == 1 {
                return Ok(id);
            }
            n += 1;
        }
    }

    /// Stores one finished case (in its own transaction: durable as soon as it returns).
    pub fn record(&self, run_id: &str, case: &StoredCase) -> Result<(), StoreError> {
        self.record_many(run_id, std::slice::from_ref(case))
    }

    /// Stores finished cases in one transaction (all or none of them).
    pub fn record_many(&self, run_id: &str, cases: &[StoredCase]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(self.err())?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO cases (run_id, idx, prompt, provider, pass, score, result) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(self.err())?;
            for case in cases {
                stmt.execute(params![
                    run_id,
                    case.idx as i64,
                    case.prompt,
                    case.provider,
                    case.pass,
                    case.score,
                    case.result
                ])
                .map_err(self.err())?;
            }
        }
        tx.commit().map_err(self.err())
    }

    /// Marks a run `finished` or `interrupted`.
    pub fn finish_run(&self, run_id: &str, status: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "UPDATE runs SET status = ?2, finished_at = ?3 WHERE id = ?1",
                params![run_id, status, now()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Every run, newest first.
    pub fn list_runs(&self) -> Result<Vec<RunSummary>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, r.suite, r.description, r.started_at, r.finished_at, r.status, r.total,
                        COUNT(c.idx), COALESCE(SUM(c.pass), 0)
                 FROM runs r LEFT JOIN cases c ON c.run_id = r.id
                 GROUP BY r.id ORDER BY r.started_at DESC, r.id DESC",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RunSummary {
                    id: r.get(0)?,
                    suite: r.get(1)?,
                    description: r.get(2)?,
                    started_at: r.get(3)?,
                    finished_at: r.get(4)?,
                    status: r.get(5)?,
                    total: r.get::<_, i64>(6)? as usize,
                    done: r.get::<_, i64>(7)? as usize,
                    passed: r.get::<_, i64>(8)? as usize,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// One run's summary; `latest` resolves to the newest run.
    pub fn run(&self, id: &str) -> Result<RunSummary, StoreError> {
        let runs = self.list_runs()?;
        let found = if id == "latest" {
            runs.into_iter().next()
        } else {
            runs.into_iter().find(|r| r.id == id)
        };
        found.ok_or_else(|| StoreError::NoSuchRun(id.to_string()))
    }

    /// A run's cases in order, streamed to `f`.
    pub fn for_each_case(
        &self,
        run_id: &str,
        mut f: impl FnMut(StoredCase),
    ) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT idx, prompt, provider, pass, score, result FROM cases WHERE run_id = ?1 ORDER BY idx")
            .map_err(self.err())?;
        let mut rows = stmt.query(params![run_id]).map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            f(StoredCase {
                idx: r.get::<_, i64>(0).map_err(self.err())? as usize,
                prompt: r.get(1).map_err(self.err())?,
                provider: r.get(2).map_err(self.err())?,
                pass: r.get(3).map_err(self.err())?,
                score: r.get(4).map_err(self.err())?,
                result: r.get(5).map_err(self.err())?,
            });
        }
        Ok(())
    }

    /// A cached response by request hash.
    pub fn cache_get(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT response FROM cache WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())
    }

    /// Stores a response under its request hash.
    pub fn cache_put(&self, key: &str, response: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO cache (key, response, created_at) VALUES (?1, ?2, ?3)",
                params![key, response, now()],
            )
            .map_err(self.err())?;
        Ok(())
    }

    /// Empties the cache; returns how many entries were removed.
    pub fn cache_clear(&self) -> Result<usize, StoreError> {
        self.conn
            .execute("DELETE FROM cache", [])
            .map_err(self.err())
    }

    /// The stored config of a run.
    pub fn run_config(&self, run_id: &str) -> Result<String, StoreError> {
        self.conn
            .query_row(
                "SELECT config FROM runs WHERE id = ?1",
                params![run_id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?
            .ok_or_else(|| StoreError::NoSuchRun(run_id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(idx: usize, pass: bool) -> StoredCase {
        StoredCase {
            idx,
            prompt: "p".into(),
            provider: "echo".into(),
            pass,
            score: if pass { 1.0 } else { 0.0 },
            result: format!("{{\"idx\": {idx}}}"),
        }
    }

    #[test]
    fn runs_and_cases_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".incant/incant.db");
        let s = Store::open(&path).unwrap();
        let id = s.begin_run("suite.yaml", Some("d"), 3, "{}").unwrap();
        s.record(&id, &case(1, false)).unwrap();
        s.record(&id, &case(0, true)).unwrap();
        let r = s.run("latest").unwrap();
        assert_eq!(
            (r.status.as_str(), r.done, r.passed, r.total),
            ("running", 2, 1, 3)
        );
        s.finish_run(&id, "finished").unwrap();
        let mut seen = Vec::new();
        s.for_each_case(&id, |c| seen.push(c.idx)).unwrap();
        assert_eq!(seen, [0, 1]);
        assert!(matches!(s.run("nope"), Err(StoreError::NoSuchRun(_))));
        // A second id in the same second differs.
        assert_ne!(s.begin_run("suite.yaml", None, 1, "{}").unwrap(), id);
    }

    #[test]
    fn two_connections_share_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let writer = Store::open(&path).unwrap();
        let reader = Store::open(&path).unwrap();
        let id = writer.begin_run("s", None, 100, "{}").unwrap();
        for i in 0..100 {
            writer.record(&id, &case(i, i % 2 == 0)).unwrap();
            if i % 25 == 0 {
                assert_eq!(reader.run(&id).unwrap().done, i + 1);
            }
        }
        assert_eq!(reader.run(&id).unwrap().passed, 50);
    }

    #[test]
    fn cache_round_trips_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("db")).unwrap();
        assert_eq!(s.cache_get("k").unwrap(), None);
        s.cache_put("k", "{}").unwrap();
        assert_eq!(s.cache_get("k").unwrap().as_deref(), Some("{}"));
        assert_eq!(s.cache_clear().unwrap(), 1);
        assert_eq!(s.cache_get("k").unwrap(), None);
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        drop(Store::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
