#!/bin/sh
# Run once by the postgres image's entrypoint on an empty data directory: creates the upstream
# catalog database and the API database (the names the dev stack uses) and loads their table
# shapes from schemas/sql (mounted at /datarefresh-sql). The ledger schema is created by the
# datarefresh services themselves. The catalog starts empty: load your catalog rows into it.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres <<'SQL'
CREATE DATABASE catalog;
CREATE DATABASE api;
SQL
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname catalog -f /datarefresh-sql/catalog.sql
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname api -f /datarefresh-sql/api.sql
