#!/usr/bin/env bash
# `make bench` (after `make build`): runs every benchmark of the project and
# writes docs/benchmarks.md. Not part of `make test`.
#
# Each benchmark runs next to its baseline in this same run, interleaved
# (A/B/A/B) for a few rounds, because the machine may be shared; the report
# gives medians and the min-max range over the rounds. The whole run takes
# about 6 minutes on 2 cores. Sections (docs/benchmarks.md has the details):
#
#   1. feed builder vs encoding/csv          go test -bench, host/internal/feed
#   2. full catalog, 100k and 1M variants    host/internal/syncjob/internal/benchfeed
#   3. approval hook, 32 clients             host/internal/bench/hookbench
#   4. sql plugin streaming, 1M rows         go test -bench, plugins/sql + host/internal/bench/sqlbench
#   5. fulfilment of 10,000 checkouts        host/internal/bench/fulfilbench
#   6. other Benchmark* functions            go test -bench, plugins/csvdir
#
# Rounds can be overridden from the environment (FEED_ROUNDS, CATALOG_ROUNDS,
# HOOK_ROUNDS, SQL_ROUNDS, FULFIL_ROUNDS, CSVDIR_ROUNDS); ACS_BENCH_KEEP=1
# keeps the raw results directory. A section that fails is reported as
# missing in docs/benchmarks.md and makes `make bench` fail at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

FEED_ROUNDS=${FEED_ROUNDS:-5}
CATALOG_ROUNDS=${CATALOG_ROUNDS:-5}
HOOK_ROUNDS=${HOOK_ROUNDS:-5}
SQL_ROUNDS=${SQL_ROUNDS:-3}
FULFIL_ROUNDS=${FULFIL_ROUNDS:-1}
CSVDIR_ROUNDS=${CSVDIR_ROUNDS:-3}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t0=$(date +%s)
res=$(mktemp -d /tmp/acs-bench.XXXXXX)
bin="$res/bin"
mkdir -p "$bin"
pgdir=$(mktemp -d /tmp/acs-pg.XXXXXX)
cleanup() {
	bash .ci/postgres.sh stop "$pgdir" >/dev/null 2>&1 || true
	if [ "${ACS_BENCH_KEEP:-}" = 1 ]; then
		echo "raw results kept in $res"
	else
		rm -rf "$res"
	fi
}
trap cleanup EXIT

log() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
failed=()
# section NAME CMD...: runs one section; a failure is recorded, not fatal.
section() {
	local name=$1
	shift
	local s
	s=$(date +%s)
	log "== $name"
	if "$@"; then
		log "== $name: done in $(($(date +%s) - s)) s"
	else
		log "== $name: FAILED (exit $?)"
		failed+=("$name")
	fi
}

log "building benchmark programs and test binaries"
go build -o "$bin/" ./host/internal/bench/...
go build -o "$bin/benchfeed" ./host/internal/syncjob/internal/benchfeed
go test -c -o "$bin/feed.test" ./host/internal/feed
go test -c -o "$bin/csvdir.test" ./plugins/csvdir
go test -c -o "$bin/sql.test" ./plugins/sql
plugin="$root/bin/acs-plugin-csvdir" # built and pinned by `make build`

# gobench DIR OUT BENCH [PROFILE] [ARGS...]: one `go test -bench` run of a
# compiled test binary (in its package directory, as go test runs it).
gobench() {
	local dir=$1 testbin=$2 out=$3 pattern=$4
	shift 4
	(cd "$dir" && "$testbin" -test.run '^$' -test.bench "$pattern" -test.benchmem "$@") | tee -a "$out" | grep '^Benchmark' >&2
}

# 1. Feed builder vs plain encoding/csv; the order alternates per round.
feed() {
	local r prof
	for r in $(seq 1 "$FEED_ROUNDS"); do
		prof=()
		[ "$r" = "$FEED_ROUNDS" ] && prof=(-test.cpuprofile "$res/feed.cpu.pprof")
		if [ $((r % 2)) = 1 ]; then
			gobench host/internal/feed "$bin/feed.test" "$res/feed.txt" '^BenchmarkPlainCSV$'
			gobench host/internal/feed "$bin/feed.test" "$res/feed.txt" '^BenchmarkBuilder$' "${prof[@]}"
		else
			gobench host/internal/feed "$bin/feed.test" "$res/feed.txt" '^BenchmarkBuilder$' "${prof[@]}"
			gobench host/internal/feed "$bin/feed.test" "$res/feed.txt" '^BenchmarkPlainCSV$'
		fi
	done
	go tool pprof -top -cum -nodecount=150 "$bin/feed.test" "$res/feed.cpu.pprof" >"$res/prof-feed.txt" 2>/dev/null || true
}

# 6. csvdir's ReadCatalog vs its PlainCSV yardstick.
csvdir() {
	local r
	for r in $(seq 1 "$CSVDIR_ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then
			gobench plugins/csvdir "$bin/csvdir.test" "$res/csvdir.txt" '^BenchmarkPlainCSV$'
			gobench plugins/csvdir "$bin/csvdir.test" "$res/csvdir.txt" '^BenchmarkReadCatalog$'
		else
			gobench plugins/csvdir "$bin/csvdir.test" "$res/csvdir.txt" '^BenchmarkReadCatalog$'
			gobench plugins/csvdir "$bin/csvdir.test" "$res/csvdir.txt" '^BenchmarkPlainCSV$'
		fi
	done
}

# 2. Full catalog: one benchfeed invocation per round (baseline, then export,
# at 100k and at 1M variants); the last round profiles the export child.
catalog() {
	local r prof
	for r in $(seq 1 "$CATALOG_ROUNDS"); do
		log "catalog round $r/$CATALOG_ROUNDS"
		prof=()
		[ "$r" = "$CATALOG_ROUNDS" ] && prof=(-cpuprofile "$res/benchfeed.cpu.pprof")
		"$bin/benchfeed" -rows 100000,1000000 -count 1 -run=false -plugin "$plugin" "${prof[@]}" | tee -a "$res/benchfeed.jsonl"
	done
	go tool pprof -top -cum -nodecount=150 "$bin/benchfeed" "$res/benchfeed.cpu.pprof" >"$res/prof-benchfeed.txt" 2>/dev/null || true
}

# 3. Approval hook: bare handler and full POST /hooks, alternating.
hookbench() {
	"$bin/hookbench" -plugin "$plugin" -rounds "$HOOK_ROUNDS" -clients 32 -duration 5s \
		-profile "$res/hooks.cpu.pprof" | tee -a "$res/hooks.jsonl"
	go tool pprof -top -cum -nodecount=150 "$bin/hookbench" "$res/hooks.cpu.pprof" >"$res/prof-hooks.txt" 2>/dev/null || true
}

# 4. SQL streaming: the plugin's BenchmarkStream1M and the plain
# database/sql baseline, per driver, alternating.
sql() {
	local r drv
	log "starting a throwaway PostgreSQL"
	ACS_TEST_POSTGRES_DSN=$(bash .ci/postgres.sh start "$pgdir" | tail -n 1)
	export ACS_TEST_POSTGRES_DSN ACS_REQUIRE_POSTGRES=1
	for r in $(seq 1 "$SQL_ROUNDS"); do
		for drv in sqlite postgres; do
			log "sql round $r/$SQL_ROUNDS, $drv"
			(cd plugins/sql && "$bin/runstat" -o "$res/runstat.jsonl" -label "sql/$drv/$r" -- \
				"$bin/sql.test" -test.run '^$' -test.bench "^BenchmarkStream1M\$/^$drv\$" -test.benchtime 1x) |
				tee -a "$res/sql.txt" | grep '^Benchmark' >&2
			"$bin/sqlbench" -driver "$drv" -round "$r" | tee -a "$res/sql.jsonl"
		done
	done
}

# 5. Fulfilment: baseline, host, baseline (A/B/A) per FULFIL_ROUNDS.
fulfil() {
	"$bin/fulfilbench" -bin "$root/bin/acs-connector" -plugin "$plugin" -orders 10000 -rounds "$FULFIL_ROUNDS" \
		-timeout 6m | tee -a "$res/fulfil.jsonl"
}

section "1. feed builder vs encoding/csv" feed
section "6. csvdir ReadCatalog vs PlainCSV" csvdir
section "2. full catalog (benchfeed)" catalog
section "3. approval hook" hookbench
section "4. sql streaming" sql
section "5. fulfilment burst" fulfil

wall=$(($(date +%s) - t0))
rounds="feed $FEED_ROUNDS, full catalog $CATALOG_ROUNDS, hooks $HOOK_ROUNDS, sql $SQL_ROUNDS, fulfilment $FULFIL_ROUNDS host run(s) between $((FULFIL_ROUNDS + 1)) baseline runs, csvdir $CSVDIR_ROUNDS"
log "writing docs/benchmarks.md ($wall s of benchmarks)"
"$bin/report" -dir "$res" -out docs/benchmarks.md -started "$started" -wall "$wall" -rounds "$rounds"
if [ ${#failed[@]} -gt 0 ]; then
	log "failed sections: ${failed[*]}"
	exit 1
fi
log "done in $wall s; see docs/benchmarks.md"
