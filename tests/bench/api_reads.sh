#!/usr/bin/env bash
# Benchmark of the API's reads (issue 4): with 10,000 directory users and 100 integrations in one
# tenant, wrk at 64 connections against GET /v1/integrations/{id}, GET /v1/users?limit=100 and
# /healthz (the bare-handler baseline), in the same run. Prints requests/s and p99 for each and the
# ratio to the baseline. The resource reads run twice: through the read cache (the default) and
# against a second API process with GWSYNC_READ_CACHE_MB=0, so every request reaches PostgreSQL.
# Figures only; nothing is asserted.
#
#   tests/bench/api_reads.sh [seconds per route and round (default 5)] [build dir (default build)]
#   ROUNDS=n (default 3): the routes are measured in n interleaved rounds; medians are reported.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SECONDS_PER_URL="${1:-5}"
ROUNDS="${ROUNDS:-3}"
BUILD="${2:-$ROOT/build}"
cd "$ROOT"
# gwsync needs a sealing key for stored Google credentials; a throw-away one serves here.
export GWSYNC_SECRET_KEY="${GWSYNC_SECRET_KEY:-bench:$(head -c 32 /dev/urandom | base64)}"
export GWSYNC_RUN_DIR="$ROOT/.run/bench-$$"
SERVICES="$ROOT/deploy/local/services"
API_PID="" UNCACHED_PID=""
cleanup() {
	[[ -n "$API_PID" ]] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
	[[ -n "$UNCACHED_PID" ]] && kill "$UNCACHED_PID" 2>/dev/null && wait "$UNCACHED_PID" 2>/dev/null
	"$SERVICES" stop --purge >/dev/null
}
trap cleanup EXIT
command -v wrk >/dev/null || { echo "wrk is missing: run deploy/local/deps" >&2; exit 1; }
[[ -x "$BUILD/gwsync" ]] || { echo "build $BUILD/gwsync first" >&2; exit 1; }

"$SERVICES" start >/dev/null
eval "$("$SERVICES" env)"
"$BUILD/gwsync" migrate >/dev/null
KEY="$("$BUILD/gwsync" keys create --tenant bench --role reader 2>/dev/null)"
psql -q "$GWSYNC_DATABASE_URL" <<'SQL'
INSERT INTO directory_users (tenant_id, id, email, first_name, last_name, state, job_title, department,
	phones, addresses)
SELECT t.id, 'user-' || lpad(i::text, 5, '0'), 'user' || i || '@example.com', 'First' || i, 'Last' || i,
	'active', 'Engineer', 'R&D', '[{"type":"work","value":"+1 555 0100"}]',
	'[{"type":"work","locality":"Berlin","country":"DE"}]'
FROM tenants t, generate_series(1, 10000) i WHERE t.name = 'bench';
INSERT INTO integrations (tenant_id, name)
SELECT t.id, 'Integration ' || i FROM tenants t, generate_series(1, 100) i WHERE t.name = 'bench';
ANALYZE;
SQL
INTEGRATION="$(psql -Atq "$GWSYNC_DATABASE_URL" -c "SELECT id FROM integrations ORDER BY id LIMIT 1 OFFSET 50")"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
GWSYNC_HTTP_LISTEN="127.0.0.1:$PORT" GWSYNC_LOG_LEVEL="${GWSYNC_LOG_LEVEL:-warn}" "$BUILD/gwsync" api >/dev/null &
API_PID=$!
UNCACHED_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
GWSYNC_HTTP_LISTEN="127.0.0.1:$UNCACHED_PORT" GWSYNC_READ_CACHE_MB=0 \
	GWSYNC_LOG_LEVEL="${GWSYNC_LOG_LEVEL:-warn}" "$BUILD/gwsync" api >/dev/null &
UNCACHED_PID=$!
for port in "$PORT" "$UNCACHED_PORT"; do
	for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
done
BASE="http://127.0.0.1:$PORT"
UNCACHED="http://127.0.0.1:$UNCACHED_PORT"
curl -fs -H "Authorization: Bearer $KEY" "$BASE/v1/users?limit=100" >/dev/null ||
	{ echo "GET /v1/users failed" >&2; exit 1; }

# wrk's p99 in milliseconds ("850.00us", "12.3ms", "1.2s").
p99_ms() { awk '$1 == "99%" {v = $2; f = 1; if (v ~ /us$/) f = 0.001; else if (v ~ /ms$/) f = 1;
	else if (v ~ /s$/) f = 1000; sub(/[a-z]+$/, "", v); printf "%.2f", v * f}'; }
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

declare -A RPS P99
run() {
	local name="$1" url="$2" out
	shift 2
	out="$(wrk -t2 -c64 -d"${SECONDS_PER_URL}s" --latency "$@" "$url")"
	[[ -z "${BENCH_VERBOSE:-}" ]] || printf '== %s\n%s\n' "$name" "$out" >&2
	RPS[$name]+="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out") "
	P99[$name]+="$(p99_ms <<<"$out") "
	if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx answers!" >&2; grep "Non-2xx" <<<"$out" >&2; fi
}
# Warm the pool and caches once.
wrk -t2 -c64 -d2s -H "Authorization: Bearer $KEY" "$BASE/v1/integrations/$INTEGRATION" >/dev/null
wrk -t2 -c64 -d2s -H "Authorization: Bearer $KEY" "$UNCACHED/v1/integrations/$INTEGRATION" >/dev/null
# Rounds interleave the routes, so a slow spell of the machine does not land on one route only.
for _ in $(seq "$ROUNDS"); do
	run healthz "$BASE/healthz"
	run integration "$BASE/v1/integrations/$INTEGRATION" -H "Authorization: Bearer $KEY"
	run users "$BASE/v1/users?limit=100" -H "Authorization: Bearer $KEY"
	run integration_uncached "$UNCACHED/v1/integrations/$INTEGRATION" -H "Authorization: Bearer $KEY"
	run users_uncached "$UNCACHED/v1/users?limit=100" -H "Authorization: Bearer $KEY"
done

printf '%-22s %-30s %12s %10s %8s\n' "route" "requests/s of each round" "median" "p99 (ms)" "vs base"
base="$(tr ' ' '\n' <<<"${RPS[healthz]}" | grep . | median)"
for name in healthz integration users integration_uncached users_uncached; do
	rps="$(tr ' ' '\n' <<<"${RPS[$name]}" | grep . | median)"
	p99="$(tr ' ' '\n' <<<"${P99[$name]}" | grep . | median)"
	ratio="$(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.0f%%", 100 * a / b}')"
	printf '%-22s %-30s %12.0f %10s %8s\n' "$name" "$(printf '%.0f ' ${RPS[$name]})" "$rps" "$p99" "$ratio"
done
echo "(64 connections, wrk -t2, ${SECONDS_PER_URL}s per route per round, $ROUNDS rounds; p99 and requests/s are medians over the rounds)"
