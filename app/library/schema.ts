import type Database from 'better-sqlite3';

// The library's schema and its migrations. The version lives in PRAGMA user_version and
// our mark in PRAGMA application_id, so a stranger's SQLite file is never "upgraded".
// Each migration runs in one transaction (SQLite DDL is transactional): a library is at
// one version or the next, never in between. Never edit a released migration; add one.

/** 'ATLR' — marks a SQLite file as an Atelier library. */
export const APPLICATION_ID = 0x41544c52;

export interface Migration {
  version: number;
  why: string;
  up: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    why: 'history: generations with every parameter, candidates, content-addressed images, models, projects, tags',
    up: `
      CREATE TABLE images (
        sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
        width INTEGER NOT NULL CHECK (width > 0),
        height INTEGER NOT NULL CHECK (height > 0),
        bytes INTEGER NOT NULL,
        thumb_width INTEGER,
        thumb_height INTEGER,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE models (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        name TEXT,
        hash TEXT,
        -- sizes and mtimes of the model's files when it was hashed: rehash only on change
        fingerprint TEXT,
        hashed_at INTEGER
      );
      CREATE TABLE projects (
        id TEXT PRIMARY KEY,
        name TEXT,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE generations (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('completed', 'failed', 'cancelled', 'imported')),
        source TEXT NOT NULL,
        mode TEXT NOT NULL CHECK (mode IN ('txt2img', 'img2img', 'inpaint')),
        prompt TEXT NOT NULL,
        negative_prompt TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL,
        model_id INTEGER REFERENCES models(id) ON DELETE SET NULL,
        model_name TEXT,
        model_hash TEXT,
        sampler TEXT,
        steps INTEGER,
        cfg REAL,
        seed INTEGER,
        seed_mode TEXT,
        batch INTEGER,
        width INTEGER,
        height INTEGER,
        strength REAL,
        has_control INTEGER NOT NULL DEFAULT 0,
        request_json TEXT,
        device TEXT,
        app_version TEXT,
        timings_json TEXT,
        duration_ms REAL,
        error TEXT,
        imported_json TEXT,
        -- kept equal to the best rating / any favourite among the candidates (Library.rate)
        best_rating INTEGER NOT NULL DEFAULT 0,
        has_favourite INTEGER NOT NULL DEFAULT 0,
        import_note TEXT,
        -- no foreign key: the parent may come from a project made with another library
        parent_candidate_id TEXT,
        project_id TEXT REFERENCES projects(id) ON DELETE SET NULL
      );
      CREATE INDEX generations_created ON generations(created_at);
      -- Filters that keep rows in seq order under equality, so a page needs no sort.
      CREATE INDEX generations_model_id ON generations(model_id);
      CREATE INDEX generations_model_hash ON generations(model_hash);
      CREATE INDEX generations_mode ON generations(mode, has_control);
      CREATE INDEX generations_control ON generations(has_control);
      CREATE INDEX generations_source ON generations(source, status);
      CREATE INDEX generations_rating ON generations(best_rating);
      CREATE INDEX generations_favourite ON generations(created_at) WHERE has_favourite = 1;
      CREATE INDEX generations_project ON generations(project_id, created_at);
      CREATE INDEX generations_parent ON generations(parent_candidate_id) WHERE parent_candidate_id IS NOT NULL;
      CREATE TABLE candidates (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        generation_id TEXT NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        seed INTEGER,
        image_sha256 TEXT NOT NULL REFERENCES images(sha256),
        rating INTEGER NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 5),
        favourite INTEGER NOT NULL DEFAULT 0,
        accepted INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
      );
      CREATE INDEX candidates_generation ON candidates(generation_id);
      CREATE INDEX candidates_image ON candidates(image_sha256);
      -- init image, mask and control images a generation used (role: init, mask, control0…)
      CREATE TABLE generation_inputs (
        generation_id TEXT NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        image_sha256 TEXT NOT NULL REFERENCES images(sha256),
        PRIMARY KEY (generation_id, role)
      ) WITHOUT ROWID;
      CREATE INDEX generation_inputs_image ON generation_inputs(image_sha256);
      CREATE TABLE tags (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE
      );
      CREATE TABLE generation_tags (
        tag_id INTEGER NOT NULL REFERENCES tags(id) ON DELETE CASCADE,
        generation_id TEXT NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
        PRIMARY KEY (tag_id, generation_id)
      ) WITHOUT ROWID;
      CREATE INDEX generation_tags_generation ON generation_tags(generation_id);
    `,
  },
  {
    version: 2,
    why: 'full-text search over prompts (FTS5, prefix indexes for search-as-you-type)',
    up: `
      CREATE VIRTUAL TABLE prompts_fts USING fts5(
        prompt, negative_prompt,
        content = 'generations', content_rowid = 'seq',
        tokenize = 'unicode61 remove_diacritics 2',
        prefix = '2 3'
      );
      CREATE TRIGGER generations_fts_insert AFTER INSERT ON generations BEGIN
        INSERT INTO prompts_fts(rowid, prompt, negative_prompt) VALUES (new.seq, new.prompt, new.negative_prompt);
      END;
      CREATE TRIGGER generations_fts_delete AFTER DELETE ON generations BEGIN
        INSERT INTO prompts_fts(prompts_fts, rowid, prompt, negative_prompt) VALUES ('delete', old.seq, old.prompt, old.negative_prompt);
      END;
      CREATE TRIGGER generations_fts_update AFTER UPDATE OF prompt, negative_prompt ON generations BEGIN
        INSERT INTO prompts_fts(prompts_fts, rowid, prompt, negative_prompt) VALUES ('delete', old.seq, old.prompt, old.negative_prompt);
        INSERT INTO prompts_fts(rowid, prompt, negative_prompt) VALUES (new.seq, new.prompt, new.negative_prompt);
      END;
      INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild');
    `,
  },
  {
    version: 3,
    why: 'document snapshots: the canvas a generation ran from, content-addressed, layer pixels as library images (docs/canvas.md, "Branches")',
    up: `
      -- One row per distinct snapshot (SHA-256 of its JSON): generations made from an
      -- unchanged document share it. data is the gzipped JSON.
      CREATE TABLE snapshots (
        sha256 TEXT PRIMARY KEY CHECK (length(sha256) = 64),
        data BLOB NOT NULL,
        bytes INTEGER NOT NULL,
        created_at INTEGER NOT NULL
      );
      -- The library images a snapshot's layers show (paint, references, masks, control maps):
      -- what keeps them from orphan collection.
      CREATE TABLE snapshot_images (
        snapshot_sha256 TEXT NOT NULL REFERENCES snapshots(sha256) ON DELETE CASCADE,
        image_sha256 TEXT NOT NULL REFERENCES images(sha256),
        PRIMARY KEY (snapshot_sha256, image_sha256)
      ) WITHOUT ROWID;
      CREATE INDEX snapshot_images_image ON snapshot_images(image_sha256);
      ALTER TABLE generations ADD COLUMN snapshot_sha256 TEXT REFERENCES snapshots(sha256) ON DELETE SET NULL;
      CREATE INDEX generations_snapshot ON generations(snapshot_sha256) WHERE snapshot_sha256 IS NOT NULL;
    `,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

export class LibraryVersionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LibraryVersionError';
  }
}

/**
 * Brings a library to `target` (default: the latest). Refuses a library from a newer
 * Atelier and a SQLite file that is not a library.
 */
export function migrate(db: Database.Database, target: number = LATEST_VERSION): { from: number; to: number } {
  const from = db.pragma('user_version', { simple: true }) as number;
  const appId = db.pragma('application_id', { simple: true }) as number;
  const tableCount = (db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number }).n;
  if (appId !== APPLICATION_ID && (appId !== 0 || tableCount > 0)) {
    throw new LibraryVersionError(`${db.name} is a SQLite file but not an Atelier library`);
  }
  if (from > LATEST_VERSION) {
    throw new LibraryVersionError(
      `${db.name} was written by a newer Atelier (library schema v${from}; this version reads up to v${LATEST_VERSION}). ` +
        'Update Atelier to open it, or open a backup made by this version.',
    );
  }
  for (const migration of MIGRATIONS) {
    if (migration.version <= from || migration.version > target) continue;
    db.transaction(() => {
      db.exec(migration.up);
      db.pragma(`application_id = ${APPLICATION_ID}`);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
  return { from, to: Math.max(from, Math.min(target, LATEST_VERSION)) };
}
