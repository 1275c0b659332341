import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// The real agent in a network namespace of its own, with its default listen address
/// (169.254.96.16 on the bridge it creates), asked by real DNS clients: dig, kdig and Python's
/// dnspython. Then SIGTERM: it exits 0 and leaves no device, address or nftables table behind.
/// Needs root (namespaces, the device) and the three clients; without them it is skipped, and says so.
@Suite(.serialized) struct AgentDNSClientTests {
    static let isRoot = geteuid() == 0
    static let agentAddress = "169.254.96.16"

    static let manifests = """
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: default}
        spec:
          clusterIP: 10.96.0.50
          clusterIPs: [10.96.0.50, "fd00::50"]
          ports: [{name: http, port: 80, protocol: TCP}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: big, namespace: default}
        spec:
          clusterIP: None
          ports: [{name: http, port: 8080, protocol: TCP}]
        ---
        apiVersion: v1
        kind: Endpoints
        metadata: {name: big, namespace: default}
        subsets:
        - addresses: [\((1...60).map { "{ip: 10.244.1.\($0)}" }.joined(separator: ", "))]
          ports: [{name: http, port: 8080, protocol: TCP}]
        """

    /// Runs a command to completion (bounded by the tools' own timeouts) and returns its output.
    static func run(_ executable: String, _ arguments: [String]) -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        do { try process.run() } catch { return (-1, "\(error)") }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A client command run inside the namespace.
    static func inNamespace(_ namespace: String, _ tool: String, _ arguments: [String]) -> String {
        run("/usr/sbin/ip", ["netns", "exec", namespace, tool] + arguments).output
    }

    static func dig(_ namespace: String, _ arguments: [String]) -> String {
        inNamespace(namespace, "/usr/bin/dig", ["@\(agentAddress)", "+time=2", "+tries=2"] + arguments)
    }

    /// Root, dig, kdig and Python's dnspython.
    static var clientsAvailable: Bool {
        isRoot && FileManager.default.isExecutableFile(atPath: "/usr/bin/dig")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/kdig")
            && run("/usr/bin/python3", ["-c", "import dns.message"]).status == 0
    }

    @Test(.enabled(if: clientsAvailable,
                   "needs root (network namespace, bridge device), dig, kdig and python3-dnspython (scripts/install-deps)"))
    func realClientsGetEveryRecordKindThenTheAgentStopsCleanly() throws {
        let namespace = "emdns-\(getpid())"
        _ = Self.run("/usr/sbin/ip", ["netns", "add", namespace])
        defer { _ = Self.run("/usr/sbin/ip", ["netns", "del", namespace]) }
        _ = Self.run("/usr/sbin/ip", ["-n", namespace, "link", "set", "lo", "up"])
        let directory = try EdgemeshProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let manifestDirectory = directory.appendingPathComponent("manifests")
        try FileManager.default.createDirectory(at: manifestDirectory, withIntermediateDirectories: true)
        try Self.manifests.write(to: manifestDirectory.appendingPathComponent("services.yaml"), atomically: true, encoding: .utf8)
        let state = directory.appendingPathComponent("state")

        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        // `ip netns exec` execs the agent in place: the process we hold is the agent itself.
        agent.arguments = [
            "netns", "exec", namespace, EdgemeshProcess.binary.path, "agent", "--node-name", "edge-1",
            "--manifests", manifestDirectory.path, "--state-dir", state.path, "--upstream-dns", "127.0.0.1:9",
        ]
        let log = Pipe()
        agent.standardOutput = FileHandle.nullDevice
        agent.standardError = log
        try agent.run()
        var stopped = false
        defer {
            if !stopped {
                kill(agent.processIdentifier, SIGKILL)
                agent.waitUntilExit()
            }
        }

        // Up once dig gets the ClusterIP (bounded: 30 s).
        let deadline = Date().addingTimeInterval(30)
        var a = ""
        while Date() < deadline {
            a = Self.dig(namespace, ["+short", "web.default.svc.cluster.local", "A"])
            if a.contains("10.96.0.50") || !agent.isRunning { break }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(a.trimmingCharacters(in: .whitespacesAndNewlines) == "10.96.0.50", "A: \(a)")
        let device = Self.run("/usr/sbin/ip", ["-n", namespace, "-o", "-4", "address", "show", "dev", "edgemesh0"]).output
        #expect(device.contains("inet 169.254.96.16/32"), "the agent made its device: \(device)")

        let aaaa = Self.dig(namespace, ["+short", "web.default.svc.cluster.local", "AAAA"])
        #expect(aaaa.trimmingCharacters(in: .whitespacesAndNewlines) == "fd00::50", "AAAA: \(aaaa)")

        let srv = Self.dig(namespace, ["+short", "_http._tcp.web.default.svc.cluster.local", "SRV"])
        #expect(srv.contains(" 80 web.default.svc.cluster.local."), "SRV: \(srv)")

        let ptr = Self.dig(namespace, ["+short", "-x", "10.96.0.50"])
        #expect(ptr.contains("web.default.svc.cluster.local."), "PTR: \(ptr)")

        let missing = Self.dig(namespace, ["nope.default.svc.cluster.local", "A"])
        #expect(missing.contains("status: NXDOMAIN"), "NXDOMAIN: \(missing)")
        #expect(missing.contains("AUTHORITY: 1") && missing.contains("SOA"), "NXDOMAIN carries the zone's SOA: \(missing)")

        let noData = Self.dig(namespace, ["big.default.svc.cluster.local", "AAAA"])
        #expect(noData.contains("status: NOERROR") && noData.contains("ANSWER: 0"), "NODATA: \(noData)")

        let tcp = Self.dig(namespace, ["+tcp", "+short", "web.default.svc.cluster.local", "A"])
        #expect(tcp.trimmingCharacters(in: .whitespacesAndNewlines) == "10.96.0.50", "TCP: \(tcp)")

        // 60 headless endpoints do not fit in 512 bytes: without EDNS the UDP answer is truncated,
        // with EDNS (bufsize 4096) it is whole, and over TCP it is whole.
        let truncated = Self.dig(namespace, ["+noedns", "+ignore", "big.default.svc.cluster.local", "A"])
        #expect(truncated.contains(" tc"), "TC without EDNS: \(truncated)")
        let edns = Self.dig(namespace, ["+edns=0", "+bufsize=4096", "+ignore", "big.default.svc.cluster.local", "A"])
        #expect(edns.contains("EDNS: version: 0"), "OPT echoed: \(edns)")
        #expect(edns.contains("ANSWER: 60"), "EDNS answer whole: \(edns)")
        let fallback = Self.dig(namespace, ["+noedns", "big.default.svc.cluster.local", "A"])
        #expect(fallback.contains("ANSWER: 60"), "dig retries over TCP after TC: \(fallback)")

        let kdig = Self.inNamespace(namespace, "/usr/bin/kdig", ["@\(Self.agentAddress)", "+tcp", "+short", "web.default.svc.cluster.local", "A"])
        #expect(kdig.trimmingCharacters(in: .whitespacesAndNewlines) == "10.96.0.50", "kdig over TCP: \(kdig)")
        let kdigSRV = Self.inNamespace(namespace, "/usr/bin/kdig", ["@\(Self.agentAddress)", "+short", "_http._tcp.big.default.svc.cluster.local", "SRV"])
        // kdig is told the UDP answer was truncated and retries over TCP on its own.
        let records = kdigSRV.split(separator: "\n").filter { $0.contains(" 8080 ") && $0.contains(".big.default.svc.cluster.local.") }
        #expect(records.count == 60, "kdig: one SRV per headless endpoint: \(kdigSRV)")

        let script = """
            import dns.message, dns.query, dns.rdatatype, dns.rcode
            s = "\(Self.agentAddress)"
            a = dns.query.udp(dns.message.make_query("web.default.svc.cluster.local", "A"), s, timeout=2)
            print("A", sorted(r.address for rr in a.answer for r in rr))
            srv = dns.query.tcp(dns.message.make_query("_http._tcp.web.default.svc.cluster.local", "SRV"), s, timeout=2)
            print("SRV", sorted((r.port, r.target.to_text()) for rr in srv.answer for r in rr))
            nx = dns.query.udp(dns.message.make_query("nope.default.svc.cluster.local", "A", use_edns=0, payload=1232), s, timeout=2)
            print("NX", dns.rcode.to_text(nx.rcode()), nx.edns, [rr.rdtype == dns.rdatatype.SOA for rr in nx.authority])
            # A 3,000-byte query (an EDNS option pads it) is read whole and answered.
            import dns.edns, socket
            padded = dns.message.make_query("web.default.svc.cluster.local", "A", use_edns=0, payload=4096,
                                            options=[dns.edns.GenericOption(65001, b"x" * 3000)])
            big = dns.query.udp(padded, s, timeout=2)
            print("PADDED", len(padded.to_wire()) > 3000, dns.rcode.to_text(big.rcode()), sorted(r.address for rr in big.answer for r in rr))
            # 40 queries sent at once (several land in one batched read): each answer carries
            # its own query's ID and question, cached answers included.
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(2)
            sent = {}
            for i in range(40):
                q = dns.message.make_query("web.default.svc.cluster.local" if i % 2 else "nope.default.svc.cluster.local", "A")
                q.id = 1000 + i
                sent[q.id] = q
                sock.sendto(q.to_wire(), (s, 53))
            matched = 0
            for _ in range(40):
                reply = dns.message.from_wire(sock.recv(65535))
                if reply.id in sent and sent.pop(reply.id).is_response(reply):
                    matched += 1
            print("BURST", matched)
            # A query longer than the server's 4 KiB read room is cut short, so it cannot be
            # decoded: the client hears FORMERR for its own ID instead of waiting for a timeout.
            oversized = dns.message.make_query("web.default.svc.cluster.local", "A", use_edns=0, payload=4096,
                                               options=[dns.edns.GenericOption(65001, b"x" * 5000)])
            oversized.id = 4242
            sock.sendto(oversized.to_wire(max_size=65535), (s, 53))
            reply = dns.message.from_wire(sock.recv(65535), ignore_trailing=True)
            print("OVERSIZED", reply.id, dns.rcode.to_text(reply.rcode()))
            """
        let python = Self.inNamespace(namespace, "/usr/bin/python3", ["-c", script])
        #expect(python.contains("A ['10.96.0.50']"), "dnspython: \(python)")
        #expect(python.contains("SRV [(80, 'web.default.svc.cluster.local.')]"), "dnspython: \(python)")
        #expect(python.contains("NX NXDOMAIN 0 [True]"), "dnspython: \(python)")
        #expect(python.contains("PADDED True NOERROR ['10.96.0.50']"), "dnspython, a 3,000-byte query: \(python)")
        #expect(python.contains("BURST 40"), "dnspython, 40 queries at once: \(python)")
        #expect(python.contains("OVERSIZED 4242 FORMERR"), "dnspython, a 5,000-byte query: \(python)")

        // SIGTERM: a clean stop, exit status 0, nothing of the agent's left in the namespace.
        #expect(agent.isRunning)
        kill(agent.processIdentifier, SIGTERM)
        let stopDeadline = Date().addingTimeInterval(20)
        while agent.isRunning && Date() < stopDeadline { Thread.sleep(forTimeInterval: 0.1) }
        let exited = !agent.isRunning
        #expect(exited, "the agent stops within 20 s of SIGTERM")
        if exited {
            stopped = true
            agent.waitUntilExit()
            let output = String(decoding: log.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(agent.terminationReason == .exit && agent.terminationStatus == 0, "exit status \(agent.terminationStatus): \(output)")
        }
        let links = Self.run("/usr/sbin/ip", ["-n", namespace, "-o", "link", "show"]).output
        #expect(!links.contains("edgemesh0"), "device removed: \(links)")
        let tables = Self.inNamespace(namespace, "/usr/sbin/nft", ["list", "tables"])
        #expect(!tables.contains("edgemesh"), "no nftables table left: \(tables)")
        let saved = (try? FileManager.default.contentsOfDirectory(atPath: state.path)) ?? []
        #expect(!saved.isEmpty, "the snapshot was saved in the state directory")
    }
}
