#!/usr/bin/env bash
# make demo: a 3-validator Squall network on 127.0.0.1 in a temporary folder. Funds two accounts,
# sends signed transfers with the wallet, shows them final, fetches a receipt and verifies it
# offline against the genesis alone, audits the chain, prints a summary and stops the validators
# by PID. KEEP=1 leaves the network running and prints how to use it.
#
#   scripts/demo.sh                 (make demo builds the release preset first)
#   KEEP=1 scripts/demo.sh
#   BUILD=build/h-node-rel scripts/demo.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build/release}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
SQUALLD="${SQUALLD_BIN:-$BUILD/node/squalld}"
SQUALL="${SQUALL_BIN:-$BUILD/wallet-cli/squall}"
KEEP="${KEEP:-0}"
T0=$SECONDS

say() { printf '\n== %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

[ -x "$SQUALLD" ] || die "$SQUALLD is not built (run 'make release')"
WALLET=1
if [ ! -x "$SQUALL" ]; then
  WALLET=0
  echo "demo: the wallet ($SQUALL) is not built; the wallet steps are skipped"
fi

DIR="$(mktemp -d "${TMPDIR:-/tmp}/squall-demo.XXXXXX")"
PIDS=()
cleanup() {
  local rc=$?
  if [ "$KEEP" != 1 ] || [ $rc -ne 0 ]; then
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    done
    if [ $rc -ne 0 ]; then
      echo "demo: FAILED (exit $rc); validator logs kept in $DIR" >&2
    else
      rm -rf "$DIR"
    fi
  fi
  exit $rc
}
trap cleanup EXIT INT TERM

# Free base ports: validator i uses P2P+i and RPC+i.
port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
pick_base() {
  local base
  for _ in $(seq 1 50); do
    base=$(( 20000 + (RANDOM % 400) * 100 ))
    if port_free $((base + 1)) && port_free $((base + 2)) && port_free $((base + 3)); then
      echo "$base"; return 0
    fi
  done
  return 1
}
P2P=$(pick_base) || die "no free ports for the validators"
RPC=$(pick_base) || die "no free ports for the API"
[ "$P2P" != "$RPC" ] || RPC=$((RPC + 50))

# HTTP GET without curl (bash's /dev/tcp): prints the status code.
http_status() {
  local port=$1 path=$2 line
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
  read -r line <&3 || true
  exec 3<&- 3>&-
  echo "$line" | awk '{print $2}'
}
http_body() {
  local port=$1 path=$2
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$path" >&3
  sed '1,/^\r$/d' <&3
  exec 3<&- 3>&-
}

say "a 3-validator testnet in $DIR"
"$SQUALLD" testnet --validators 3 --out "$DIR/net" --p2p-base "$P2P" --rpc-base "$RPC" \
  --accounts 2 --log-level warn >/dev/null
for i in 1 2 3; do
  "$SQUALLD" start --home "$DIR/net/v$i" >"$DIR/v$i.log" 2>&1 &
  PIDS+=($!)
  echo "validator $i: pid ${PIDS[-1]}, API http://127.0.0.1:$((RPC + i)), log $DIR/v$i.log"
done

deadline=$((SECONDS + 60))
for i in 1 2 3; do
  until [ "$(http_status $((RPC + i)) /readyz 2>/dev/null)" = 200 ]; do
    kill -0 "${PIDS[$((i - 1))]}" 2>/dev/null || die "validator $i exited (see $DIR/v$i.log)"
    [ $SECONDS -lt $deadline ] || die "validator $i not ready in 60 s (see $DIR/v$i.log)"
    sleep 0.1
  done
done
echo "all three validators are in one group and serving ($((SECONDS - T0)) s)"

N1="http://127.0.0.1:$((RPC + 1))"
N2="http://127.0.0.1:$((RPC + 2))"
N3="http://127.0.0.1:$((RPC + 3))"
ACC="$DIR/net/accounts"
GEN="$DIR/net/genesis.json"

if [ "$WALLET" = 1 ]; then
  W() { "$SQUALL" "$@"; }
  A1=$(W address --keystore "$ACC/client1.key" --json | sed -n 's/.*"address": *"\([0-9a-f]*\)".*/\1/p')
  A2=$(W address --keystore "$ACC/client2.key" --json | sed -n 's/.*"address": *"\([0-9a-f]*\)".*/\1/p')
  [ -n "$A1" ] && [ -n "$A2" ] || die "cannot read the account addresses"

  say "fund two accounts (mint by the genesis issuer, waiting until final)"
  W mint --keystore "$ACC/issuer.key" --node "$N1" --to "$A1" --amount 1000
  W mint --keystore "$ACC/issuer.key" --node "$N1" --to "$A2" --amount 500

  say "signed transfers through different validators"
  W send --keystore "$ACC/client1.key" --node "$N2" --to "$A2" --amount 120
  W send --keystore "$ACC/client2.key" --node "$N3" --to "$A1" --amount 45
  OUT=$(W send --keystore "$ACC/client1.key" --node "$N1" --to "$A2" --amount 7 --json)
  echo "$OUT"
  TX=$(echo "$OUT" | sed -n 's/.*"id": *"\([0-9a-f]\{64\}\)".*/\1/p')
  [ -n "$TX" ] || die "no transaction id in the wallet's answer"

  say "the last transfer, as validator 3 sees it"
  W tx "$TX" --node "$N3" --wait final

  say "balances"
  W balance "$A1" --node "$N2"
  W balance "$A2" --node "$N3"

  say "a receipt, verified offline with nothing but the genesis file"
  W receipt "$TX" --node "$N2" --out "$DIR/receipt.bin"
  W verify-receipt "$DIR/receipt.bin" --genesis "$GEN"

  say "audit of the whole chain, from genesis"
  W audit --node "$N1"
else
  say "(wallet missing) chain status only"
fi

say "summary"
for i in 1 2 3; do
  body=$(http_body $((RPC + i)) /v1/status)
  h=$(echo "$body" | sed -n 's/.*"heights": *{\([^}]*\)}.*/\1/p')
  echo "validator $i: $h"
done
H1=$(http_body $((RPC + 1)) /v1/status | sed -n 's/.*"final": *\([0-9]*\).*/\1/p')
for i in 1 2 3; do
  echo "validator $i: block $H1 hash $(http_body $((RPC + i)) "/v1/blocks/$H1" | sed -n 's/.*"hash": *"\([0-9a-f]*\)".*/\1/p')"
done
echo "demo finished in $((SECONDS - T0)) s"

if [ "$KEEP" = 1 ]; then
  cat <<EOF

The network keeps running (KEEP=1). Folder: $DIR
  validators: pids ${PIDS[*]}; APIs $N1 $N2 $N3
  logs:       $DIR/v1.log $DIR/v2.log $DIR/v3.log
  keys:       $ACC (client1.key, client2.key, issuer.key, gov.key; unencrypted)
Try:
  export SQUALL_NODE=$N1
  $SQUALL balance --keystore $ACC/client1.key
  $SQUALL send --keystore $ACC/client1.key --to \$($SQUALL address --keystore $ACC/client2.key --json | sed -n 's/.*"address": *"\\([0-9a-f]*\\)".*/\\1/p') --amount 1
  $SQUALL audit --node $N2
Stop it:
  kill ${PIDS[*]} && rm -rf $DIR
EOF
fi
