# shellcheck shell=bash disable=SC2034  # variables are used by the scripts that source this file
# Shared helpers for scripts/deps, scripts/services, scripts/test and scripts/dev.
# Source it; it defines functions and defaults and changes nothing by itself.
#
# Settings (environment, all optional):
#   WEFT_TOOLS            tools and service data outside the clone   (~/.cache/weft)
#   WEFT_PG_PORT          port of the local PostgreSQL                (55432)
#   WEFT_PG_DATA          its directory (data/, run/, log)            ($WEFT_TOOLS/pg, see weft_pg_root_dir)
#   WEFT_NATS_PORT        client port of the local NATS               (4222)
#   WEFT_NATS_MONITOR_PORT monitoring port of the local NATS          (8222)
#   WEFT_NATS_DATA        its JetStream store (pid file: <dir>.pid, log: <dir>.log) ($WEFT_TOOLS/nats)
#   DATABASE_URL, NATS_URL  if something answers there, it is used and nothing is started

WEFT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEFT_TOOLS="${WEFT_TOOLS:-$HOME/.cache/weft}"
WEFT_VENV="$WEFT_TOOLS/venv"
WEFT_PG_PORT="${WEFT_PG_PORT:-55432}"
WEFT_NATS_PORT="${WEFT_NATS_PORT:-4222}"
WEFT_NATS_MONITOR_PORT="${WEFT_NATS_MONITOR_PORT:-8222}"
WEFT_NATS_VERSION="2.15.1"
# moto's S3 server (`moto_server`) for the on.s3 trigger tests.
WEFT_MOTO_VERSION="5.2.5"
# Schemathesis (`st`), the OpenAPI conformance checker of services/weft/tests/schemathesis.rs.
WEFT_SCHEMATHESIS_VERSION="4.32.5"
# aiosmtpd, the SMTP server of the uses: email tests (weft_testkit::SmtpServer).
WEFT_AIOSMTPD_VERSION="1.4.6"
# nats-py, the NATS client of the example Python executor (examples/executors/python,
# run by services/weft/tests/outside_executor.rs).
WEFT_NATS_PY_VERSION="2.16.0"
WEFT_PG_MAJOR="15"
WEFT_PG_BIN="/usr/lib/postgresql/$WEFT_PG_MAJOR/bin"
export WEFT_ROOT WEFT_TOOLS

# PIDs of the services this shell started (so only those are stopped).
WEFT_STARTED_PG_PID=""
WEFT_STARTED_NATS_PID=""

weft_log() { printf '[weft] %s\n' "$*" >&2; }
weft_die() { printf '[weft] error: %s\n' "$*" >&2; exit 1; }

weft_is_root() { [ "$(id -u)" -eq 0 ]; }

# True when a TCP connect to host:port succeeds within ~1 s.
weft_tcp_open() {
    local host="$1" port="$2"
    timeout 1 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

# host and port of a URL such as postgres://user@host:port/db or nats://host:port
weft_url_host() {
    local rest="${1#*://}"
    rest="${rest##*@}"
    rest="${rest%%/*}"
    rest="${rest%%\?*}"
    printf '%s\n' "${rest%%:*}"
}
weft_url_port() {
    local rest="${1#*://}" default="$2"
    rest="${rest##*@}"
    rest="${rest%%/*}"
    rest="${rest%%\?*}"
    if [[ "$rest" == *:* ]]; then printf '%s\n' "${rest##*:}"; else printf '%s\n' "$default"; fi
}

# ---------------------------------------------------------------- apt

WEFT_APT_UPDATED=""
# Install Debian packages when root; otherwise print the command and fail.
weft_apt_install() {
    if ! weft_is_root; then
        weft_die "missing system packages; run: sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $*"
    fi
    command -v apt-get >/dev/null 2>&1 || weft_die "apt-get not found; install these packages by hand: $*"
    if [ -z "$WEFT_APT_UPDATED" ]; then
        weft_log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null >&2 || weft_die "apt-get update failed"
        WEFT_APT_UPDATED=1
    fi
    weft_log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null >&2 \
        || weft_die "apt-get install $* failed"
}

# ---------------------------------------------------------------- NATS binary

weft_nats_bin() { printf '%s\n' "$WEFT_VENV/bin/nats-server"; }
# Directory with a nats-server symlink (made by scripts/deps), safe to put on PATH.
WEFT_BIN="$WEFT_TOOLS/bin"

weft_moto_bin() { printf '%s\n' "$WEFT_VENV/bin/moto_server"; }

weft_schemathesis_bin() { printf '%s\n' "$WEFT_VENV/bin/st"; }

weft_venv_python() { printf '%s\n' "$WEFT_VENV/bin/python"; }

# Prints the version (e.g. 4.32.5) of the Python package $1 installed in the venv, or nothing.
weft_venv_package_version() {
    [ -x "$WEFT_VENV/bin/python" ] || return 0
    "$WEFT_VENV/bin/python" -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || true
}

# Prints the version (e.g. 5.2.5) of moto installed in the venv, or nothing.
weft_moto_version() {
    [ -x "$WEFT_VENV/bin/python" ] || return 0
    "$WEFT_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true
}

# Prints the version (e.g. 2.15.1) of the nats-server binary $1, or nothing.
weft_nats_version_of() {
    local out
    out="$("$1" --version 2>/dev/null)" || return 0
    out="${out##*v}"
    printf '%s\n' "$out"
}

# ---------------------------------------------------------------- PostgreSQL

weft_pg_url() { printf 'postgres://postgres@127.0.0.1:%s/postgres\n' "$WEFT_PG_PORT"; }

# Run a PostgreSQL server tool as the owner of the cluster: the `postgres` user when we
# are root (initdb and pg_ctl refuse root), else ourselves.
weft_as_pg() {
    if weft_is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# The cluster's directory: data/ (PGDATA), run/ (socket), log, all owned by the cluster
# owner. Default $WEFT_TOOLS/pg; when root and the postgres user cannot reach $WEFT_TOOLS
# (e.g. it is under /root, mode 700), /var/lib/weft/pg instead.
weft_pg_root_dir() {
    if [ -n "${WEFT_PG_DATA:-}" ]; then printf '%s\n' "$WEFT_PG_DATA"; return; fi
    if weft_is_root; then
        mkdir -p "$WEFT_TOOLS"
        if ! runuser -u postgres -- test -x "$WEFT_TOOLS" 2>/dev/null; then
            printf '%s\n' "/var/lib/weft/pg"
            return
        fi
    fi
    printf '%s\n' "$WEFT_TOOLS/pg"
}

weft_pg_ready() {
    local url="$1"
    "$WEFT_PG_BIN/pg_isready" -q -t 2 -d "$url" >/dev/null 2>&1 \
        || pg_isready -q -t 2 -d "$url" >/dev/null 2>&1
}

# Start (initialising if needed) the local cluster unless DATABASE_URL already answers.
# Sets DATABASE_URL and, when it started the server, WEFT_STARTED_PG_PID.
weft_pg_start() {
    if [ -n "${DATABASE_URL:-}" ] && weft_pg_ready "$DATABASE_URL"; then
        weft_log "PostgreSQL answers on DATABASE_URL=$DATABASE_URL; using it"
        return 0
    fi
    local url root data sock log
    url="$(weft_pg_url)"
    if weft_pg_ready "$url"; then
        weft_log "PostgreSQL already answers on $url; using it"
        DATABASE_URL="$url"
        return 0
    fi
    [ -x "$WEFT_PG_BIN/initdb" ] || weft_die "PostgreSQL $WEFT_PG_MAJOR not found in $WEFT_PG_BIN; run scripts/deps"
    root="$(weft_pg_root_dir)"
    data="$root/data"
    sock="$root/run"
    log="$root/postgresql.log"
    mkdir -p "$data" "$sock"
    chmod 700 "$data"
    if weft_is_root; then chown -R postgres: "$root"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
        weft_log "initdb $data"
        weft_as_pg "$WEFT_PG_BIN/initdb" -D "$data" -A trust -U postgres -E UTF8 --no-instructions >"$root/initdb.log" 2>&1 \
            || { cat "$root/initdb.log" >&2; weft_die "initdb failed (log $root/initdb.log)"; }
    fi
    # Our settings live in weft.conf, rewritten at every start; postgresql.conf includes it.
    if ! grep -q "include_if_exists = 'weft.conf'" "$data/postgresql.conf"; then
        printf "\ninclude_if_exists = 'weft.conf'\n" >>"$data/postgresql.conf"
    fi
    cat >"$data/weft.conf" <<EOF
# Written by scripts/services; edits are lost at the next start.
listen_addresses = '127.0.0.1'
port = $WEFT_PG_PORT
unix_socket_directories = '$sock'
wal_level = logical
max_connections = 500
EOF
    if weft_is_root; then chown postgres: "$data/weft.conf" "$data/postgresql.conf"; fi
    weft_log "starting PostgreSQL on 127.0.0.1:$WEFT_PG_PORT (data $data, log $log)"
    if ! weft_as_pg "$WEFT_PG_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null; then
        tail -n 30 "$log" >&2 || true
        weft_die "PostgreSQL did not start (is another server using port $WEFT_PG_PORT or data dir $data?)"
    fi
    weft_pg_ready "$url" || weft_die "PostgreSQL started but $url does not answer"
    WEFT_STARTED_PG_PID="$(head -n 1 "$data/postmaster.pid")"
    DATABASE_URL="$url"
}

# ---------------------------------------------------------------- NATS server

weft_nats_url() { printf 'nats://127.0.0.1:%s\n' "$WEFT_NATS_PORT"; }

# Start a local JetStream-enabled NATS unless NATS_URL already answers.
# Sets NATS_URL and, when it started the server, WEFT_STARTED_NATS_PID.
weft_nats_start() {
    if [ -n "${NATS_URL:-}" ]; then
        local h p
        h="$(weft_url_host "$NATS_URL")"
        p="$(weft_url_port "$NATS_URL" 4222)"
        if weft_tcp_open "$h" "$p"; then
            weft_log "NATS answers on NATS_URL=$NATS_URL; using it"
            return 0
        fi
    fi
    local url bin dir i
    url="$(weft_nats_url)"
    if weft_tcp_open 127.0.0.1 "$WEFT_NATS_PORT"; then
        weft_log "NATS already answers on $url; using it"
        NATS_URL="$url"
        return 0
    fi
    bin="$(weft_nats_bin)"
    [ -x "$bin" ] || weft_die "nats-server not found at $bin; run scripts/deps"
    dir="${WEFT_NATS_DATA:-$WEFT_TOOLS/nats}"
    mkdir -p "$dir"
    weft_log "starting NATS on 127.0.0.1:$WEFT_NATS_PORT (monitor :$WEFT_NATS_MONITOR_PORT, store $dir, log $dir.log)"
    nohup "$bin" -js -a 127.0.0.1 -p "$WEFT_NATS_PORT" -sd "$dir" -m "$WEFT_NATS_MONITOR_PORT" \
        -P "$dir.pid" >"$dir.log" 2>&1 </dev/null &
    local pid=$!
    for i in $(seq 1 100); do
        if weft_tcp_open 127.0.0.1 "$WEFT_NATS_PORT"; then
            WEFT_STARTED_NATS_PID="$pid"
            NATS_URL="$url"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
        : "$i"
    done
    tail -n 20 "$dir.log" >&2 || true
    kill "$pid" 2>/dev/null || true
    weft_die "NATS did not start on port $WEFT_NATS_PORT"
}

# ---------------------------------------------------------------- stopping by PID

# Send SIGINT/SIGTERM ($3) to PID $2 (named $1) and wait up to 30 s for it to exit, then
# SIGKILL. $4, if given, ends the log line (e.g. "that scripts/dev started").
weft_stop_pid() {
    local name="$1" pid="$2" sig="${3:-TERM}" note="${4:-}" i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    weft_log "stopping $name (pid $pid)${note:+ $note}"
    kill "-$sig" "$pid" 2>/dev/null || return 0
    for i in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
        : "$i"
    done
    weft_log "$name (pid $pid) did not exit in 30 s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

# PostgreSQL: SIGINT is the "fast" shutdown.
weft_pg_stop_pid() { weft_stop_pid PostgreSQL "$1" INT "${2:-}"; }
weft_nats_stop_pid() { weft_stop_pid NATS "$1" TERM "${2:-}"; }

# Stop what this shell started (for traps).
weft_stop_started() {
    weft_nats_stop_pid "$WEFT_STARTED_NATS_PID"
    weft_pg_stop_pid "$WEFT_STARTED_PG_PID"
    WEFT_STARTED_NATS_PID=""
    WEFT_STARTED_PG_PID=""
}
