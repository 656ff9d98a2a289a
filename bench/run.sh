#!/usr/bin/env bash
# Runs the side-by-side benchmarks, count rounds of each, and writes the
# markdown table of medians to RESULTS.md (and prints it). The raw `go test` output goes to
# RESULTS.raw.txt, benchstat's input format.
#
#   ./run.sh            # 5 rounds
#   ./run.sh 10         # 10 rounds
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

# The runs go in rounds: each round runs every benchmark once, so that a
# row and its reference are measured seconds apart, and the table's ratios
# are medians of the rounds' ratios (a VM's speed drifts over minutes).
bin_dir=$(mktemp -d)
go test -c -o "$bin_dir/bench.test" .
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
: >RESULTS.raw.txt
for round in $(seq 1 "$count"); do
  echo "run.sh: round $round of $count" >&2
  "$bin_dir/bench.test" -test.run '^$' -test.bench "$bench" -test.benchmem -test.count 1 \
    -test.benchtime "$benchtime" -test.timeout 60m | tee -a RESULTS.raw.txt
done
rm -rf "$bin_dir"
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

if command -v benchstat >/dev/null; then
  benchstat RESULTS.raw.txt || true
fi

note="Load average (1, 5, 15 min) before the run: $load_before; after: $load_after, on $(nproc) cores. ${RESULTS_NOTE:-}"
go run ./cmd/table -rounds -count "$count" -benchtime "$benchtime" -go "$(go env GOVERSION)" -note "$note" <RESULTS.raw.txt >RESULTS.md
echo
cat RESULTS.md
