#!/usr/bin/env bash
# Makes the pcapng and Linux cooked golden captures in test/golden/pcapng/ and tshark's reading of
# them (expected.json). Run as root:   bash test/golden/pcapng/make.sh [outdir]
# See test/golden/README.md, "pcapng and Linux cooked captures", for what each file holds.
#
# Two namespaces made here with unique names (suffix $$) and deleted on exit, joined by a veth pair
# with fixed MACs and offloads off; traffic only between them and on their loopbacks, to
# documentation addresses (RFC 5737, RFC 3849). Only processes started here are stopped, by pid.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
GOLDEN=$(cd "$HERE/.." && pwd)
OUT=${1:-$HERE}
SFX=$$
TMP=$(mktemp -d /tmp/oasis-golden-ng.XXXXXX)
A=oasis-gng-a-$SFX
B=oasis-gng-b-$SFX
CAP_PID=

log() { printf '[golden-ng] %s\n' "$*" >&2; }

cleanup() {
  if [[ -n $CAP_PID ]]; then kill "$CAP_PID" 2>/dev/null || true; wait "$CAP_PID" 2>/dev/null || true; fi
  ip netns del "$A" 2>/dev/null || true
  ip netns del "$B" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in dumpcap tshark editcap tcpdump ethtool ping nc python3; do
  command -v "$tool" >/dev/null || { log "missing: $tool"; exit 1; }
done

ip netns add "$A"
ip netns add "$B"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link add a0 address 02:00:00:00:00:0a type veth peer name b0 netns "$B" address 02:00:00:00:00:0b
for pair in "$A:a0" "$B:b0"; do
  ns=${pair%%:*} ifc=${pair#*:}
  ip netns exec "$ns" ethtool -K "$ifc" tx off tso off gso off gro off >/dev/null
  ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.router_solicitations=0" "net.ipv6.conf.$ifc.accept_dad=0"
done
ip -n "$A" addr add 192.0.2.1/24 dev a0
ip -n "$A" addr add 2001:db8::1/64 dev a0 nodad
ip -n "$B" addr add 192.0.2.2/24 dev b0
ip -n "$B" addr add 2001:db8::2/64 dev b0 nodad
ip -n "$A" link set a0 up
ip -n "$B" link set b0 up
sleep 1 # let the links settle (no stray MLD or RS once the captures start)

# capture FILE CMD...: starts the capture CMD in namespace A, waits until FILE has its header.
capture() {
  local file=$1
  shift
  : >"$TMP/cap.err"
  ip netns exec "$A" "$@" 2>"$TMP/cap.err" &
  CAP_PID=$!
  for _ in $(seq 100); do
    [[ -s $file ]] && break
    sleep 0.05
  done
  [[ -s $file ]] || { cat "$TMP/cap.err" >&2; log "no capture header in $file"; exit 1; }
  sleep 0.5
}

stop() {
  sleep 0.5
  kill -INT "$CAP_PID"
  wait "$CAP_PID" || true
  CAP_PID=
}

# traffic: ARP (the neighbour forgotten first), ICMP echo, UDP and ICMPv6 echo over a0, and echo on lo.
traffic() {
  ip -n "$A" neigh flush dev a0
  ip netns exec "$A" ping -c 2 -i 0.2 -W 1 192.0.2.2 >/dev/null
  printf 'oasis golden\n' | ip netns exec "$A" nc -u -w 1 -p 40010 192.0.2.2 9 || true
  ip netns exec "$A" ping -6 -c 1 -W 1 2001:db8::2 >/dev/null
  ip netns exec "$A" ping -c 1 -W 1 127.0.0.1 >/dev/null
}

log 'dumpcap on two interfaces (a0 and lo): dumpcap-2if.pcapng'
capture "$TMP/dumpcap-2if.pcapng" dumpcap -q -i a0 -i lo -w "$TMP/dumpcap-2if.pcapng"
traffic
stop

log 'tshark on a0: tshark.pcapng'
capture "$TMP/tshark.pcapng" tshark -q -i a0 -F pcapng -w "$TMP/tshark.pcapng"
traffic
stop

log 'tcpdump -i any, Linux cooked v1 and v2: any-sll.pcap, any-sll2.pcap'
capture "$TMP/any-sll.pcap" tcpdump -i any -y LINUX_SLL -s 0 -U -n -Z root --immediate-mode -w "$TMP/any-sll.pcap"
traffic
stop
capture "$TMP/any-sll2.pcap" tcpdump -i any -y LINUX_SLL2 -s 0 -U -n -Z root --immediate-mode -w "$TMP/any-sll2.pcap"
traffic
stop

log 'dumpcap -i any, Linux cooked v2 in pcapng: any-sll2.pcapng'
capture "$TMP/any-sll2.pcapng" dumpcap -q -i any -y LINUX_SLL2 -w "$TMP/any-sll2.pcapng"
traffic
stop

log 'editcap conversions of the golden pcaps: udp.pcapng, icmp6-nsec.pcapng'
editcap -F pcapng --capture-comment 'converted from test/golden/udp.pcap' "$GOLDEN/udp.pcap" "$TMP/udp.pcapng"
editcap -F nsecpcap "$GOLDEN/icmp6.pcap" "$TMP/icmp6-nsec.pcap"
# A Decryption Secrets Block (a block Oasis skips) from a made-up TLS key log line.
printf 'CLIENT_RANDOM %064d %096d\n' 0 0 >"$TMP/keys.txt"
editcap -F pcapng --inject-secrets "tls,$TMP/keys.txt" "$TMP/icmp6-nsec.pcap" "$TMP/icmp6-nsec.pcapng"

log 'crafted: sections.pcapng (two files one after the other), crafted.pcapng (craft.py)'
cat "$TMP/dumpcap-2if.pcapng" "$TMP/udp.pcapng" >"$TMP/sections.pcapng"
python3 "$HERE/craft.py" "$GOLDEN" "$TMP/crafted.pcapng"

FILES=(dumpcap-2if.pcapng tshark.pcapng any-sll.pcap any-sll2.pcap any-sll2.pcapng udp.pcapng
  icmp6-nsec.pcapng sections.pcapng crafted.pcapng)
for f in "${FILES[@]}"; do
  if tshark -r "$TMP/$f" -Y '_ws.malformed || _ws.expert.severity >= 0x800000' 2>/dev/null | grep -q .; then
    log "tshark finds malformed frames or errors in $f"
    exit 1
  fi
  install -m 644 "$TMP/$f" "$OUT/$f"
done
python3 "$HERE/expect.py" "$OUT" "${FILES[@]}"
log "done: ${FILES[*]} and expected.json in $OUT"
