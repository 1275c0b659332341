"""The hostile clients of the soak benchmark, for a duration: slow-loris connections that send
a request head a byte at a time, handshake floods that open connections to tunnel ports and
send garbage or nothing, a DNS-over-TCP client that pipelines queries and never reads, and
garbage datagrams and connections on every port. Prints one JSON object of what it did."""
import argparse, json, os, random, socket, struct, threading, time

parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float, required=True)
parser.add_argument("--slowloris", action="append", default=[], help="host:port, repeatable")
parser.add_argument("--handshake-flood", action="append", default=[], help="host:port, repeatable")
parser.add_argument("--dns-never-read", help="host:port of a DNS server over TCP")
parser.add_argument("--garbage-tcp", action="append", default=[], help="host:port, repeatable")
parser.add_argument("--garbage-udp", action="append", default=[], help="host:port, repeatable")
parser.add_argument("--connections", type=int, default=300, help="per slow-loris or flood target")
args = parser.parse_args()

deadline = time.monotonic() + args.seconds
stats = {}
lock = threading.Lock()


def count(key, amount=1):
    with lock:
        stats[key] = stats.get(key, 0) + amount


def split(endpoint):
    host, port = endpoint.rsplit(":", 1)
    return host, int(port)


def hold(endpoint, kind, first_bytes, drip):
    """Keeps up to --connections open to endpoint; each sends first_bytes, then a byte of drip
    every few seconds; ones the server closes are counted and replaced."""
    host, port = split(endpoint)
    open_sockets = []
    while time.monotonic() < deadline:
        while len(open_sockets) < args.connections and time.monotonic() < deadline:
            try:
                s = socket.create_connection((host, port), timeout=2)
                s.setblocking(False)
                if first_bytes:
                    s.send(first_bytes())
                open_sockets.append(s)
                count(f"{kind} {endpoint} opened")
            except OSError:
                count(f"{kind} {endpoint} refused")
                time.sleep(0.05)
                break
        time.sleep(3)
        alive = []
        for s in open_sockets:
            try:
                if s.recv(1, socket.MSG_PEEK) == b"":
                    raise ConnectionResetError
            except BlockingIOError:
                pass
            except OSError:
                count(f"{kind} {endpoint} closed by the server")
                s.close()
                continue
            try:
                s.send(drip())
                alive.append(s)
            except OSError:
                count(f"{kind} {endpoint} closed by the server")
                s.close()
        open_sockets = alive
    for s in open_sockets:
        s.close()


def never_reading_dns(endpoint):
    host, port = split(endpoint)
    query = bytes.fromhex("1234010000010000000000000377656207646566617" "56c74037376630763" "6c7573746572056c6f63616c0000010001")
    framed = struct.pack("!H", len(query)) + query
    while time.monotonic() < deadline:
        try:
            s = socket.create_connection((host, port), timeout=2)
            s.setblocking(False)
            sent = 0
            while time.monotonic() < deadline:
                try:
                    sent += s.send(framed * 64)
                except BlockingIOError:
                    time.sleep(0.5)
                except OSError:
                    break
            count("dns tcp queries written, never read", sent // len(framed))
            s.close()
        except OSError:
            time.sleep(0.5)


def garbage_tcp(endpoint):
    host, port = split(endpoint)
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.sendall(os.urandom(random.randint(1, 2000)))
            count(f"garbage connections {endpoint}")
        except OSError:
            count(f"garbage connections refused {endpoint}")
        time.sleep(0.05)


def garbage_udp(endpoint):
    host, port = split(endpoint)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while time.monotonic() < deadline:
            try:
                s.sendto(os.urandom(random.randint(1, 1400)), (host, port))
                count(f"garbage datagrams {endpoint}")
            except OSError:
                pass
            time.sleep(0.01)


threads = []
for endpoint in args.slowloris:
    head = lambda: b"GET / HTTP/1.1\r\nHost: shop.example\r\n"
    threads.append(threading.Thread(target=hold, args=(endpoint, "slow-loris", head, lambda: b"X"), daemon=True))
for endpoint in args.handshake_flood:
    threads.append(threading.Thread(target=hold, args=(endpoint, "half-open handshakes", lambda: os.urandom(48), lambda: b""), daemon=True))
if args.dns_never_read:
    threads.append(threading.Thread(target=never_reading_dns, args=(args.dns_never_read,), daemon=True))
for endpoint in args.garbage_tcp:
    threads.append(threading.Thread(target=garbage_tcp, args=(endpoint,), daemon=True))
for endpoint in args.garbage_udp:
    threads.append(threading.Thread(target=garbage_udp, args=(endpoint,), daemon=True))
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps(stats, sort_keys=True))
