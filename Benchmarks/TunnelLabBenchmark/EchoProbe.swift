import BenchmarkLab
import Foundation

/// A TCP echo server and a client that times round trips through it, both small Python
/// programs so every path is measured by the same code.
@MainActor
struct EchoProbe {
    let serverScript: String
    let clientScript: String

    /// What one client run saw: each connection's connect plus first 64-byte round trip (the
    /// first includes any handshake a path does lazily), and the median round trip after that.
    struct Result {
        var firstExchanges: [Double]
        var roundTrip: Double
    }

    init(lab: Lab) {
        serverScript = lab.write("""
            import socketserver, sys
            class Echo(socketserver.BaseRequestHandler):
                def handle(self):
                    while True:
                        data = self.request.recv(65536)
                        if not data:
                            return
                        self.request.sendall(data)
            socketserver.ThreadingTCPServer.allow_reuse_address = True
            socketserver.ThreadingTCPServer.daemon_threads = True
            socketserver.ThreadingTCPServer(("0.0.0.0", int(sys.argv[1])), Echo).serve_forever()
            """, "echo-server.py")
        clientScript = lab.write("""
            import socket, sys, time
            host, port, connections, round_trips = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
            message = b"x" * 64
            def exchange(s):
                s.sendall(message)
                got = 0
                while got < len(message):
                    chunk = s.recv(len(message) - got)
                    if not chunk:
                        sys.exit("connection closed by the far side")
                    got += len(chunk)
            firsts, trips = [], []
            for _ in range(connections):
                start = time.perf_counter()
                s = socket.create_connection((host, port), timeout=20)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                exchange(s)
                firsts.append(time.perf_counter() - start)
                for _ in range(round_trips):
                    t = time.perf_counter()
                    exchange(s)
                    trips.append(time.perf_counter() - t)
                s.close()
            trips.sort()
            print(" ".join("%.1f" % (x * 1e6) for x in firsts))
            print("%.1f" % (trips[len(trips) // 2] * 1e6 if trips else float("nan")))
            """, "echo-client.py")
    }

    func serve(port: Int, in namespace: String, lab: Lab) {
        lab.start(["/usr/bin/python3", serverScript, "\(port)"], in: namespace, log: "echo-server.log")
    }

    /// Times `connections` connections to host:port, each with `roundTrips` round trips after its
    /// first; nil when the client failed.
    func measure(_ host: String, port: Int, connections: Int, roundTrips: Int, in namespace: String) -> Result? {
        let output = Lab.run(["/usr/bin/python3", clientScript, host, "\(port)", "\(connections)", "\(roundTrips)"],
                             in: namespace).output.split(separator: "\n")
        guard output.count == 2, let roundTrip = Double(output[1]) else { return nil }
        return Result(firstExchanges: output[0].split(separator: " ").compactMap { Double($0) }, roundTrip: roundTrip)
    }
}
