#!/usr/bin/env bash
# A network partition among five mc_member processes (issue 6), each in a network namespace of its
# own, all wired by veth pairs to a bridge in a namespace of its own; every name and address is
# made here and removed on exit, even on failure. Under load, members 3 and 4 are cut from the
# bridge (ip link set ... down): the minority must stop by the majority rule (PROTOCOL.md §5.8)
# and say so, delivering nothing afterwards; the majority (0, 1, 2) must install a view of the
# three (agreeing on every view on the way and on what each delivered) and go on delivering.
# Then the links come back up: the minority, which has been asking to join since it stopped
# (mc_member --rejoin), must be added to the group again, receive the deliveries it missed by
# state transfer, and deliver and send on in a view of all five.
# Delivery logs: every member's is a prefix of the longest (what the minority delivered before it
# stopped, the majority delivered too, in the same order; what it received by state transfer and
# delivered afterwards continues the same sequence).
#
#   test_vc_netns.sh MC_MEMBER
#
# Skips (exit 77) when it cannot make namespaces (not root, no ip(8), no veth/bridge support).
# Bounded: every wait has a deadline and the whole run stays under 60 s.
set -u

MEMBER=${1:?usage: test_vc_netns.sh MC_MEMBER}
N=5
TAG="sqvc$$"
BR="${TAG}b"
NET=198.18.7 # RFC 2544 benchmarking range: reachable only inside these namespaces
PORT=7100
DIR=$(mktemp -d /tmp/sq-vc-netns-XXXXXX)
PIDS=()
MADE=()
START=$SECONDS

skip() {
    echo "SKIP: $*"
    exit 77
}

fail() {
    echo "FAIL: $*"
    for i in $(seq 0 $((N - 1))); do
        echo "--- member $i events (last lines)"
        grep -v -e BINS -e PROGRESS "$DIR/ev$i" 2>/dev/null | tail -n 8
        echo "--- member $i stderr (last lines)"
        tail -n 5 "$DIR/err$i" 2>/dev/null
    done
    exit 1
}

cleanup() {
    for pid in "${PIDS[@]}"; do
        kill -KILL "$pid" 2>/dev/null
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null
    done
    for ns in "${MADE[@]}"; do
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Waits until "$@" succeeds, at most $1 seconds (polling every 50 ms).
wait_for() {
    local limit=$1
    shift
    local deadline=$((SECONDS + limit))
    until "$@"; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}

[ "$(id -u)" = 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null || skip "ip(8) is not installed"
[ -x "$MEMBER" ] || fail "no member executable at $MEMBER"
ip netns add "$BR" 2>/dev/null || skip "cannot create a network namespace"
MADE+=("$BR")
ip -n "$BR" link add br0 type bridge 2>/dev/null || skip "cannot create a bridge"
ip -n "$BR" link set br0 up || fail "bridge up"

HOSTS=""
PORTS=""
for i in $(seq 0 $((N - 1))); do
    ns="${TAG}m$i"
    ip netns add "$ns" || fail "netns add $ns"
    MADE+=("$ns")
    # Both ends are made inside the namespaces: nothing appears in the host's namespace.
    ip -n "$BR" link add "p$i" type veth peer name "e$i" netns "$ns" 2>/dev/null ||
        skip "cannot create veth pairs"
    ip -n "$BR" link set "p$i" master br0 up || fail "bridge port p$i"
    ip -n "$ns" link set lo up || fail "lo up in $ns"
    ip -n "$ns" addr add "$NET.$((i + 1))/24" dev "e$i" || fail "address for member $i"
    ip -n "$ns" link set "e$i" up || fail "e$i up"
    HOSTS+="${HOSTS:+,}$NET.$((i + 1))"
    PORTS+="${PORTS:+,}$PORT"
done

for i in $(seq 0 $((N - 1))); do
    # ip netns exec replaces itself with the member: $! is the member's PID.
    ip netns exec "${TAG}m$i" "$MEMBER" --id "$i" --ports "$PORTS" --hosts "$HOSTS" \
        --seconds 55 --warmup 0 --rate 300 --size-min 50 --size-max 2000 --smc 1024 \
        --block 4096 --timeout-ms 1000 --linger-ms 1000 --rejoin 1 --events "$DIR/ev$i" \
        --log "$DIR/m$i.log" >"$DIR/out$i" 2>"$DIR/err$i" &
    PIDS+=($!)
done

# The latest PROGRESS line of member $1: "vid view_count total".
progress() {
    grep ' PROGRESS ' "$DIR/ev$1" 2>/dev/null | tail -n 1 |
        sed -E 's/.* vid=([0-9]+) view_count=([0-9]+) total=([0-9]+).*/\1 \2 \3/'
}

# Every member in $3.. is in view $2 ("any": whichever) and delivered at least $1 messages in it.
delivering() {
    local want=$1 vid=$2 i p
    shift 2
    for i in "$@"; do
        p=$(progress "$i")
        [ -n "$p" ] || return 1
        [ "$vid" = any ] || [ "$(echo "$p" | cut -d' ' -f1)" = "$vid" ] || return 1
        [ "$(echo "$p" | cut -d' ' -f2)" -ge "$want" ] || return 1
    done
}

stopped() {
    local i
    for i in "$@"; do
        grep -q ' STOP ' "$DIR/ev$i" 2>/dev/null || return 1
    done
}

exited() {
    local i
    for i in "$@"; do
        kill -0 "${PIDS[$i]}" 2>/dev/null && return 1
    done
    return 0
}

wait_for 20 delivering 300 any 0 1 2 3 4 || fail "the group did not start delivering"
echo "all five delivering after $((SECONDS - START)) s; cutting members 3 and 4 away"

ip -n "$BR" link set p3 down || fail "cut p3"
ip -n "$BR" link set p4 down || fail "cut p4"

wait_for 15 stopped 3 4 || fail "the minority (3, 4) did not stop"
for i in 3 4; do
    line=$(grep ' STOP ' "$DIR/ev$i")
    echo "member $i: ${line#* }"
    echo "$line" | grep -q 'rule=majority' || fail "member $i stopped, but not by the majority rule"
    grep -q 'stopped (SQ_EPEER, rule=majority)' "$DIR/err$i" ||
        fail "member $i logged no majority-rule line"
done
# The majority ends up in a view of exactly {0, 1, 2}. It may pass through a view that still
# lists the second cut member as failed (its failure was found after the first batch's end-of-view
# marker, PROTOCOL.md §5.3), which wedges at once and changes again.
majority_view() {
    local i
    for i in 0 1 2; do
        grep -q ' VIEW vid=[0-9]* members=3 ids=0,1,2 ' "$DIR/ev$i" 2>/dev/null || return 1
    done
}
wait_for 15 majority_view || fail "the majority (0, 1, 2) did not install a view of the three"
V=$(grep ' VIEW vid=[0-9]* members=3 ids=0,1,2 ' "$DIR/ev0" | sed -E 's/.* VIEW vid=([0-9]+) .*/\1/')
for i in 0 1 2; do
    grep ' VIEW ' "$DIR/ev$i" | sed -E 's/^[0-9]+ //; s/ total=.*//; s/ prev_last_ns=.*//' >"$DIR/views$i"
    echo "member $i:"
    sed 's/^/    /' "$DIR/views$i"
    grep -q "^VIEW vid=$V members=3 ids=0,1,2 " "$DIR/views$i" ||
        fail "member $i reached the view of three under another id"
    # Same views, same members, same deliveries (count and digest) in every view that ended.
    cmp -s "$DIR/views0" "$DIR/views$i" || fail "members 0 and $i disagree on the views or their deliveries"
done
wait_for 15 delivering 200 "$V" 0 1 2 || fail "the majority stopped delivering in view $V"
echo "majority installed view $V = {0,1,2} and delivers on after $((SECONDS - START)) s"

# The minority lingers in its stopped group (loop running) and then leaves it to join again:
# nothing may be delivered in between.
rejoining() {
    local i
    for i in "$@"; do
        grep -q ' REJOIN ' "$DIR/ev$i" 2>/dev/null || return 1
    done
}
wait_for 10 rejoining 3 4 || fail "the minority did not leave its stopped group to join again"
for i in 3 4; do
    line=$(grep ' REJOIN ' "$DIR/ev$i")
    echo "$line" | grep -q 'after_stop=0$' || fail "member $i delivered after stopping: $line"
    stop_total=$(grep ' STOP ' "$DIR/ev$i" | sed -E 's/.* total=([0-9]+).*/\1/')
    rejoin_total=$(echo "$line" | sed -E 's/.* total=([0-9]+).*/\1/')
    [ "$stop_total" = "$rejoin_total" ] ||
        fail "member $i: $stop_total delivered at the stop, $rejoin_total when it left the group"
done

# Heal. Both minority members keep asking to join; the majority's leader adds them.
ip -n "$BR" link set p3 up || fail "heal p3"
ip -n "$BR" link set p4 up || fail "heal p4"
echo "links healed after $((SECONDS - START)) s"
all_view() {
    local i
    for i in 0 1 2 3 4; do
        grep -q ' VIEW vid=[0-9]* members=5 ' "$DIR/ev$i" 2>/dev/null || return 1
    done
}
wait_for 20 all_view || fail "the healed minority was not added back into a view of all five"
# Five members of five validators: every id is in it, in the order they joined.
W=$(grep ' VIEW vid=[0-9]* members=5 ' "$DIR/ev0" | tail -n 1 | sed -E 's/.* VIEW vid=([0-9]+) .*/\1/')
IDS=$(grep " VIEW vid=$W members=5 " "$DIR/ev0" | sed -E 's/.* ids=([0-9,]+) .*/\1/')
[ "$W" -gt "$V" ] || fail "the view of all five ($W) does not follow the majority's view $V"
for i in 0 1 2 3 4; do
    grep -q " VIEW vid=$W members=5 ids=$IDS " "$DIR/ev$i" ||
        fail "member $i did not install view $W of all five"
done
for i in 3 4; do
    grep -q ' SYNCED from=[0-9]* to=[0-9]*' "$DIR/ev$i" ||
        fail "member $i joined without receiving the deliveries it missed"
    echo "member $i: $(grep ' SYNCED ' "$DIR/ev$i" | tail -n 1 | cut -d' ' -f2-)"
done
wait_for 15 delivering 200 "$W" 0 1 2 3 4 || fail "the healed group of five does not deliver in view $W"
echo "all five in view $W and delivering after $((SECONDS - START)) s"

for i in 0 1 2 3 4; do
    kill -TERM "${PIDS[$i]}"
done
wait_for 15 exited 0 1 2 3 4 || fail "the members did not end on SIGTERM"
for i in 0 1 2 3 4; do
    wait "${PIDS[$i]}"
    rc=$?
    [ "$rc" = 0 ] || fail "member $i exited with status $rc"
done

# Delivery logs: each a prefix of the longest (the rejoined members' included).
longest=0
for i in 1 2 3 4; do
    [ "$(stat -c %s "$DIR/m$i.log")" -gt "$(stat -c %s "$DIR/m$longest.log")" ] && longest=$i
done
for i in 0 1 2 3 4; do
    size=$(stat -c %s "$DIR/m$i.log")
    head -c "$size" "$DIR/m$longest.log" | cmp -s - "$DIR/m$i.log" ||
        fail "member $i's deliveries are not a prefix of member $longest's"
done
echo "logs: $(wc -l <"$DIR/m$longest.log") lines at member $longest; rejoined members $(wc -l <"$DIR/m3.log") and $(wc -l <"$DIR/m4.log"), all prefixes"
echo "PASS in $((SECONDS - START)) s"
exit 0
