#!/usr/bin/env bash
# Runs the side-by-side benchmarks and writes the markdown table of medians
# to RESULTS.md (and prints it). The raw `go test` output goes to
# RESULTS.raw.txt, benchstat's input format.
#
#   ./run.sh            # -count 5
#   ./run.sh 10         # -count 10
#   BENCH=JWT ./run.sh  # only the benchmarks matching JWT
#   BENCHTIME=1s ./run.sh
#
# The Redis rows need a Redis this may write to: APIAUTH_REDIS_ADDR, else
# 127.0.0.1:6379; when neither answers and redis-server is installed, a
# throwaway one is started on a free loopback port and stopped at the end.
# With none, those rows are skipped with a message.
set -euo pipefail
cd "$(dirname "$0")"

count=${1:-${COUNT:-5}}
benchtime=${BENCHTIME:-300ms}
bench=${BENCH:-.}

answers() { # host:port
  (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

if [ -z "${APIAUTH_REDIS_ADDR:-}" ] && ! answers 127.0.0.1:6379 && command -v redis-server >/dev/null; then
  port=$((20000 + RANDOM % 20000))
  while answers "127.0.0.1:$port"; do port=$((port + 1)); done
  redis_dir=$(mktemp -d)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$redis_dir" \
    --daemonize yes --pidfile "$redis_dir/redis.pid" --logfile "$redis_dir/redis.log"
  stop_redis() {
    if [ -f "$redis_dir/redis.pid" ]; then kill "$(cat "$redis_dir/redis.pid")" 2>/dev/null || true; fi
    sleep 0.2
    rm -rf "$redis_dir"
  }
  trap stop_redis EXIT
  for _ in $(seq 1 50); do answers "127.0.0.1:$port" && break; sleep 0.1; done
  export APIAUTH_REDIS_ADDR="127.0.0.1:$port"
  echo "run.sh: started a throwaway redis-server on $APIAUTH_REDIS_ADDR" >&2
fi

# The module replaces apiauth with ../: keep go.sum in step with the
# library's own dependencies.
go mod tidy

load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
go test -run '^$' -bench "$bench" -benchmem -count "$count" -benchtime "$benchtime" -timeout 60m | tee RESULTS.raw.txt
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

if command -v benchstat >/dev/null; then
  benchstat RESULTS.raw.txt || true
fi

note="Load average (1, 5, 15 min) before the run: $load_before; after: $load_after, on $(nproc) cores. ${RESULTS_NOTE:-}"
go run ./cmd/table -count "$count" -benchtime "$benchtime" -go "$(go env GOVERSION)" -note "$note" <RESULTS.raw.txt >RESULTS.md
echo
cat RESULTS.md
