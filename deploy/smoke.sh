#!/usr/bin/env bash
# Smoke test of the monitor's image: build deploy/Dockerfile, run N `takedown run`
# containers on one PostgreSQL against the sandbox platform (itself a container of the
# same image), and check that they share the work and stop cleanly.
#
#   bash deploy/smoke.sh [WORKERS]         # from the repository root; default 2 workers
#
# Needs a Docker engine and a PostgreSQL server (TAKEDOWN_SMOKE_SERVER, default
# postgresql://postgres@127.0.0.1:5432/postgres) on which it may create and drop a database.
# Every container uses the host's network, so all traffic stays on 127.0.0.1: the
# sandbox on SMOKE_PORT (8765), the workers' metrics on 9464 + i. It does not run the
# compose file (its PostgreSQL, Prometheus, Alertmanager and Grafana images).
#
# Checks, each printed as PASS or FAIL (exit status 1 on any FAIL):
#   - the image builds;
#   - every worker is up and serves /metrics, each seeing all N workers live;
#   - the workers record observations and events into the one database, and each of
#     them claimed some of the work;
#   - `docker stop` (SIGTERM) ends every worker within its 30 s grace, exit status 0;
#   - afterwards no worker seat and no lease is left in the database.
set -euo pipefail

WORKERS=${1:-2}
SERVER=${TAKEDOWN_SMOKE_SERVER:-postgresql://postgres@127.0.0.1:5432/postgres}
PORT=${SMOKE_PORT:-8765}
WAIT=${SMOKE_WAIT:-90}
IMAGE=takedown-monitor:smoke
RUN=smoke$$
DB=takedown_smoke_$$
DOCKER=${DOCKER:-docker}
TMP=$(mktemp -d)
failed=0

say() { printf '%-6s %s\n' "$1" "$2"; }
check() {  # check NAME COMMAND...: PASS when the command succeeds
  local name=$1; shift
  if "$@"; then say PASS "$name"; else say FAIL "$name"; failed=1; fi
}
sql() { psql "$SERVER" -v ON_ERROR_STOP=1 -Atqc "$1"; }
dbsql() { psql "${SERVER%/*}/$DB" -v ON_ERROR_STOP=1 -Atqc "$1"; }

cleanup() {
  $DOCKER rm -f $($DOCKER ps -aq --filter "name=^$RUN-") >/dev/null 2>&1 || true
  sql "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT

for tool in "$DOCKER" psql curl bc; do
  command -v "$tool" >/dev/null || { echo "smoke.sh: $tool not found; install it first" >&2; exit 2; }
done
$DOCKER info >/dev/null 2>&1 || {
  echo "smoke.sh: no Docker engine answers ($DOCKER info failed); start dockerd first" >&2; exit 2; }

started=$(date +%s)
build() { $DOCKER build -q -f deploy/Dockerfile -t "$IMAGE" . >/dev/null; }
check "the image builds (docker build -f deploy/Dockerfile)" build

$DOCKER run -d --name "$RUN-sandbox" --network host "$IMAGE" \
  takedown sandbox --port "$PORT" --tick 5 >/dev/null
for _ in $(seq 1 60); do
  curl -sf "http://127.0.0.1:$PORT/_sandbox/watchlist.toml" -o "$TMP/watchlist.toml" && break
  sleep 0.5
done
check "the sandbox serves its watchlist" test -s "$TMP/watchlist.toml"
chmod 644 "$TMP/watchlist.toml"

sql "CREATE DATABASE $DB"
for i in $(seq 1 "$WORKERS"); do
  $DOCKER run -d --name "$RUN-worker-$i" --network host \
    -e TAKEDOWN_DATABASE_URL="${SERVER%/*}/$DB" \
    -e TAKEDOWN_METRICS_ADDRESS="127.0.0.1:$((9463 + i))" \
    -v "$TMP/watchlist.toml:/config/watchlist.toml:ro" "$IMAGE" >/dev/null
done

# Every worker serves metrics and sees all the workers live; events are recorded.
all_live() {
  local i
  for i in $(seq 1 "$WORKERS"); do
    curl -sf "http://127.0.0.1:$((9463 + i))/metrics" \
      | grep -qx "takedown_workers_live $WORKERS.0" || return 1
  done
}
deadline=$(( $(date +%s) + WAIT ))
until all_live && [ "$(dbsql 'SELECT count(*) FROM events')" -gt 0 ]; do
  [ "$(date +%s)" -lt "$deadline" ] || break
  sleep 2
done
check "every worker serves /metrics and counts $WORKERS workers live" all_live
observations=$(dbsql "SELECT count(*) FROM observations")
events=$(dbsql "SELECT count(*) FROM events")
check "observations recorded ($observations)" test "$observations" -gt 0
check "events recorded ($events)" test "$events" -gt 0
# Each post and target keeps the seat of the worker that last claimed it.
sharing=$(dbsql "SELECT count(DISTINCT leased_by) FROM (SELECT leased_by FROM posts
                 UNION ALL SELECT leased_by FROM targets) t")
check "the work was shared: $sharing of $WORKERS workers claimed some" test "$sharing" -eq "$WORKERS"

for i in $(seq 1 "$WORKERS"); do
  t0=$(date +%s.%N)
  $DOCKER stop -t 30 "$RUN-worker-$i" >/dev/null
  took=$(printf '%.1f' "$(echo "$(date +%s.%N) - $t0" | bc)")
  code=$($DOCKER inspect -f '{{.State.ExitCode}}' "$RUN-worker-$i")
  check "worker $i stops on SIGTERM in $took s, exit status $code" test "$code" -eq 0
done
check "no worker seat left" test "$(dbsql 'SELECT count(*) FROM workers')" -eq 0
leases=$(dbsql "SELECT (SELECT count(*) FROM posts WHERE lease_until > now())
                     + (SELECT count(*) FROM targets WHERE lease_until > now())")
check "no lease left ($leases)" test "$leases" -eq 0

echo "$WORKERS worker(s), $(( $(date +%s) - started )) s in all"
exit $failed
