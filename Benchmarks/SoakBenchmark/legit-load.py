"""The legitimate load of the soak benchmark, from one node's namespace: HTTP requests to a
service's cluster IP (each on a new connection), UDP echoes through a cluster IP, DNS over UDP
and TCP at the node's agent, and HTTP through the ingress gateway. Paced per kind; prints one
JSON object of counts when the duration is over."""
import argparse, json, socket, threading, time
import dns.message, dns.query

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, required=True)
parser.add_argument("--rate", type=float, default=10, help="operations per second per kind")
parser.add_argument("--http", help="host:port of a service's cluster IP")
parser.add_argument("--udp", help="host:port of a UDP echo service's cluster IP")
parser.add_argument("--dns", help="host:port of the agent's DNS server")
parser.add_argument("--name", default="web.default.svc.cluster.local")
parser.add_argument("--gateway", help="host:port of the ingress gateway")
parser.add_argument("--host-header", default="shop.example")
args = parser.parse_args()

counts = {}
lock = threading.Lock()
deadline = time.monotonic() + args.seconds


def note(kind, ok, reason=None):
    with lock:
        entry = counts.setdefault(kind, {"ok": 0, "failed": 0, "reasons": {}})
        entry["ok" if ok else "failed"] += 1
        if not ok:
            reason = reason or "wrong answer"
            entry["reasons"][reason] = entry["reasons"].get(reason, 0) + 1


def split(endpoint):
    host, port = endpoint.rsplit(":", 1)
    return host, int(port)


def http(endpoint, host_header):
    host, port = split(endpoint)
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(f"GET / HTTP/1.1\r\nHost: {host_header}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status = data.split(b"\r\n", 1)[0]
    return True if status.startswith(b"HTTP/1.") and b" 200 " in status else "answered " + (status[:40].decode(errors="replace") or "nothing")


def udp(endpoint):
    host, port = split(endpoint)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        payload = bytes(range(256)) * 4
        s.sendto(payload, (host, port))
        data, _ = s.recvfrom(65536)
        return data == payload


def dns_query(endpoint, tcp):
    host, port = split(endpoint)
    query = dns.message.make_query(args.name, "A")
    answer = (dns.query.tcp if tcp else dns.query.udp)(query, host, port=port, timeout=2)
    return answer.rcode() == 0 and len(answer.answer) > 0


def paced(kind, operation):
    interval = 1.0 / args.rate
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        try:
            outcome = operation()
            note(kind, outcome is True, None if outcome is True else (outcome or None))
        except Exception as error:
            note(kind, False, type(error).__name__)
        next_at += interval
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            next_at = time.monotonic()


kinds = []
if args.http:
    kinds.append(("http via cluster IP", lambda: http(args.http, "web")))
if args.udp:
    kinds.append(("udp via cluster IP", lambda: udp(args.udp)))
if args.dns:
    kinds.append(("dns over udp", lambda: dns_query(args.dns, False)))
    kinds.append(("dns over tcp", lambda: dns_query(args.dns, True)))
if args.gateway:
    kinds.append(("http via gateway", lambda: http(args.gateway, args.host_header)))
threads = [threading.Thread(target=paced, args=kind, daemon=True) for kind in kinds]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(counts))
