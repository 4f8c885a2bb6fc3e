-- The model registry. A version row is written last, in one statement, after every blob it names is
-- stored in R2: a version is visible exactly when its row exists.
CREATE TABLE versions (
  model TEXT NOT NULL,
  version TEXT NOT NULL,
  manifest TEXT NOT NULL,      -- the manifest JSON, validated by @ecg-tmp/core
  created_at TEXT NOT NULL,
  PRIMARY KEY (model, version)
);

CREATE TABLE aliases (
  model TEXT NOT NULL,
  alias TEXT NOT NULL,
  version TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (model, alias),
  FOREIGN KEY (model, version) REFERENCES versions (model, version)
);

-- Blobs stored in R2 under their sha256 (shared by every version that names them).
CREATE TABLE blobs (
  sha256 TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL,
  created_at TEXT NOT NULL
);

-- Bearer tokens, stored as sha256(token); the token itself is shown once, at creation.
CREATE TABLE tokens (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  scopes TEXT NOT NULL,        -- space-separated, e.g. "publish"
  label TEXT NOT NULL DEFAULT '',
  created_at TEXT NOT NULL,
  revoked_at TEXT
);
