-- Upstream catalog database (what the refresh copies FROM), modelled on Openverse's catalog:
-- the media tables carry no serial `id`; their key is `identifier uuid`, and they carry
-- `standardized_popularity` directly (the popularity matviews were retired, spec 1.0).
-- Columns are those of the API tables (spec section 6) minus `id`, so the refresh's
-- "shared columns" step copies everything but the id. `audio` also has `audio_set jsonb`, which
-- the API table lacks: it feeds `audioset_view` and is dropped by the column intersection.

CREATE TABLE IF NOT EXISTS image (
    identifier uuid NOT NULL,
    created_on timestamp with time zone NOT NULL,
    updated_on timestamp with time zone NOT NULL,
    provider character varying(80),
    source character varying(80),
    foreign_identifier character varying(1000),
    foreign_landing_url character varying(1000),
    url character varying(1000),
    thumbnail character varying(1000),
    width integer,
    height integer,
    filesize integer,
    license character varying(50) NOT NULL,
    license_version character varying(25),
    creator character varying(2000),
    creator_url character varying(2000),
    title character varying(5000),
    tags_list character varying(255)[],
    last_synced_with_source timestamp with time zone,
    removed_from_source boolean NOT NULL,
    meta_data jsonb,
    view_count integer DEFAULT 0,
    tags jsonb,
    watermarked boolean,
    filetype character varying(80),
    standardized_popularity double precision,
    category character varying(80),
    CONSTRAINT image_identifier_pkey PRIMARY KEY (identifier)
);

CREATE TABLE IF NOT EXISTS audio (
    identifier uuid NOT NULL,
    created_on timestamp with time zone NOT NULL,
    updated_on timestamp with time zone NOT NULL,
    foreign_identifier character varying(1000),
    title character varying(2000),
    foreign_landing_url character varying(1000),
    creator character varying(2000),
    creator_url character varying(2000),
    url character varying(1000),
    filesize integer,
    watermarked boolean,
    license character varying(50) NOT NULL,
    license_version character varying(25),
    provider character varying(80),
    source character varying(80),
    last_synced_with_source timestamp with time zone,
    removed_from_source boolean NOT NULL,
    view_count integer DEFAULT 0,
    tags jsonb,
    tags_list character varying(255)[],
    meta_data jsonb,
    audio_set_position integer,
    genres character varying(80)[],
    category character varying(80),
    duration integer,
    bit_rate integer,
    sample_rate integer,
    alt_files jsonb,
    thumbnail character varying(1000),
    filetype character varying(80),
    audio_set_foreign_identifier character varying(1000),
    standardized_popularity double precision,
    audio_set jsonb,
    CONSTRAINT audio_identifier_pkey PRIMARY KEY (identifier)
);

-- Audio sets as Openverse's catalog defines them: a plain VIEW that lifts the distinct
-- `audio_set` objects out of the audio rows (OV ingestion_server/test/mock_schemas/
-- audioset_view.sql). A view rather than a table because that is what the upstream is, so the
-- refresh's "basic" copy (no deleted-media filter, no id) runs against the same shape; the
-- generator gives every track of a set the identical audio_set object and provider, so DISTINCT
-- yields one row per (foreign_identifier, provider) and the API's unique constraints hold.
CREATE OR REPLACE VIEW audioset_view AS
 SELECT DISTINCT
    ((audio.audio_set ->> 'foreign_identifier'))::character varying(1000) AS foreign_identifier,
    ((audio.audio_set ->> 'title'))::character varying(2000) AS title,
    ((audio.audio_set ->> 'foreign_landing_url'))::character varying(1000) AS foreign_landing_url,
    ((audio.audio_set ->> 'creator'))::character varying(2000) AS creator,
    ((audio.audio_set ->> 'creator_url'))::character varying(2000) AS creator_url,
    ((audio.audio_set ->> 'url'))::character varying(1000) AS url,
    ((audio.audio_set ->> 'filesize'))::integer AS filesize,
    ((audio.audio_set ->> 'filetype'))::character varying(80) AS filetype,
    ((audio.audio_set ->> 'thumbnail'))::character varying(1000) AS thumbnail,
    audio.provider
   FROM audio
  WHERE audio.audio_set IS NOT NULL;
