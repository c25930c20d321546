#!/usr/bin/env bash
# Benchmark of the job pipeline (issue 6). Figures only; nothing is asserted.
#   1. job creation through the API: wrk POSTing jobs at 32 connections (jobs/s, p99);
#   2. directory event → export job queued: user.updated events at 50/s through Kafka, latency
#      from the moment each is sent to the transaction that queued (or extended) its export job
#      (processed_events.processed_at; p50/p99);
#   3. outbox relay lag: creation to publication of every outbox row of the run (p50/p99); the
#      warm-up job sent before 1. (the producer's first contact with the broker) is shown apart.
#
#   tests/bench/jobs.sh [seconds (default 10)] [build dir (default build)]
#
# Uses the services of GWSYNC_RUN_DIR when they are up, else starts throw-away ones.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECS="${1:-10}"
BUILD="${2:-$ROOT/build}"
cd "$ROOT"
# gwsync needs a sealing key for stored Google credentials; a throw-away one serves here.
export GWSYNC_SECRET_KEY="${GWSYNC_SECRET_KEY:-bench:$(head -c 32 /dev/urandom | base64)}"
SERVICES="$ROOT/deploy/local/services"
OWN=0
if ! "$SERVICES" status >/dev/null 2>&1; then
	export GWSYNC_RUN_DIR="$ROOT/.run/bench-$$"
	"$SERVICES" start >/dev/null
	OWN=1
fi
eval "$("$SERVICES" env)"
DB="bench_jobs_$$"
ADMIN="$GWSYNC_TEST_PG_ADMIN_URL"
export GWSYNC_DATABASE_URL="${ADMIN%/*}/$DB"
API_PID="" WORKER_PID=""
cleanup() {
	[[ -n "$API_PID" ]] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
	[[ -n "$WORKER_PID" ]] && kill "$WORKER_PID" 2>/dev/null && wait "$WORKER_PID" 2>/dev/null
	psql -q "$ADMIN" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	if [[ "$OWN" == 1 ]]; then "$SERVICES" stop --purge >/dev/null; fi
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is missing: run deploy/local/deps" >&2; exit 1; }
[[ -x "$BUILD/gwsync" ]] || { echo "build $BUILD/gwsync first" >&2; exit 1; }

psql -q "$ADMIN" -c "CREATE DATABASE $DB"
"$BUILD/gwsync" migrate >/dev/null
KEY="$("$BUILD/gwsync" keys create --tenant bench --role editor 2>/dev/null)"
psql -q "$GWSYNC_DATABASE_URL" <<'SQL'
INSERT INTO integrations (tenant_id, name, status)
SELECT t.id, 'Integration ' || i, 'active' FROM tenants t, generate_series(1, 20) i;
INSERT INTO directory_users (tenant_id, id, email, state)
SELECT t.id, 'user-' || i, 'user' || i || '@example.com', 'active' FROM tenants t, generate_series(1, 50) i;
INSERT INTO user_bindings (tenant_id, integration_id, user_id)
SELECT i.tenant_id, i.id, u.id FROM integrations i JOIN directory_users u ON u.tenant_id = i.tenant_id
WHERE i.name = 'Integration 1';
SQL
INTEGRATION="$(psql -Atq "$GWSYNC_DATABASE_URL" -c "SELECT id FROM integrations WHERE name = 'Integration 2'")"
TENANT="$(psql -Atq "$GWSYNC_DATABASE_URL" -c "SELECT id FROM tenants WHERE name = 'bench'")"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
GWSYNC_HTTP_LISTEN="127.0.0.1:$PORT" GWSYNC_LOG_LEVEL=warn GWSYNC_DB_POOL_SIZE=32 \
	GWSYNC_OUTBOX_POLL_MS=200 "$BUILD/gwsync" api >/dev/null &
API_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done

# Warm-up: one job through the relay, so the producer has its id from the broker (a broker that has
# just started makes the first one wait ~0.5 s) before anything is measured. Shown apart in 3.
WARM="$(psql -Atq "$GWSYNC_DATABASE_URL" -c "SELECT id FROM integrations WHERE name = 'Integration 3'")"
curl -sf -o /dev/null -X POST -H "Authorization: Bearer $KEY" -H "Content-Type: application/json" \
	-d '{"type":"full_sync"}' "http://127.0.0.1:$PORT/v1/integrations/$WARM/jobs"
for _ in $(seq 150); do
	[[ "$(psql -Atq "$GWSYNC_DATABASE_URL" -c "SELECT count(*) FROM outbox WHERE published_at IS NULL")" == 0 ]] && break
	sleep 0.1
done
BURST_FROM="$(psql -Atq "$GWSYNC_DATABASE_URL" -c "SELECT clock_timestamp()")"

echo "== 1. job creation: POST /v1/integrations/{id}/jobs, wrk 2 threads x 32 connections, ${SECS}s"
LUA="$(mktemp)"
cat >"$LUA" <<EOF
wrk.method = "POST"
wrk.body = '{"type":"full_sync","parameters":{"bench":true}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
EOF
wrk -t2 -c32 -d"${SECS}s" --latency -s "$LUA" "http://127.0.0.1:$PORT/v1/integrations/$INTEGRATION/jobs" |
	grep -E "Requests/sec|99%|Non-2xx" || true
rm -f "$LUA"
psql -Atq "$GWSYNC_DATABASE_URL" -c "SELECT 'jobs created: ' || count(*) FROM jobs"

STEADY_FROM="$(psql -Atq "$GWSYNC_DATABASE_URL" -c "SELECT now()")"
echo "== 2. directory event -> export job queued, 50 events/s for ${SECS}s"
GWSYNC_LOG_LEVEL=warn GWSYNC_KAFKA_GROUP="bench-$$" "$BUILD/gwsync" worker >/dev/null &
WORKER_PID=$!
sleep 6 # join the group; the topic's history is skipped (other tenants) before the run starts
/usr/bin/python3 - "$TENANT" "$SECS" <<'PY'
import json, os, subprocess, sys, time
tenant, secs = sys.argv[1], int(sys.argv[2])
kcat = subprocess.Popen(["kcat", "-P", "-b", os.environ["GWSYNC_KAFKA_BROKERS"], "-t",
                         "gwsync.directory-events", "-K", "\t", "-X", "linger.ms=0"],
                        stdin=subprocess.PIPE, text=True)
t0 = time.time()
for i in range(50 * secs):
    n = i % 50 + 1
    user = f"user-{n}"
    ev = {"specversion": "1.0", "id": f"bench-{time.time_ns()}", "source": "/bench", "type": "user.updated",
          "tenant": tenant, "datacontenttype": "application/json",
          "data": {"id": user, "email": f"user{n}@example.com", "first_name": f"N{i}", "state": "active"}}
    kcat.stdin.write(f"{user}\t{json.dumps(ev)}\n")
    kcat.stdin.flush()
    delay = t0 + (i + 1) / 50 - time.time()
    if delay > 0:
        time.sleep(delay)
kcat.stdin.close()
kcat.wait()
PY
sleep 3
psql -Atq "$GWSYNC_DATABASE_URL" <<'SQL'
SELECT format('events applied: %s  latency p50 %s ms  p99 %s ms  max %s ms', count(*),
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
	round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1), round(max(ms)::numeric, 1))
FROM (SELECT extract(epoch FROM processed_at - to_timestamp(substr(id, 7)::numeric / 1e9)) * 1000 AS ms
      FROM processed_events WHERE source = '/bench') x;
SQL

echo "== 3. outbox relay lag (creation -> published): during the burst of 1., and at the steady rate of 2."
psql -Atq -v steady="$STEADY_FROM" -v burst="$BURST_FROM" "$GWSYNC_DATABASE_URL" <<'SQL'
SELECT format('%-7s rows: %s  unpublished: %s  lag p50 %s ms  p99 %s ms', phase, count(*),
	count(*) FILTER (WHERE published_at IS NULL),
	round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 1),
	round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 1))
FROM (SELECT CASE WHEN created_at < :'burst'::timestamptz THEN 'warm-up' WHEN created_at <
	:'steady'::timestamptz THEN 'burst' ELSE 'steady' END AS phase,
	extract(epoch FROM published_at - created_at) * 1000 AS ms, published_at FROM outbox) x
GROUP BY phase ORDER BY phase;
SQL
