-- The refresh ledger: what survives a crash. Lives in the API database, schema datarefresh.
-- Idempotent: every process runs it at start-up.
CREATE SCHEMA IF NOT EXISTS datarefresh;

CREATE TABLE IF NOT EXISTS datarefresh.runs (
  refresh_id          uuid PRIMARY KEY,
  request_id          uuid NOT NULL UNIQUE,
  media_type          text NOT NULL,
  environment         text NOT NULL,
  lock_scope          text NOT NULL,
  status              text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'refused', 'cancelled')),
  phase               text NOT NULL,
  requested_by        text NOT NULL DEFAULT '',
  options             jsonb NOT NULL DEFAULT '{}'::jsonb,
  new_index           text,
  filtered_index      text,
  old_index           text,
  old_filtered_index  text,
  alias               text,
  filtered_alias      text,
  id_min              bigint,
  id_max              bigint,
  shard_count         integer,
  expected_rows       bigint,
  rows_copied         bigint,
  tags_rows_changed   bigint,
  tags_removed        bigint,
  report              jsonb,
  error               text,
  holder_refresh_id   uuid,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now(),
  finished_at         timestamptz
);

-- An operator's cancel request (POST /v1/refreshes/{id}/cancel); added after the first release,
-- hence ALTER rather than the CREATE above.
ALTER TABLE datarefresh.runs ADD COLUMN IF NOT EXISTS cancel_requested_at timestamptz;
ALTER TABLE datarefresh.runs ADD COLUMN IF NOT EXISTS cancel_requested_by text;

-- Where the shard jobs stand in the shard-jobs group (queued, lost, nobody consuming), written by
-- the coordinator while the refresh indexes; null otherwise.
ALTER TABLE datarefresh.runs ADD COLUMN IF NOT EXISTS shard_jobs jsonb;

-- Which kind of refresh the run is: 'full' (copy and index everything) or 'incremental' (only what
-- changed since the last completed refresh). A request for mode 'auto' is recorded as the mode it
-- resolved to, with mode_reason saying why a full refresh was chosen.
ALTER TABLE datarefresh.runs ADD COLUMN IF NOT EXISTS mode text NOT NULL DEFAULT 'full';
ALTER TABLE datarefresh.runs ADD COLUMN IF NOT EXISTS mode_reason text;

-- The one-refresh-at-a-time lock: a second running run in the same scope cannot be inserted.
CREATE UNIQUE INDEX IF NOT EXISTS runs_one_running_per_scope
  ON datarefresh.runs (lock_scope) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS runs_media_created ON datarefresh.runs (media_type, created_at DESC);

CREATE TABLE IF NOT EXISTS datarefresh.shards (
  refresh_id        uuid NOT NULL REFERENCES datarefresh.runs (refresh_id) ON DELETE CASCADE,
  shard             integer NOT NULL CHECK (shard >= 0),
  id_start          bigint NOT NULL,
  id_end            bigint NOT NULL CHECK (id_end > id_start),
  status            text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
  attempt           integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
  worker            text,
  rows_read         bigint NOT NULL DEFAULT 0,
  indexed           bigint NOT NULL DEFAULT 0,
  skipped_deleted   bigint NOT NULL DEFAULT 0,
  skipped_removed   bigint NOT NULL DEFAULT 0,
  dead_lettered     bigint NOT NULL DEFAULT 0,
  error             text,
  published_at      timestamptz,
  started_at        timestamptz,
  last_progress_at  timestamptz,
  completed_at      timestamptz,
  PRIMARY KEY (refresh_id, shard)
);

-- What a shard does: 'index' writes the documents of its rows, 'delete' deletes the documents of
-- the rows an incremental refresh removes (ids of temp_delete_<table>).
ALTER TABLE datarefresh.shards ADD COLUMN IF NOT EXISTS kind text NOT NULL DEFAULT 'index';

CREATE TABLE IF NOT EXISTS datarefresh.steps (
  refresh_id   uuid NOT NULL REFERENCES datarefresh.runs (refresh_id) ON DELETE CASCADE,
  step         text NOT NULL,
  started_at   timestamptz,
  finished_at  timestamptz NOT NULL DEFAULT now(),
  seconds      double precision,
  details      jsonb NOT NULL DEFAULT '{}'::jsonb,
  PRIMARY KEY (refresh_id, step)
);

-- Where each shard's current job was written (partition and offset of the shard-jobs topic), so
-- that the coordinator can compare it with the indexers' committed offsets.
ALTER TABLE datarefresh.shards ADD COLUMN IF NOT EXISTS job_partition integer;
ALTER TABLE datarefresh.shards ADD COLUMN IF NOT EXISTS job_offset bigint;

-- What a running shard waits for while the search engine refuses transiently (from its progress
-- events), and whether a failed shard may succeed on another attempt (false: the refresh fails).
ALTER TABLE datarefresh.shards ADD COLUMN IF NOT EXISTS waiting text;
ALTER TABLE datarefresh.shards ADD COLUMN IF NOT EXISTS retryable boolean;

-- The previous generation a promotion kept (refresh.keep_previous), at most one per media type:
-- what `datarefresh rollback` restores until kept_until, when the coordinator's sweeper deletes
-- it. Written in the promotion's transaction, so it always matches what is in datarefresh_kept.
-- mode 'full': the previous tables themselves, moved to schema datarefresh_kept; 'incremental':
-- the rows the refresh replaced or removed (datarefresh_kept.<table>), the ids it added
-- (datarefresh_kept.<table>__added) and the previous extra tables.
CREATE TABLE IF NOT EXISTS datarefresh.kept (
  media_type      text PRIMARY KEY,
  refresh_id      uuid NOT NULL,
  mode            text NOT NULL CHECK (mode IN ('full', 'incremental')),
  index_name      text,
  filtered_index  text,
  live_schema     text NOT NULL,
  tables          jsonb NOT NULL,
  kept_at         timestamptz NOT NULL DEFAULT now(),
  kept_until      timestamptz NOT NULL
);
