#!/usr/bin/env bash
# Makes field-edge-a1.pcap: what a pod on an edge node sent and got back, captured on the pod's
# veth with tshark: real dig, curl and a Python UDP client talking to the cluster DNS
# (169.254.96.16) and to two cluster IPs. Node-side stand-ins answer (Python HTTP, UDP echo and
# dnspython DNS servers), as the agent would. `Scenarios/field-replay.yaml` replays it.
# Needs root, iproute2, tshark, dig, curl, python3 with dnspython.
set -euo pipefail
cd "$(dirname "$0")"
P=fieldcap$$
cleanup() { ip netns pids "$P-node" 2>/dev/null | xargs -r kill 2>/dev/null || true
            ip netns del "$P-pod" 2>/dev/null || true; ip netns del "$P-node" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$P-pod"; ip netns add "$P-node"
ip link add veth-pod netns "$P-pod" type veth peer name veth-node netns "$P-node"
ip -n "$P-pod" addr add 10.244.1.5/24 dev veth-pod
ip -n "$P-node" addr add 10.244.1.1/24 dev veth-node
for ns in "$P-pod" "$P-node"; do ip -n "$ns" link set lo up; done
ip -n "$P-pod" link set veth-pod up; ip -n "$P-node" link set veth-node up
ip -n "$P-pod" route add default via 10.244.1.1
for address in 169.254.96.16/32 10.96.0.60/32 10.96.0.61/32; do ip -n "$P-node" addr add "$address" dev lo; done

www=$(mktemp -d); echo "hostname-1" > "$www/index.html"
ip netns exec "$P-node" /usr/bin/python3 -m http.server 80 --bind 10.96.0.60 --directory "$www" >/dev/null 2>&1 &
ip netns exec "$P-node" /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("10.96.0.61", 5000))
while True:
    data, peer = s.recvfrom(65535); s.sendto(data, peer)' &
ip netns exec "$P-node" /usr/bin/python3 -c '
import socket, dns.message, dns.rrset
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("169.254.96.16", 53))
while True:
    data, peer = s.recvfrom(65535); query = dns.message.from_wire(data); answer = dns.message.make_response(query)
    answer.answer.append(dns.rrset.from_text(query.question[0].name, 30, "IN", "A", "10.96.0.60")); s.sendto(answer.to_wire(), peer)' &
sleep 1

ip netns exec "$P-pod" tshark -q -i veth-pod -F pcap -w field-edge-a1.pcap -f "ip" 2>/dev/null &
capture=$!
sleep 2
ip netns exec "$P-pod" dig +short @169.254.96.16 web.default.svc.cluster.local >/dev/null
ip netns exec "$P-pod" curl -s http://10.96.0.60/ >/dev/null
sleep 0.5
ip netns exec "$P-pod" /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.connect(("10.96.0.61", 5000))
for size in (1200, 64):
    s.send(b"x" * size); s.recv(65535)'
sleep 0.5
ip netns exec "$P-pod" curl -s http://10.96.0.60/index.html >/dev/null
sleep 1
kill -INT $capture; wait $capture 2>/dev/null || true
rm -rf "$www"
echo "wrote $(pwd)/field-edge-a1.pcap"
