-- acs-connector state, SQLite. Times are unix microseconds (UTC); NULL = unset.

CREATE TABLE uploads (
    id             INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: upload ids order uploads
    job            TEXT    NOT NULL,
    kind           TEXT    NOT NULL DEFAULT '',
    source         TEXT    NOT NULL DEFAULT '',
    content_sha256 TEXT    NOT NULL DEFAULT '',
    part           INTEGER NOT NULL DEFAULT 0,
    parts          INTEGER NOT NULL DEFAULT 0,
    file_id        TEXT    NOT NULL DEFAULT '',
    import_id      TEXT    NOT NULL DEFAULT '',
    api            TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL,
    rows_sent      INTEGER NOT NULL DEFAULT 0,
    rows_processed INTEGER NOT NULL DEFAULT 0,
    rows_succeeded INTEGER NOT NULL DEFAULT 0,
    rows_failed    INTEGER NOT NULL DEFAULT 0,
    failed_reason  TEXT    NOT NULL DEFAULT '',
    error_file_id  TEXT    NOT NULL DEFAULT '',
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    finished_at    INTEGER
);
CREATE INDEX uploads_job_content ON uploads (job, content_sha256, id);
CREATE INDEX uploads_job_status ON uploads (job, status, id);
CREATE INDEX uploads_import_id ON uploads (import_id) WHERE import_id <> '';
CREATE INDEX uploads_pending ON uploads (id)
    WHERE status NOT IN ('succeeded', 'succeeded_with_errors', 'failed', 'archived');

CREATE TABLE upload_errors (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    upload_id INTEGER NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    line      INTEGER NOT NULL DEFAULT 0,
    item_id   TEXT    NOT NULL DEFAULT '',
    message   TEXT    NOT NULL DEFAULT '',
    raw_csv   TEXT    NOT NULL DEFAULT '',
    source    TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX upload_errors_upload ON upload_errors (upload_id, line, id);

-- Hashes sent in uploads not accepted yet. No foreign key to uploads: the store checks
-- the upload when staging, and a per-row FK check would double the cost of bulk staging.
CREATE TABLE staged_rows (
    job       TEXT    NOT NULL,
    upload_id INTEGER NOT NULL,
    item_id   TEXT    NOT NULL,
    hash      TEXT    NOT NULL,
    PRIMARY KEY (job, upload_id, item_id)
) WITHOUT ROWID;

-- Accepted hash per item, from the newest accepted upload carrying the item.
-- hash NULL: tombstone left by ForgetItems.
CREATE TABLE accepted_rows (
    job       TEXT    NOT NULL,
    item_id   TEXT    NOT NULL,
    hash      TEXT,
    upload_id INTEGER NOT NULL,
    PRIMARY KEY (job, item_id)
) WITHOUT ROWID;
CREATE INDEX accepted_rows_tombstones ON accepted_rows (job, upload_id) WHERE hash IS NULL;

CREATE TABLE cursors (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE hooks (
    id          TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL DEFAULT '',
    response    BLOB,
    created_at  INTEGER NOT NULL,
    lease_until INTEGER,
    finished_at INTEGER -- NULL while the first delivery is being answered
);
CREATE INDEX hooks_created ON hooks (created_at);

CREATE TABLE orders (
    session_id        TEXT    PRIMARY KEY,
    state             TEXT    NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    lease_until       INTEGER,
    backend_ref       TEXT    NOT NULL DEFAULT '',
    reason            TEXT    NOT NULL DEFAULT '',
    order_json        BLOB,
    payment_intent_id TEXT    NOT NULL DEFAULT '',
    currency          TEXT    NOT NULL DEFAULT '',
    amount_total      INTEGER NOT NULL DEFAULT 0,
    capture           TEXT    NOT NULL DEFAULT '',
    amount_refunded   INTEGER NOT NULL DEFAULT 0,
    refund            TEXT    NOT NULL DEFAULT '',
    last_error        TEXT    NOT NULL DEFAULT '',
    session_created   INTEGER,
    received_at       INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX orders_received ON orders (received_at);
CREATE INDEX orders_state ON orders (state, received_at);

CREATE TABLE order_updates (
    update_id   TEXT    PRIMARY KEY,
    session_id  TEXT    NOT NULL DEFAULT '',
    kind        TEXT    NOT NULL DEFAULT '',
    payload     BLOB,
    outcome     TEXT    NOT NULL DEFAULT '',
    refund_id   TEXT    NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER
);
CREATE INDEX order_updates_session ON order_updates (session_id, created_at);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job         TEXT    NOT NULL,
    tick        INTEGER,
    host        TEXT    NOT NULL DEFAULT '',
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT    NOT NULL DEFAULT '',
    message     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX runs_job ON runs (job, id);

-- (job, tick) pairs that ran, so a tick runs once across hosts.
CREATE TABLE tick_locks (
    job       TEXT    NOT NULL,
    tick      INTEGER NOT NULL,
    locked_at INTEGER NOT NULL,
    PRIMARY KEY (job, tick)
) WITHOUT ROWID;
