-- API database (what the refresh copies INTO and promotes), modelled on Openverse's live tables
-- (spec section 6; OV ingestion_server/test/mock_schemas/*.sql, dumped from production). Index and
-- constraint names are the Django-generated ones production has, because the refresh's "reapply
-- indexes and constraints" step reads them from pg_indexes / pg_constraint and must restore them
-- under the same names after promotion.

-- image ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS image (
    id serial NOT NULL,
    created_on timestamp with time zone NOT NULL,
    updated_on timestamp with time zone NOT NULL,
    identifier uuid NOT NULL,
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
    CONSTRAINT image_pkey PRIMARY KEY (id)
);
-- Production keeps image's uniqueness as unique INDEXES (not constraints); audio has constraints.
CREATE UNIQUE INDEX IF NOT EXISTS image_identifier_key ON image USING btree (identifier);
CREATE UNIQUE INDEX IF NOT EXISTS image_url_key ON image USING btree (url);
CREATE UNIQUE INDEX IF NOT EXISTS unique_provider_image ON image USING btree (foreign_identifier, provider);
CREATE INDEX IF NOT EXISTS image_url_c6aabda2_like ON image USING btree (url varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS image_category_daa5d91c ON image USING btree (category);
CREATE INDEX IF NOT EXISTS image_category_daa5d91c_like ON image USING btree (category varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS image_foreign_identifier_4c72d3ee ON image USING btree (foreign_identifier);
CREATE INDEX IF NOT EXISTS image_foreign_identifier_4c72d3ee_like ON image USING btree (foreign_identifier varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS image_last_synced_with_source_187adf09 ON image USING btree (last_synced_with_source);
CREATE INDEX IF NOT EXISTS image_provider_7d11f847 ON image USING btree (provider);
CREATE INDEX IF NOT EXISTS image_provider_7d11f847_like ON image USING btree (provider varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS image_source_d5a89e97 ON image USING btree (source);
CREATE INDEX IF NOT EXISTS image_source_d5a89e97_like ON image USING btree (source varchar_pattern_ops);

-- audio ---------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS audio (
    id serial NOT NULL,
    created_on timestamp with time zone NOT NULL,
    updated_on timestamp with time zone NOT NULL,
    identifier uuid NOT NULL,
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
    CONSTRAINT audio_pkey PRIMARY KEY (id),
    CONSTRAINT audio_identifier_key UNIQUE (identifier),
    CONSTRAINT audio_url_key UNIQUE (url),
    CONSTRAINT unique_provider_audio UNIQUE (foreign_identifier, provider)
);
CREATE INDEX IF NOT EXISTS audio_url_b6a832d3_like ON audio USING btree (url varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS audio_category_ceb7d386 ON audio USING btree (category);
CREATE INDEX IF NOT EXISTS audio_category_ceb7d386_like ON audio USING btree (category varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS audio_foreign_identifier_617f66ad ON audio USING btree (foreign_identifier);
CREATE INDEX IF NOT EXISTS audio_foreign_identifier_617f66ad_like ON audio USING btree (foreign_identifier varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS audio_genres_e34cc474 ON audio USING btree (genres);
CREATE INDEX IF NOT EXISTS audio_last_synced_with_source_94c4a383 ON audio USING btree (last_synced_with_source);
CREATE INDEX IF NOT EXISTS audio_provider_8fe1eb54 ON audio USING btree (provider);
CREATE INDEX IF NOT EXISTS audio_provider_8fe1eb54_like ON audio USING btree (provider varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS audio_source_e9ccc813 ON audio USING btree (source);
CREATE INDEX IF NOT EXISTS audio_source_e9ccc813_like ON audio USING btree (source varchar_pattern_ops);

-- audioset ------------------------------------------------------------------------------------
-- Production's audioset still carries temp_import_* index names from the bug the index renames
-- fixed (openverse-api #362); we use the names a clean Django migration would give.
CREATE TABLE IF NOT EXISTS audioset (
    id serial NOT NULL,
    created_on timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    updated_on timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    foreign_identifier character varying(1000),
    title character varying(2000),
    foreign_landing_url character varying(1000),
    creator character varying(2000),
    creator_url character varying(2000),
    url character varying(1000),
    filesize integer,
    filetype character varying(80),
    thumbnail character varying(1000),
    provider character varying(80),
    CONSTRAINT audioset_pkey PRIMARY KEY (id),
    CONSTRAINT audioset_url_key UNIQUE (url),
    CONSTRAINT unique_provider_audioset UNIQUE (foreign_identifier, provider)
);
CREATE INDEX IF NOT EXISTS audioset_url_4a8e7b1c_like ON audioset USING btree (url varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS audioset_foreign_identifier_5c3e1d2a ON audioset USING btree (foreign_identifier);
CREATE INDEX IF NOT EXISTS audioset_foreign_identifier_5c3e1d2a_like ON audioset USING btree (foreign_identifier varchar_pattern_ops);
CREATE INDEX IF NOT EXISTS audioset_provider_9b0f6e3d ON audioset USING btree (provider);
CREATE INDEX IF NOT EXISTS audioset_provider_9b0f6e3d_like ON audioset USING btree (provider varchar_pattern_ops);

-- side tables: deleted (never copied nor indexed) and mature/sensitive (indexed with mature) ---
CREATE TABLE IF NOT EXISTS api_deletedimage (
    created_on timestamp with time zone NOT NULL,
    updated_on timestamp with time zone NOT NULL,
    identifier uuid NOT NULL,
    CONSTRAINT api_deletedimage_pkey PRIMARY KEY (identifier)
);
CREATE TABLE IF NOT EXISTS api_deletedaudio (
    created_on timestamp with time zone NOT NULL,
    updated_on timestamp with time zone NOT NULL,
    identifier uuid NOT NULL,
    CONSTRAINT api_deletedaudio_pkey PRIMARY KEY (identifier)
);
CREATE TABLE IF NOT EXISTS api_matureimage (
    identifier uuid NOT NULL,
    created_on timestamp with time zone NOT NULL,
    CONSTRAINT api_matureimages_pkey PRIMARY KEY (identifier)
);
CREATE TABLE IF NOT EXISTS api_matureaudio (
    identifier uuid NOT NULL,
    created_on timestamp with time zone NOT NULL,
    CONSTRAINT api_matureaudio_pkey PRIMARY KEY (identifier)
);

-- content reports: foreign keys INTO the media tables' identifier, so the refresh has to
-- re-point them at the new table (spec 1.8: orphan delete, drop, re-add) -----------------------
CREATE TABLE IF NOT EXISTS api_imagereport (
    id serial NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
    reason character varying(20) NOT NULL,
    description character varying(500),
    status character varying(20) NOT NULL DEFAULT 'pending_review',
    media_obj_id uuid NOT NULL,
    CONSTRAINT api_imagereport_pkey PRIMARY KEY (id),
    CONSTRAINT api_imagereport_media_obj_id_fk_image_identifier
        FOREIGN KEY (media_obj_id) REFERENCES image(identifier) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX IF NOT EXISTS api_imagereport_media_obj_id_2a3d8e5f ON api_imagereport USING btree (media_obj_id);

CREATE TABLE IF NOT EXISTS api_audioreport (
    id serial NOT NULL,
    created_at timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
    reason character varying(20) NOT NULL,
    description character varying(500),
    status character varying(20) NOT NULL DEFAULT 'pending_review',
    media_obj_id uuid NOT NULL,
    CONSTRAINT api_audioreport_pkey PRIMARY KEY (id),
    CONSTRAINT api_audioreport_media_obj_id_fk_audio_identifier
        FOREIGN KEY (media_obj_id) REFERENCES audio(identifier) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX IF NOT EXISTS api_audioreport_media_obj_id_7c1b9f04 ON api_audioreport USING btree (media_obj_id);
