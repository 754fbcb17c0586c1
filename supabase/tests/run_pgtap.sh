#!/usr/bin/env bash
# Runs the pgTAP files in supabase/tests/database against the PostgreSQL server at DATABASE_URL:
# a fresh database, the Supabase-compatible bootstrap, the migrations applied by the Supabase CLI
# (`supabase migration up`, exactly as for users), then pg_prove. Needs psql, pg_prove and the
# pgTAP extension on the server; .ci/run installs and starts all of them.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DATABASE_URL:?set DATABASE_URL to a PostgreSQL server with pgTAP, e.g. postgresql://postgres@127.0.0.1:54329/postgres}"

db="polar_billing_pgtap"
test_url="${DATABASE_URL%/*}/${db}"
PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 -d "$DATABASE_URL" -c "drop database if exists ${db} with (force)" -c "create database ${db}"
PGOPTIONS="-c client_min_messages=warning" psql -q -v ON_ERROR_STOP=1 -d "$test_url" -f supabase/tests/bootstrap.sql
psql -q -v ON_ERROR_STOP=1 -d "$test_url" -c "create extension if not exists pgtap"
# `--remote=<url>` replaces the deprecated `--db-url`. A local test server speaks no TLS; saying
# so (unless the caller chose a mode) spares the CLI's warning about falling back to plain text.
PGSSLMODE="${PGSSLMODE:-disable}" npx -y "supabase@${SUPABASE_CLI_VERSION:-3.1.0}" migration up \
  --remote="$test_url" --yes 2>&1 | grep -v '^npm warn'
pg_prove --dbname "$test_url" --ext .sql supabase/tests/database/
