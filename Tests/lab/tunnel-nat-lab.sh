#!/usr/bin/env bash
# Two edge nodes in two LANs, each behind its own nftables NAT router, and a public relay,
# all in network namespaces. node-b serves HTTP behind the cluster IP 10.96.0.10:80; node-a
# curls it through its agent, whose tunnel reaches node-b hole-punched (both NATs map
# endpoint-independently) or relayed (with MAPPING=symmetric, nat-a maps per destination).
#
# With `pods`, the edge CNI too: each node has a pod (a namespace on its cni0 bridge, as the
# bridge CNI plugin lays it out) in its pod network 10.244.{1,2}.0/24, and the pod on node-a
# pings, curls and runs iperf3 against the pod on node-b by pod IP while the WAN is captured.
#
# Usage: tunnel-nat-lab.sh EDGEMESH_BINARY [cone|symmetric] [pods]   (root)
# Prints `BODY=<what curl got>`, `PATH=<the tunnel path node-a reports to node-b>` and
# `REASON=<why a better path is not in use, if it says>`; with `pods` also `PING=<echo replies
# of 5>`, `POD_BODY=`, `IPERF_BITS=<bits/s received>`, `WAN_PLAINTEXT=<captured WAN packets
# holding the pod's page in the clear>`, `WAN_DATAGRAMS=<UDP packets to a tunnel port>` and
# `DEVICE=<node-b's edge CNI status line>`. Exits 0 when curl succeeded.
# Everything it creates is removed on exit. LAB_LOGS=1 prints the agents' and relay's logs.
set -euo pipefail
EDGEMESH=$1
MAPPING=${2:-cone}
PODS=${3:-}
P="tl$$"                        # namespace prefix, unique per run
WORK=$(mktemp -d /tmp/edgemesh-nat-lab.XXXXXX)
NS=("$P-wan" "$P-relay" "$P-ra" "$P-rb" "$P-a" "$P-b" "$P-pa" "$P-pb")

cleanup() {
    set +e
    for ns in "${NS[@]}"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
    done
    sleep 0.2
    for ns in "${NS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

for ns in "${NS[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done

# The internet: a bridge in its own namespace, the relay and both routers' WAN ports on it.
ip -n "$P-wan" link add br0 type bridge && ip -n "$P-wan" link set br0 up
attach_wan() { # NS IFNAME ADDRESS
    ip link add "$P-w$2" type veth peer name "$2"
    ip link set "$P-w$2" netns "$P-wan" && ip -n "$P-wan" link set "$P-w$2" master br0 up
    ip link set "$2" netns "$1" && ip -n "$1" addr add "$3/24" dev "$2" && ip -n "$1" link set "$2" up
}
attach_wan "$P-relay" wr 203.0.113.100
attach_wan "$P-ra" wa 203.0.113.10
attach_wan "$P-rb" wb 203.0.113.20

# Each LAN: router port .1, node .10, default route through the router.
attach_lan() { # ROUTER NODE SUBNET(3 octets) IFNAME
    ip link add "$P-l$4" type veth peer name "$P-n$4"
    ip link set "$P-l$4" netns "$1" && ip -n "$1" addr add "$3.1/24" dev "$P-l$4" && ip -n "$1" link set "$P-l$4" up
    ip link set "$P-n$4" netns "$2" && ip -n "$2" addr add "$3.10/24" dev "$P-n$4" && ip -n "$2" link set "$P-n$4" up
    ip -n "$2" route add default via "$3.1"
    in_ns "$1" sysctl -qw net.ipv4.ip_forward=1
}
attach_lan "$P-ra" "$P-a" 192.168.1 a
attach_lan "$P-rb" "$P-b" 192.168.2 b

# A node's pod: a namespace on the node's cni0 bridge, gateway .1, the tunnel's MTU.
attach_pod() { # NODE POD NETWORK(3 octets)
    ip -n "$1" link add cni0 type bridge && ip -n "$1" addr add "$3.1/24" dev cni0 && ip -n "$1" link set cni0 up
    ip link add "$P-v$2" netns "$1" type veth peer name eth0 netns "$P-$2"
    ip -n "$1" link set "$P-v$2" master cni0 up
    ip -n "$P-$2" addr add "$3.2/24" dev eth0 && ip -n "$P-$2" link set eth0 mtu 1400 up
    ip -n "$P-$2" route add default via "$3.1"
    in_ns "$1" sysctl -qw net.ipv4.ip_forward=1
}
AGENT_EXTRA=()
if [ "$PODS" = pods ]; then
    attach_pod "$P-a" pa 10.244.1
    attach_pod "$P-b" pb 10.244.2
    AGENT_EXTRA=(--edge-cni --cni-conf-dir "")
fi

# Home routers: masquerade out of the WAN port, and let in from the WAN only what answers
# something sent, whether forwarded or addressed to the router itself, as home routers do.
# Without the input chain a punch SYN that reaches the far router before that side's own SYN
# has left is answered with a RST by the router's kernel; the RST kills the near side's round,
# and the conntrack entry it leaves collides with the far side's outbound mapping, so
# masquerade picks another source port and the punch fails (seen here in 3 runs of 5).
nat_router() { # NS WAN_IF RANDOM?
    local masq="masquerade"
    [ "$3" = random ] && masq="masquerade random"
    in_ns "$1" nft -f - <<NFT
table ip lab {
    chain postrouting { type nat hook postrouting priority 100; oifname "$2" $masq; }
    chain forward {
        type filter hook forward priority 0; policy accept;
        iifname "$2" ct state established,related accept
        iifname "$2" drop
    }
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "$2" ct state established,related accept
        iifname "$2" drop
    }
}
NFT
}
nat_router "$P-ra" wa "$([ "$MAPPING" = symmetric ] && echo random || echo plain)"
nat_router "$P-rb" wb plain

# The cluster: one pre-shared key, one service on node-b, the relay.
head -c 32 /dev/urandom | base64 > "$WORK/psk"
mkdir -p "$WORK/manifests" "$WORK/state-a" "$WORK/state-b"
cat > "$WORK/manifests/web.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: default}
subsets: [{addresses: [{ip: 192.168.2.10, nodeName: node-b}], ports: [{name: http, port: 8080}]}]
YAML
in_ns "$P-relay" "$EDGEMESH" relay --listen 203.0.113.100:20008 --psk-file "$WORK/psk" >"$WORK/relay.log" 2>&1 &

mkdir -p "$WORK/www" && echo "hello from node-b" > "$WORK/www/index.html"
in_ns "$P-b" python3 -m http.server 8080 --bind 192.168.2.10 --directory "$WORK/www" >/dev/null 2>&1 &
for node in a b; do
    ip -n "$P-$node" route add 10.96.0.0/12 dev lo src 127.0.0.1
    in_ns "$P-$node" "$EDGEMESH" agent --node-name "node-$node" --manifests "$WORK/manifests" \
        --listen-ip 127.0.0.1 --dns-port 5353 --state-dir "$WORK/state-$node" \
        --psk-file "$WORK/psk" --relay 203.0.113.100:20008 "${AGENT_EXTRA[@]}" >"$WORK/agent-$node.log" 2>&1 &
done

# Each agent's tunnel key, from its status endpoint, goes into its Node object (what the agent
# publishes through the API in a cluster).
public_key() {
    for _ in $(seq 100); do
        key=$(in_ns "$P-$1" "$EDGEMESH" status --json 2>/dev/null | python3 -c \
            'import json,sys; print((json.load(sys.stdin).get("tunnel") or {}).get("publicKey") or "")' 2>/dev/null || true)
        [ -n "$key" ] && { echo "$key"; return; }
        sleep 0.1
    done
    echo "no tunnel key from node-$1; its log:" >&2; cat "$WORK/agent-$1.log" >&2; exit 1
}
for node in a b; do
    subnet=$([ $node = a ] && echo 192.168.1 || echo 192.168.2)
    pods=$([ $node = a ] && echo 10.244.1.0/24 || echo 10.244.2.0/24)
    cat > "$WORK/manifests/node-$node.yaml" <<YAML
apiVersion: v1
kind: Node
metadata: {name: node-$node, annotations: {edgemesh.io/tunnel-public-key: "$(public_key $node)"}}
spec: {$([ "$PODS" = pods ] && echo "podCIDR: $pods")}
status: {addresses: [{type: InternalIP, address: $subnet.10}]}
YAML
done

body=""
for _ in $(seq 60); do
    body=$(in_ns "$P-a" curl -s --max-time 5 http://10.96.0.10/ || true)
    [ -n "$body" ] && break
    sleep 0.5
done
echo "BODY=$body"
tunnel_path() {
    in_ns "$P-a" "$EDGEMESH" status --json | python3 -c '
import json, sys
peers = (json.load(sys.stdin).get("tunnel") or {}).get("peers") or []
print(next((p.get("path") or "down" for p in peers if p["node"] == "node-b"), "none"))'
}
# The first connection may be relayed (it can win the race); the tunnel tries the better path
# every 30 s, so a punchable pair is hole-punched within 45 s.
path=$(tunnel_path)
if [ "$MAPPING" = cone ]; then
    for _ in $(seq 90); do
        [ "$path" = hole-punched ] && break
        sleep 0.5
        path=$(tunnel_path)
    done
fi
echo "PATH=$path"
in_ns "$P-a" "$EDGEMESH" status --json | python3 -c '
import json, sys
peers = (json.load(sys.stdin).get("tunnel") or {}).get("peers") or []
print("REASON=" + next((p.get("lastFailure") or "" for p in peers if p["node"] == "node-b"), ""))' 
if [ "$PODS" = pods ]; then
    # The pod on node-b: a page and an iperf3 server on its pod IP.
    mkdir -p "$WORK/pod-www" && echo "hello from pod-b" > "$WORK/pod-www/index.html"
    in_ns "$P-pb" python3 -m http.server 8080 --bind 10.244.2.2 --directory "$WORK/pod-www" >/dev/null 2>&1 &
    in_ns "$P-pb" iperf3 -s -B 10.244.2.2 >/dev/null 2>&1 &
    # Not through in_ns: `$!` must be tshark itself (ip netns exec execs it), to stop it below.
    ip netns exec "$P-wan" tshark -q -n -i br0 -w "$WORK/wan.pcap" >/dev/null 2>&1 &
    capture=$!
    pod_body=""
    for _ in $(seq 60); do
        pod_body=$(in_ns "$P-pa" curl -s --max-time 5 http://10.244.2.2:8080/ || true)
        [ -n "$pod_body" ] && break
        sleep 0.5
    done
    echo "POD_BODY=$pod_body"
    replies=$(in_ns "$P-pa" ping -n -c 5 -i 0.2 -W 2 10.244.2.2 | sed -n 's/.* \([0-9]*\) received.*/\1/p' || true)
    echo "PING=${replies:-0}"
    bits=$(in_ns "$P-pa" iperf3 -c 10.244.2.2 -t 3 -J 2>/dev/null | python3 -c \
        'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]))' 2>/dev/null || echo 0)
    echo "IPERF_BITS=$bits"
    sleep 0.5
    # Killed outright: a test runner may start this script with SIGTERM blocked, and tshark
    # inherits that. What dumpcap buffered last is lost; the page went by long before.
    pkill -KILL -P "$capture" 2>/dev/null; kill -KILL "$capture" 2>/dev/null; wait "$capture" 2>/dev/null || true
    echo "WAN_PLAINTEXT=$(tshark -n -r "$WORK/wan.pcap" -Y 'frame contains "hello from pod-b"' 2>/dev/null | wc -l)"
    echo "WAN_DATAGRAMS=$(tshark -n -r "$WORK/wan.pcap" -Y 'udp.port == 20006' 2>/dev/null | wc -l)"
    echo "DEVICE=$(in_ns "$P-b" "$EDGEMESH" status 2>/dev/null | grep -m1 'edge CNI: device' || true)"
fi
[ -n "${LAB_LOGS:-}" ] && for log in "$WORK"/*.log; do echo "--- $log"; grep -iv "dns" "$log" | tail -25; done
if [ -z "$body" ]; then
    for log in "$WORK"/*.log; do echo "--- $log" >&2; tail -20 "$log" >&2; done
    exit 1
fi
