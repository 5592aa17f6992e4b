#!/usr/bin/env bash
# Sealpost benchmark (issue 4, item 7): sealpostd against a private Postfix instance, both
# over implicit TLS (ECDSA P-256, TLS 1.3) on loopback, driven by the same load generator
# (`sealpost bench`), server and load generator pinned to separate cores. Writes
# bench/results/<date>.md (medians of RUNS runs, and the ratio). See bench/README.md.
#
#   bench/run.sh                 # RUNS=5 DURATION=5 SERVER_CPU=0 CLIENT_CPU=1
#   RUNS=3 DURATION=3 bench/run.sh
#
# Needs root only to install Postfix (apt) if it is missing and to run its master (which
# drops to the `postfix` user). Never touches the system Postfix: the private instance has its
# own config, queue and data directories under a temporary directory and listens only on a
# high 127.0.0.1 port; the system instance is neither configured nor started. Everything this
# script starts is stopped by PID on exit, error or interrupt.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUNS=${RUNS:-5}
DURATION=${DURATION:-5}          # seconds per run (the load generator's --duration cap)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BUILD_DIR=${BUILD_DIR:-$REPO/build-bench-release}
KEEP=${KEEP:-0}                  # 1: keep the work directory (logs, queues) for inspection
STAMP=$(date -u +%Y-%m-%d-%H%M)
RESULT_MD=${RESULT_MD:-$REPO/bench/results/$STAMP.md}

WORK=$(mktemp -d /tmp/sealpost-bench.XXXXXX)
chmod 755 "$WORK"                # the postfix user must reach its queue below it
PIDS=()                          # everything we start in the background
POSTFIX_DIR=$WORK/postfix
POSTFIX_STARTED=0

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

cleanup() {
  local status=$?
  set +e
  if [[ $POSTFIX_STARTED == 1 ]]; then
    local master=""
    [[ -f $POSTFIX_DIR/data/master.lock ]] && master=$(tr -d ' \n' <"$POSTFIX_DIR/data/master.lock")
    postfix -c "$POSTFIX_DIR/etc" stop >/dev/null 2>&1
    if [[ -n $master ]]; then
      for _ in $(seq 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$master" 2>/dev/null
    fi
  fi
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  if [[ $KEEP == 1 || $status != 0 ]]; then
    log "work directory kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() {  # wait_port PORT PID-or-empty: until 127.0.0.1:PORT accepts (30 s)
  for _ in $(seq 300); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2).close()" \
      2>/dev/null; then return 0; fi
    if [[ -n ${2:-} ]] && ! kill -0 "$2" 2>/dev/null; then log "process $2 died"; return 1; fi
    sleep 0.1
  done
  log "port $1 never accepted"
  return 1
}

# --- 1. Build (Release) ---------------------------------------------------------------------
log "building Release in $BUILD_DIR"
cmake -S "$REPO" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEALPOST_TESTS=OFF \
  >"$WORK/cmake.log" 2>&1 || { cat "$WORK/cmake.log"; exit 1; }
cmake --build "$BUILD_DIR" --target sealpost sealpostd >"$WORK/build.log" 2>&1 ||
  { tail -50 "$WORK/build.log"; exit 1; }
SEALPOST=$BUILD_DIR/src/cli/sealpost
SEALPOSTD=$BUILD_DIR/src/daemon/sealpostd

# --- 2. Postfix, installed if missing (never configured or started as the system MTA) ----------
if ! command -v postfix >/dev/null 2>&1; then
  log "installing postfix (no configuration: the system instance stays unconfigured and off)"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  echo "postfix postfix/mailname string bench.invalid" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix \
    >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; exit 1; }
fi
POSTFIX_VERSION=$(postconf -d -h mail_version)

# --- 3. Certificates: a CA and an ECDSA P-256 leaf for mail.bench.test / 127.0.0.1 -----------
PKI=$WORK/pki
mkdir -p "$PKI"
(
  cd "$PKI"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca.key 2>/dev/null
  openssl req -x509 -new -key ca.key -subj "/CN=Bench CA" -days 2 -sha256 -out ca.pem \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out server.key 2>/dev/null
  openssl req -new -key server.key -subj "/CN=mail.bench.test" -out server.csr 2>/dev/null
  printf 'subjectAltName=DNS:mail.bench.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 7 -days 2 -sha256 \
    -extfile ext -out server.pem 2>/dev/null
)

SP_MX=$(free_port); SP_SUB=$(free_port); PF_SMTPS=$(free_port); SSL_PORT=$(free_port)
RCPT=bench@bench.test
AUTH_USER=bench@bench.test
AUTH_PASS=bench-Secret-1

# --- 4. sealpostd: implicit TLS, role mx (no AUTH) and a submission listener for AUTH cost ------
# Two instances: the head-to-head one accepts durably and then discards ([queue] discard, the
# like-for-like match for Postfix's discard transport); the second delivers to a Maildir, for
# the numbers with local delivery on. Only one of them is under load at any time.
start_sealpostd() {  # start_sealpostd DIR MX_PORT SUB_PORT DISCARD
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/sealpost.toml" <<TOML
hostname = "mail.bench.test"
state_dir = "$dir/state"
threads = 1
log_level = "info"

[pki.main]
cert = "$PKI/server.pem"
key = "$PKI/server.key"

[[listen]]
address = "127.0.0.1:$2"
tls = "implicit"
role = "mx"
pki = ["main"]

[[listen]]
address = "127.0.0.1:$3"
tls = "implicit"
role = "submission"
pki = ["main"]

[domains]
local = ["bench.test"]

[[mailbox]]
address = "$RCPT"

[accounts]
file = "$dir/users"

[queue]
discard = $4

[limits]
max_connections_per_ip = 1024
TOML
  printf '%s\n' "$AUTH_PASS" | "$SEALPOST" --config "$dir/sealpost.toml" user add "$AUTH_USER" \
    --password-stdin >/dev/null
  taskset -c "$SERVER_CPU" "$SEALPOSTD" --config "$dir/sealpost.toml" \
    >"$dir/stdout.log" 2>"$dir/sealpostd.log" </dev/null &
  PIDS+=("$!")
  wait_port "$2" "$!"
  log "sealpostd pid $! on :$2 (mx) :$3 (submission), discard = $4"
}
SP=$WORK/sealpost
SPM=$WORK/sealpost-maildir
SPM_MX=$(free_port); SPM_SUB=$(free_port)
start_sealpostd "$SP" "$SP_MX" "$SP_SUB" true
start_sealpostd "$SPM" "$SPM_MX" "$SPM_SUB" false
SP_LOG=$SP/sealpostd.log
SPM_MAILDIR=$SPM/state/mail/$RCPT

# --- 5. Postfix: private instance, smtps with wrappermode, relay for mynetworks to discard: ----
PF=$POSTFIX_DIR
mkdir -p "$PF/etc" "$PF/queue" "$PF/data"
chown postfix "$PF/data"
cat >"$PF/etc/main.cf" <<CF
compatibility_level = 3.6
config_directory = $PF/etc
queue_directory = $PF/queue
data_directory = $PF/data
maillog_file = $PF/maillog
maillog_file_prefixes = $PF
mail_owner = postfix
setgid_group = postdrop
myhostname = mail.bench.test
mydomain = bench.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
smtpd_peername_lookup = no
biff = no
# Accepted mail is queued durably (cleanup fsyncs the queue file before smtpd says 250),
# then delivered to the discard transport.
default_transport = discard
relay_transport = discard
local_transport = discard
smtpd_tls_chain_files = $PKI/server.key, $PKI/server.pem
smtpd_tls_security_level = encrypt
smtpd_tls_loglevel = 0
smtpd_tls_session_cache_database =
default_process_limit = 100
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
CF
cat >"$PF/etc/master.cf" <<CF
$PF_SMTPS inet n      -       n       -       -       smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
CF
# Postfix commands report errors only to a terminal or the log: show the log on failure.
postfix -c "$PF/etc" check >"$PF/check.log" 2>&1 ||
  { cat "$PF/check.log" "$PF/maillog" 2>/dev/null; exit 1; }
POSTFIX_STARTED=1
taskset -c "$SERVER_CPU" postfix -c "$PF/etc" start >"$PF/start.log" 2>&1 ||
  { cat "$PF/start.log" "$PF/maillog" 2>/dev/null; exit 1; }
wait_port "$PF_SMTPS" ""
for _ in $(seq 50); do [[ -s $PF/data/master.lock ]] && break; sleep 0.1; done
log "postfix $POSTFIX_VERSION master pid $(tr -d ' \n' <"$PF/data/master.lock") on :$PF_SMTPS"

# --- 6. Runs ----------------------------------------------------------------------------------
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
SP_ACCEPTED=0  # everything the discarding sealpostd has acknowledged so far

drain() {  # drain SERVER ACCEPTED: wait until the server has handed on what it accepted
  local server=$1 accepted=$2
  [[ $server == sealpost ]] && SP_ACCEPTED=$((SP_ACCEPTED + accepted))
  for _ in $(seq 1200); do
    case $server in
      sealpost)  # one "discarded" log line per message
        local d
        d=$(grep -c ' discarded (\[queue\] discard)' "$SP_LOG" || true)
        ((d >= SP_ACCEPTED)) && return 0
        ;;
      sealpost-maildir)
        local n
        n=$(find "$SPM_MAILDIR/new" "$SPM_MAILDIR/cur" -type f 2>/dev/null | wc -l)
        if ((n >= accepted)); then
          find "$SPM_MAILDIR/new" "$SPM_MAILDIR/cur" -type f -delete 2>/dev/null
          return 0
        fi
        ;;
      postfix)
        local q
        q=$(find "$PF/queue/incoming" "$PF/queue/active" "$PF/queue/deferred" \
          "$PF/queue/maildrop" -type f 2>/dev/null | wc -l)
        ((q == 0)) && return 0
        ;;
    esac
    sleep 0.1
  done
  log "WARNING: $server did not finish delivering within 120 s"
}

cpu_ticks() {  # cpu_ticks N: "busy total" jiffies of CPU N so far
  awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' \
    /proc/stat
}

busy_pct() {  # busy_pct "BUSY0 TOTAL0" "BUSY1 TOTAL1"
  python3 -c 'import sys; b0,t0=map(int,sys.argv[1].split()); b1,t1=map(int,sys.argv[2].split());
print(round(100*(b1-b0)/max(t1-t0,1),1))' "$1" "$2"
}

run_one() {  # run_one SERVER SCENARIO RUN PORT ARGS...
  local server=$1 scenario=$2 run=$3 port=$4
  shift 4
  local out status=0
  local s0 c0
  s0=$(cpu_ticks "$SERVER_CPU")
  c0=$(cpu_ticks "$CLIENT_CPU")
  out=$(taskset -c "$CLIENT_CPU" "$SEALPOST" bench --server "127.0.0.1:$port" --tls implicit \
    --ca "$PKI/ca.pem" --sni mail.bench.test --from "${FROM:-sender@example.org}" --to "$RCPT" \
    -m 100000000 --duration "$DURATION" --timeout 30 --json "$@" 2>"$WORK/bench.err") ||
    status=$?
  local line server_busy client_busy
  server_busy=$(busy_pct "$s0" "$(cpu_ticks "$SERVER_CPU")")
  client_busy=$(busy_pct "$c0" "$(cpu_ticks "$CLIENT_CPU")")
  line=$(tail -n 1 <<<"$out")
  if [[ $status != 0 ]]; then
    log "$server $scenario run $run: exit $status: $line"
    sed 's/^/    /' "$WORK/bench.err" >&2
  fi
  printf '{"server":"%s","scenario":"%s","run":%d,"exit":%d,"cpu":{"server":%s,"client":%s},"result":%s}\n' \
    "$server" "$scenario" "$run" "$status" "$server_busy" "$client_busy" "${line:-null}" \
    >>"$RESULTS"
  local accepted
  accepted=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["messages"])' "$line" \
    2>/dev/null || echo 0)
  log "$server $scenario run $run: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]);
print(f"{d[\"msgs_per_s\"]} msgs/s p50 {d[\"p50_ms\"]} ms failures {d[\"failures\"]}")' \
    "$line" 2>/dev/null || echo "$line")"
  drain "$server" "$accepted"
}

SCENARIOS=(
  "a_conn_per_msg|-c 16 --per-conn 1"
  "b_100_per_conn|-c 16 --per-conn 100"
  "c_single_client|-c 1 --per-conn 100"
  "d_100k_bodies|-c 16 --per-conn 100 --size 102400"
)
for entry in "${SCENARIOS[@]}"; do
  scenario=${entry%%|*}
  read -r -a args <<<"${entry#*|}"
  for run in $(seq "$RUNS"); do  # alternate the servers so drift hits both alike
    run_one sealpost "$scenario" "$run" "$SP_MX" "${args[@]}"
    run_one postfix "$scenario" "$run" "$PF_SMTPS" "${args[@]}"
  done
done
# Sealpost only: the cost of AUTH PLAIN (a password check per connection), and resumption.
for run in $(seq "$RUNS"); do
  FROM=$AUTH_USER run_one sealpost e_auth_conn_per_msg "$run" "$SP_SUB" -c 16 --per-conn 1 \
    --auth "$AUTH_USER:$AUTH_PASS"
  run_one sealpost f_resume_conn_per_msg "$run" "$SP_MX" -c 16 --per-conn 1 --resume
  run_one postfix f_resume_conn_per_msg "$run" "$PF_SMTPS" -c 16 --per-conn 1 --resume
done
# Sealpost with Maildir delivery on (spool, then a Maildir write + fsync and spool removal).
for run in $(seq "$RUNS"); do
  run_one sealpost-maildir a_conn_per_msg "$run" "$SPM_MX" -c 16 --per-conn 1
  run_one sealpost-maildir b_100_per_conn "$run" "$SPM_MX" -c 16 --per-conn 100
done

# --- 7. A bare OpenSSL handshake loop on the same cores, same certificate ---------------------
log "bare OpenSSL handshakes: openssl s_server on cpu $SERVER_CPU, 4 x s_time on cpu $CLIENT_CPU"
taskset -c "$SERVER_CPU" openssl s_server -quiet -accept "127.0.0.1:$SSL_PORT" \
  -cert "$PKI/server.pem" -key "$PKI/server.key" -naccept 1000000 \
  >"$WORK/s_server.log" 2>&1 </dev/null &
SSL_PID=$!
PIDS+=("$SSL_PID")
wait_port "$SSL_PORT" "$SSL_PID"
HANDSHAKES=()
BARE_CPUS=()
for run in $(seq 3); do
  total=0
  STIME=()
  s0=$(cpu_ticks "$SERVER_CPU")
  c0=$(cpu_ticks "$CLIENT_CPU")
  for i in 1 2 3 4; do
    taskset -c "$CLIENT_CPU" openssl s_time -connect "127.0.0.1:$SSL_PORT" -new \
      -time "$DURATION" -CAfile "$PKI/ca.pem" >"$WORK/s_time.$i" 2>&1 </dev/null &
    STIME+=($!)
    PIDS+=($!)
  done
  wait "${STIME[@]}" || true
  BARE_CPU="server $(busy_pct "$s0" "$(cpu_ticks "$SERVER_CPU")")% client $(busy_pct "$c0" "$(cpu_ticks "$CLIENT_CPU")")%"
  for i in 1 2 3 4; do
    n=$(sed -n 's/^\([0-9]*\) connections in [0-9]* real seconds.*/\1/p' "$WORK/s_time.$i")
    total=$((total + ${n:-0}))
  done
  HANDSHAKES+=("$(python3 -c "print(round($total / $DURATION, 1))")")
  log "bare handshakes run $run: ${HANDSHAKES[-1]}/s ($BARE_CPU busy)"
  BARE_CPUS+=("$BARE_CPU")
done
kill "$SSL_PID" 2>/dev/null || true

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 8. Report --------------------------------------------------------------------------------
mkdir -p "$(dirname "$RESULT_MD")"
python3 "$REPO/bench/report.py" "$RESULTS" \
  --handshakes "${HANDSHAKES[*]}" --bare-cpu "$(IFS=';'; echo "${BARE_CPUS[*]}")" --runs "$RUNS" --duration "$DURATION" \
  --postfix-version "$POSTFIX_VERSION" --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" \
  --loadavg "$LOAD_BEFORE -> $LOAD_AFTER" --command "${BENCH_COMMAND:-RUNS=$RUNS DURATION=$DURATION SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU bench/run.sh}" \
  --repo "$REPO" >"$RESULT_MD"
cp "$RESULTS" "${RESULT_MD%.md}.jsonl"
log "wrote $RESULT_MD"
cat "$RESULT_MD"
