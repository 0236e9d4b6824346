#!/usr/bin/env bash
# Captures the golden pcaps in test/golden/ from real Linux traffic between private network
# namespaces joined by veth pairs. Run as root:
#   bash scripts/golden-capture.sh [outdir [scene...]]   scenes: arp icmp icmp_errors icmp6 tcp udp
# then `node scripts/golden-expect.mjs` to refresh test/golden/expected/. See test/golden/README.md.
#
# Every namespace is created here with a unique name (suffix $$) and deleted on exit; traffic only
# flows between these namespaces, to documentation addresses (RFC 5737, RFC 3849). Offloads are off so
# the captured frames are exactly what the kernel put on the wire (full checksums, MSS-sized segments).
# Only processes started here are stopped, by pid. Captures go to a temporary folder first and are
# moved into place only when every scenario succeeded.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/test/golden}
SFX=$$
TMP=$(mktemp -d /tmp/oasis-golden.XXXXXX)
NAMESPACES=()
PIDS=()

log() { printf '[golden] %s\n' "$*" >&2; }

cleanup() {
  local pid ns
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need() {
  local missing=() tool
  for tool in ethtool tshark tcpdump ping arping nc radvd nft; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  if ((${#missing[@]})); then
    log "installing packages for: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ethtool tshark tcpdump iputils-ping \
      iputils-arping netcat-openbsd radvd nftables >/dev/null
  fi
}

# mkns NAME: a namespace with loopback up and ICMP error rate limits off (so every error is sent).
mkns() {
  ip netns add "$1"
  NAMESPACES+=("$1")
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
}

# veth NS1 IF1 MAC1 NS2 IF2 MAC2 [v6]: a pair, still down, with fixed MACs and offloads off. Without
# "v6", IPv6 is disabled on both ends so v4-only captures carry no DAD/MLD/RS noise.
veth() {
  local ns1=$1 if1=$2 mac1=$3 ns2=$4 if2=$5 mac2=$6 v6=${7:-}
  ip -n "$ns1" link add "$if1" address "$mac1" type veth peer name "$if2" netns "$ns2" address "$mac2"
  local pair
  for pair in "$ns1:$if1" "$ns2:$if2"; do
    local ns=${pair%%:*} ifc=${pair#*:}
    ip netns exec "$ns" ethtool -K "$ifc" tx off tso off gso off gro off >/dev/null
    if [[ -z $v6 ]]; then
      ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.disable_ipv6=1"
    else
      # No router solicitations and no DAD delay unless a scenario wants them.
      ip netns exec "$ns" sysctl -qw "net.ipv6.conf.$ifc.router_solicitations=0" \
        "net.ipv6.conf.$ifc.accept_dad=0"
    fi
  done
}

# capture_start NS IF FILE: tcpdump on one interface (link type Ethernet), full frames, written per packet.
CAP_PID=
capture_start() {
  local ns=$1 ifc=$2 file=$3
  : >"$TMP/tcpdump.err"
  ip netns exec "$ns" tcpdump -i "$ifc" -s 0 -U -n -Z root --immediate-mode -w "$file" \
    2>"$TMP/tcpdump.err" &
  CAP_PID=$!
  PIDS+=("$CAP_PID")
  for _ in $(seq 100); do
    grep -q 'listening on' "$TMP/tcpdump.err" && return 0
    sleep 0.05
  done
  log "tcpdump did not start: $(cat "$TMP/tcpdump.err")"
  return 1
}

capture_stop() {
  sleep 0.5
  kill -INT "$CAP_PID"
  wait "$CAP_PID" || true
  log "$(tr '\n' ' ' <"$TMP/tcpdump.err")"
}

# bg INPUT NS CMD...: runs CMD in NS in the background with stdin from the file INPUT and records its
# pid (`ip netns exec` execs CMD, so the pid is CMD's).
BG_PID=
bg() {
  local input=$1 ns=$2
  shift 2
  ip netns exec "$ns" "$@" <"$input" >/dev/null &
  BG_PID=$!
  PIDS+=("$BG_PID")
}

# text STRING: a file holding STRING and a newline, for bg's stdin.
text() {
  local f
  f=$(mktemp "$TMP/text.XXXXXX")
  printf '%s\n' "$1" >"$f"
  printf '%s' "$f"
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# wait_port NS PROTO PORT: until something listens there.
wait_port() {
  local flag=-lnt
  [[ $2 == udp ]] && flag=-lnu
  for _ in $(seq 100); do
    [[ -n $(ip netns exec "$1" ss -H "$flag" "sport = :$3") ]] && return 0
    sleep 0.05
  done
  log "nothing listens on $2/$3 in $1"
  return 1
}

MAC_A=02:00:00:00:00:0a
MAC_B=02:00:00:00:00:0b
MAC_C=02:00:00:00:00:0c
MAC_R0=02:00:00:00:01:00
MAC_R1=02:00:00:00:01:01

# Two hosts on one link: A (a0) and B (b0), 192.0.2.0/24 and 2001:db8:1::/64.
pair_ab() {
  local v6=${1:-}
  NS_A=oasis-gold-a-$SFX-$2
  NS_B=oasis-gold-b-$SFX-$2
  mkns "$NS_A"
  mkns "$NS_B"
  veth "$NS_A" a0 "$MAC_A" "$NS_B" b0 "$MAC_B" "$v6"
  ip -n "$NS_A" addr add 192.0.2.1/24 dev a0
  ip -n "$NS_B" addr add 192.0.2.2/24 dev b0
  if [[ -n $v6 ]]; then
    ip -n "$NS_A" addr add 2001:db8:1::1/64 dev a0 nodad
    ip -n "$NS_B" addr add 2001:db8:1::2/64 dev b0 nodad
  fi
  ip -n "$NS_A" link set a0 up
  ip -n "$NS_B" link set b0 up
}

# ARP: arping request/reply, unsolicited (gratuitous) request, gratuitous reply, a DAD probe, and the
# resolution that precedes a ping.
scene_arp() {
  log 'arp.pcap'
  pair_ab '' arp
  capture_start "$NS_A" a0 "$TMP/arp.pcap"
  ip netns exec "$NS_A" arping -c 2 -w 3 -I a0 192.0.2.2 >/dev/null
  ip netns exec "$NS_A" arping -c 1 -U -I a0 192.0.2.1 >/dev/null || true
  ip netns exec "$NS_A" arping -c 1 -A -I a0 192.0.2.1 >/dev/null || true
  ip netns exec "$NS_A" arping -c 1 -w 1 -D -I a0 192.0.2.9 >/dev/null || true
  ip -n "$NS_A" neigh flush dev a0
  ip -n "$NS_B" neigh flush dev b0
  ip netns exec "$NS_A" ping -c 1 -W 2 192.0.2.2 >/dev/null
  capture_stop
}

# ICMP echo: plain, 3000 bytes (fragmented by both hosts), 60000 bytes (41 fragments each way).
scene_icmp() {
  log 'icmp.pcap'
  pair_ab '' icmp
  ip netns exec "$NS_A" ping -c 1 -W 2 192.0.2.2 >/dev/null # resolve ARP before the capture
  capture_start "$NS_A" a0 "$TMP/icmp.pcap"
  ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 2 192.0.2.2 >/dev/null
  ip netns exec "$NS_A" ping -c 1 -W 2 -s 3000 192.0.2.2 >/dev/null
  ip netns exec "$NS_A" ping -c 1 -W 2 -s 60000 192.0.2.2 >/dev/null
  capture_stop
}

# ICMP and ICMPv6 errors, captured on A's link to the router R:
#   A a0 198.51.100.1 2001:db8:2::1 -- r0 .254 ::fe [R, forwarding] r1 203.0.113.254 2001:db8:3::fe
#     (MTU 1280) -- c0 203.0.113.2 2001:db8:3::2 (MTU 1280) C
scene_icmp_errors() {
  log 'icmp-errors.pcap'
  NS_A=oasis-gold-a-$SFX-err
  local ns_r=oasis-gold-r-$SFX-err ns_c=oasis-gold-c-$SFX-err
  mkns "$NS_A"
  mkns "$ns_r"
  mkns "$ns_c"
  veth "$NS_A" a0 "$MAC_A" "$ns_r" r0 "$MAC_R0" v6
  veth "$ns_r" r1 "$MAC_R1" "$ns_c" c0 "$MAC_C" v6
  ip netns exec "$ns_r" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
  ip -n "$ns_r" link set r1 mtu 1280
  ip -n "$ns_c" link set c0 mtu 1280
  ip -n "$NS_A" addr add 198.51.100.1/24 dev a0
  ip -n "$NS_A" addr add 2001:db8:2::1/64 dev a0 nodad
  ip -n "$ns_r" addr add 198.51.100.254/24 dev r0
  ip -n "$ns_r" addr add 2001:db8:2::fe/64 dev r0 nodad
  ip -n "$ns_r" addr add 203.0.113.254/24 dev r1
  ip -n "$ns_r" addr add 2001:db8:3::fe/64 dev r1 nodad
  ip -n "$ns_c" addr add 203.0.113.2/24 dev c0
  ip -n "$ns_c" addr add 2001:db8:3::2/64 dev c0 nodad
  local ns
  for ns in "$NS_A:a0" "$ns_r:r0" "$ns_r:r1" "$ns_c:c0"; do ip -n "${ns%%:*}" link set "${ns#*:}" up; done
  ip -n "$NS_A" route add default via 198.51.100.254
  ip -n "$NS_A" -6 route add default via 2001:db8:2::fe
  ip -n "$ns_c" route add default via 203.0.113.254
  ip -n "$ns_c" -6 route add default via 2001:db8:3::fe
  # Resolve neighbours everywhere and let MLD settle before the capture.
  ip netns exec "$NS_A" ping -c 1 -W 2 203.0.113.2 >/dev/null
  ip netns exec "$NS_A" ping -6 -c 1 -W 2 2001:db8:3::2 >/dev/null
  sleep 3
  capture_start "$NS_A" a0 "$TMP/icmp-errors.pcap"
  # Port unreachable from C (ICMP 3/3, ICMPv6 1/4), quoting the UDP datagram.
  echo 'probe v4' | ip netns exec "$NS_A" nc -u -w 1 -p 40009 203.0.113.2 9 || true
  echo 'probe v6' | ip netns exec "$NS_A" nc -6 -u -w 1 -p 40009 2001:db8:3::2 9 || true
  # Time exceeded in transit from R (ICMP 11/0, ICMPv6 3/0), quoting the echo request.
  ip netns exec "$NS_A" ping -c 1 -W 1 -t 1 203.0.113.2 >/dev/null || true
  ip netns exec "$NS_A" ping -6 -c 1 -W 1 -t 1 2001:db8:3::2 >/dev/null || true
  # Fragmentation needed with next-hop MTU 1280 (ICMP 3/4) and Packet Too Big (ICMPv6 2/0), then the
  # same echo without DF, which A now fragments to the learnt path MTU (and C fragments its reply).
  ip netns exec "$NS_A" ping -c 1 -W 1 -M 'do' -s 1300 203.0.113.2 >/dev/null || true
  ip netns exec "$NS_A" ping -c 1 -W 2 -M dont -s 1300 203.0.113.2 >/dev/null
  ip netns exec "$NS_A" ping -6 -c 1 -W 1 -M 'do' -s 1300 2001:db8:3::2 >/dev/null || true
  ip netns exec "$NS_A" ping -6 -c 1 -W 2 -s 1300 2001:db8:3::2 >/dev/null
  # No route at R (ICMP 3/0, ICMPv6 1/0).
  # ip_error() rate-limits per source with a bucket that starts empty: only the second echo draws an error.
  ip netns exec "$NS_A" ping -c 2 -i 1.1 -W 1 192.0.2.77 >/dev/null || true
  ip netns exec "$NS_A" ping -6 -c 1 -W 1 2001:db8:77::1 >/dev/null || true
  # Neighbour resolution fails at R after 3 s (ICMP 3/1 host unreachable, ICMPv6 1/3).
  ip netns exec "$NS_A" ping -c 1 -W 5 203.0.113.99 >/dev/null &
  local p4=$!
  ip netns exec "$NS_A" ping -6 -c 1 -W 5 2001:db8:3::99 >/dev/null &
  local p6=$!
  PIDS+=("$p4" "$p6")
  wait "$p4" || true
  wait "$p6" || true
  capture_stop
}

# ICMPv6 and NDP from link-up on: DAD, MLDv2 reports, RS; RAs from radvd (prefix, MTU, RDNSS, source
# link-layer address); SLAAC; ping6 link-local and global (NS/NA), 3000-byte ping6 (fragments).
scene_icmp6() {
  log 'icmp6.pcap'
  NS_A=oasis-gold-a-$SFX-nd
  NS_B=oasis-gold-b-$SFX-nd
  mkns "$NS_A"
  mkns "$NS_B"
  ip -n "$NS_A" link add a0 address "$MAC_A" type veth peer name b0 netns "$NS_B" address "$MAC_B"
  ip netns exec "$NS_A" ethtool -K a0 tx off tso off gso off gro off >/dev/null
  ip netns exec "$NS_B" ethtool -K b0 tx off tso off gso off gro off >/dev/null
  # B skips DAD so its link-local address (the RA source) is ready when A's first RS arrives; A keeps
  # DAD (NS from ::) and solicits every second until answered.
  ip netns exec "$NS_B" sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv6.conf.b0.router_solicitations=0 \
    net.ipv6.conf.b0.accept_dad=0
  ip netns exec "$NS_A" sysctl -qw net.ipv6.conf.a0.accept_ra=1 net.ipv6.conf.a0.router_solicitations=3 \
    net.ipv6.conf.a0.router_solicitation_interval=1
  ip -n "$NS_B" addr add 2001:db8:1::2/64 dev b0
  cat >"$TMP/radvd.conf" <<'EOF'
interface b0 {
  AdvSendAdvert on;
  MinRtrAdvInterval 20;
  MaxRtrAdvInterval 60;
  AdvLinkMTU 1500;
  AdvCurHopLimit 64;
  prefix 2001:db8:1::/64 {
    AdvOnLink on;
    AdvAutonomous on;
    AdvValidLifetime 86400;
    AdvPreferredLifetime 14400;
  };
  RDNSS 2001:db8:1::53 {
    AdvRDNSSLifetime 300;
  };
};
EOF
  # B's end is up first (no carrier yet): the capture then sees everything A does at link up.
  ip -n "$NS_B" link set b0 up
  capture_start "$NS_B" b0 "$TMP/icmp6.pcap"
  bg /dev/null "$NS_B" radvd -n -C "$TMP/radvd.conf" -p "$TMP/radvd.pid" -m logfile -l "$TMP/radvd.log"
  local radvd=$BG_PID
  sleep 0.5
  ip -n "$NS_A" link set a0 up
  local addrs
  for _ in $(seq 100); do
    # (No `cmd | grep -q` here: under pipefail an early grep exit fails the pipeline.)
    addrs=$(ip -n "$NS_A" -6 addr show dev a0)
    [[ $addrs == *'inet6 2001:db8:1:'* && $addrs != *tentative* ]] && break
    sleep 0.1
  done
  if [[ $addrs != *'inet6 2001:db8:1:'* || $addrs == *tentative* ]]; then
    log "A has no usable SLAAC address: $addrs"
    log "radvd said: $(cat "$TMP/radvd.log" 2>/dev/null)"
    return 1
  fi
  local a_global
  a_global=$(ip -n "$NS_A" -6 -o addr show dev a0 scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
  log "A's SLAAC address: $a_global"
  sleep 1
  ip netns exec "$NS_A" ping -6 -c 1 -W 2 fe80::ff:fe00:b%a0 >/dev/null
  ip netns exec "$NS_A" ping -6 -c 1 -W 2 2001:db8:1::2 >/dev/null
  ip netns exec "$NS_A" ping -6 -c 1 -W 2 -s 3000 2001:db8:1::2 >/dev/null
  ip netns exec "$NS_B" ping -6 -c 1 -W 2 "$a_global" >/dev/null
  stop "$radvd"
  capture_stop
}

# TCP between A (client) and B (server), v4 and v6: handshakes with Linux's SYN options, data both
# ways, FINs; RSTs from closed ports; a 64 KiB transfer with data segments 15 and 17 dropped at B's
# ingress so B acknowledges with SACK blocks and A retransmits.
scene_tcp() {
  log 'tcp.pcap'
  pair_ab v6 tcp
  ip netns exec "$NS_A" ping -c 1 -W 2 192.0.2.2 >/dev/null
  ip netns exec "$NS_A" ping -6 -c 1 -W 2 2001:db8:1::2 >/dev/null
  ip netns exec "$NS_B" nft -f - <<'EOF'
table netdev oasis_golden {
  chain ingress {
    type filter hook ingress device "b0" priority 0; policy accept;
    ip daddr 192.0.2.2 tcp dport 5003 ip length > 1000 numgen inc mod 1000 { 15, 17 } drop
  }
}
EOF
  sleep 2
  capture_start "$NS_A" a0 "$TMP/tcp.pcap"
  local srv
  bg "$(text 'hello from B over IPv4')" "$NS_B" nc -l -s 192.0.2.2 -p 5001
  srv=$BG_PID
  wait_port "$NS_B" tcp 5001
  printf 'hello from A over IPv4\n' | ip netns exec "$NS_A" nc -N -w 3 -p 40001 192.0.2.2 5001 >/dev/null
  wait "$srv" || true

  bg "$(text 'hello from B over IPv6')" "$NS_B" nc -6 -l -s 2001:db8:1::2 -p 5002
  srv=$BG_PID
  wait_port "$NS_B" tcp 5002
  printf 'hello from A over IPv6\n' |
    ip netns exec "$NS_A" nc -6 -N -w 3 -p 40002 2001:db8:1::2 5002 >/dev/null
  wait "$srv" || true

  ip netns exec "$NS_A" nc -z -w 1 -p 40003 192.0.2.2 5999 || true
  ip netns exec "$NS_A" nc -6 -z -w 1 -p 40004 2001:db8:1::2 5999 || true

  bg /dev/null "$NS_B" nc -l -s 192.0.2.2 -p 5003
  srv=$BG_PID
  wait_port "$NS_B" tcp 5003
  head -c 65536 /dev/zero | ip netns exec "$NS_A" nc -N -w 5 -p 40005 192.0.2.2 5003 >/dev/null
  wait "$srv" || true
  capture_stop
  [[ $(ip netns exec "$NS_B" nft list table netdev oasis_golden) == *numgen* ]] # the rule was there
}

# UDP between A and B, v4 and v6: a datagram each way, then a 3000-byte one (fragmented by A).
scene_udp() {
  log 'udp.pcap'
  pair_ab v6 udp
  ip netns exec "$NS_A" ping -c 1 -W 2 192.0.2.2 >/dev/null
  ip netns exec "$NS_A" ping -6 -c 1 -W 2 2001:db8:1::2 >/dev/null
  sleep 2
  capture_start "$NS_A" a0 "$TMP/udp.pcap"
  local srv fam addr port
  for fam in 4 6; do
    if [[ $fam == 4 ]]; then addr=192.0.2.2 port=7004; else addr=2001:db8:1::2 port=7006; fi
    bg "$(text "pong from B over IPv$fam")" "$NS_B" nc "-$fam" -u -l -q 1 -s "$addr" -p "$port"
    srv=$BG_PID
    wait_port "$NS_B" udp "$port"
    # stdin stays open a while: nc closes its socket at EOF, and B's answer would draw a port unreachable.
    { printf 'ping from A over IPv%s\n' "$fam"; sleep 0.5; } |
      ip netns exec "$NS_A" nc "-$fam" -u -q 0 -w 1 -p "4000$fam" "$addr" "$port" >"$TMP/udp.out" || true
    grep -q "pong from B over IPv$fam" "$TMP/udp.out" || {
      log "no answer over UDP/IPv$fam"
      return 1
    }
    stop "$srv"
    bg /dev/null "$NS_B" nc "-$fam" -u -l -s "$addr" -p "$port"
    srv=$BG_PID
    wait_port "$NS_B" udp "$port"
    head -c 3000 /dev/zero | tr '\0' 'u' |
      ip netns exec "$NS_A" nc "-$fam" -u -q 1 -w 1 -p "4100$fam" "$addr" "$port" >/dev/null || true
    stop "$srv"
  done
  capture_stop
}

need
if [[ $# -le 1 ]]; then scenes=(arp icmp icmp_errors icmp6 tcp udp); else scenes=("${@:2}"); fi
for s in "${scenes[@]}"; do "scene_$s"; done
mkdir -p "$OUT"
for f in "$TMP"/*.pcap; do
  cp "$f" "$OUT/"
  log "$(basename "$f"): $(tshark -r "$f" 2>/dev/null | wc -l) frames"
done
