import Foundation
import Mesh
import NetworkTopology
import Yams

// MARK: - Workloads

extension ScenarioReader {
    static let workloadKinds = [
        "http-server", "grpc-server", "tcp-echo", "udp-echo", "websocket-echo", "client", "rendezvous", "punch-peer", "replay",
    ]

    private static func workloadKeys(_ kind: String) -> [String] {
        let common = ["name", "node", "kind"]
        switch kind {
        case "http-server": return common + ["port", "podName", "tlsSecret", "status", "delay"]
        case "grpc-server": return common + ["port", "podName"]
        case "client":
            return common + [
                "protocol", "target", "targets", "start", "interval", "count", "timeout", "payload", "caSecret", "hostHeader", "path",
                "cookies", "proxy",
            ]
        case "punch-peer": return common + ["transport", "rendezvous", "peer", "port", "start", "timeout"]
        case "replay": return common + ["pcap", "only", "start", "timeout"]
        default: return common + ["port"]
        }
    }

    /// `agents` are the nodes that run an agent: only their clients can look names up. HTTPS
    /// workloads take their certificates from the Secrets among `manifests`.
    func workloads(
        _ value: LocatedNode, names: TopologyNames, duration: UInt64, agents: [String], manifests: [KubernetesManifest]
    ) throws(ScenarioError) -> [WorkloadSpec] {
        let secrets = ScenarioSecrets(manifests)
        var parsed: [(spec: WorkloadSpec, fields: MappingEntries)] = []
        for item in try list(value, of: "workloads") {
            let (spec, fields) = try workload(item, names: names, duration: duration, secrets: secrets)
            if case .client(let client) = spec.kind, client.protocol == .dns, !agents.contains(spec.node) {
                throw fail(
                    try required(fields, "protocol"),
                    "a dns client asks its node's agent, and node \"\(spec.node)\" runs none (agents: \(agents.isEmpty ? "none" : agents.joined(separator: ", ")))")
            }
            parsed.append((spec, fields))
        }
        var firstUse: [String: String] = [:]
        var podFirstUse: [String: String] = [:]
        var bound: [String: String] = [:]
        for (spec, fields) in parsed {
            if let first = firstUse[spec.name] {
                throw fail(try required(fields, "name"), "workload name \"\(spec.name)\" is already used by \(first)")
            }
            firstUse[spec.name] = fields.value.path
            // Pod names identify the backend that answered, which spread expectations count by.
            if let podName = spec.answeringPod?.name {
                if let first = podFirstUse[podName] {
                    // A default pod name is the workload name, so the name field is what clashes.
                    var field = fields["podName"]
                    if field == nil { field = try required(fields, "name") }
                    throw fail(field ?? fields.value, "pod name \"\(podName)\" is already used by \(first)")
                }
                podFirstUse[podName] = fields.value.path
            }
            // Two listeners on one node, transport and port cannot both bind.
            let binding: (transport: String, port: UInt16)?
            switch spec.kind {
            case .httpServer(let port, _, _, _), .grpcServer(let port, _), .tcpEcho(let port), .webSocketEcho(let port): binding = ("tcp", port)
            case .udpEcho(let port): binding = ("udp", port)
            case .punchPeer(let punch): binding = (punch.transport.rawValue, punch.port)
            case .client, .rendezvous, .replay: binding = nil
            }
            if let binding {
                let key = "\(spec.node) \(binding.transport) \(binding.port)"
                if let first = bound[key] {
                    throw fail(
                        try required(fields, "port"),
                        "\(binding.transport) port \(binding.port) on node \"\(spec.node)\" is already used by \(first)")
                }
                bound[key] = fields.value.path
            }
        }
        let byName = Dictionary(parsed.map { ($0.spec.name, $0.spec) }, uniquingKeysWith: { first, _ in first })
        let peers = parsed.filter(\.spec.isPunchPeer).map(\.spec.name).sorted()
        for (spec, fields) in parsed {
            guard case .punchPeer(let punch) = spec.kind else { continue }
            let peerValue = try required(fields, "peer")
            guard let peer = byName[punch.peer] else {
                throw unknown(peerValue, "punch-peer workload", punch.peer, known: peers.filter { $0 != spec.name })
            }
            guard case .punchPeer(let other) = peer.kind, peer.name != spec.name else {
                let problem = peer.name == spec.name ? "is this workload itself" : "is not a punch-peer (its kind is \(peer.kindName))"
                throw fail(
                    peerValue,
                    "\"\(punch.peer)\" \(problem); peer names another punch-peer workload (known: "
                        + "\(peers.filter { $0 != spec.name }.joined(separator: ", ")))")
            }
            if other.transport != punch.transport {
                throw fail(
                    peerValue,
                    "peer \"\(peer.name)\" punches over \(other.transport.rawValue) but this workload over "
                        + "\(punch.transport.rawValue); both sides need the same transport")
            }
        }
        return parsed.map(\.spec)
    }

    private func workload(
        _ item: LocatedNode, names: TopologyNames, duration: UInt64, secrets: ScenarioSecrets
    ) throws(ScenarioError) -> (WorkloadSpec, MappingEntries) {
        let fields = try rawFields(item, expecting: "a workload mapping")
        let kind = try keyword(required(fields, "kind"), "a workload kind", allowed: Self.workloadKinds)
        try check(fields, allowed: Self.workloadKeys(kind), context: "kind \(kind)")
        let name = try self.name(required(fields, "name"))
        let node = try reference(required(fields, "node"), to: [.node, .pod], in: names)
        let spec: WorkloadSpec.Kind
        switch kind {
        case "http-server":
            var podName = name
            if let value = fields["podName"] { podName = try self.name(value) }
            var tls: WorkloadSpec.ServerTLS?
            if let value = fields["tlsSecret"] { tls = try serverTLS(value, secrets: secrets) }
            var answer = HTTPServerWorkload.Answer()
            if let value = fields["status"] {
                answer.status = try integer(value, atLeast: 200)
                guard answer.status <= 599 else { throw fail(value, "\(answer.status) is not an HTTP status (200 to 599)") }
            }
            if let value = fields["delay"] { answer.delay = .nanoseconds(Int64(try self.duration(value))) }
            spec = .httpServer(port: try port(required(fields, "port")), podName: podName, tls: tls, answer: answer)
        case "grpc-server":
            var podName = name
            if let value = fields["podName"] { podName = try self.name(value) }
            spec = .grpcServer(port: try port(required(fields, "port")), podName: podName)
        case "tcp-echo": spec = .tcpEcho(port: try port(required(fields, "port")))
        case "udp-echo": spec = .udpEcho(port: try port(required(fields, "port")))
        case "websocket-echo": spec = .webSocketEcho(port: try port(required(fields, "port")))
        case "rendezvous": spec = .rendezvous(port: try port(required(fields, "port")))
        case "client": spec = .client(try client(fields, duration: duration, secrets: secrets))
        case "replay": spec = .replay(try replay(fields, duration: duration))
        default: spec = .punchPeer(try punchPeer(fields, duration: duration))
        }
        return (WorkloadSpec(name: name, node: node, kind: spec), fields)
    }

    private func client(_ fields: MappingEntries, duration: UInt64, secrets: ScenarioSecrets) throws(ScenarioError) -> WorkloadSpec.ClientSpec {
        let clientProtocol: WorkloadSpec.ClientSpec.ClientProtocol = try choice(required(fields, "protocol"), "a client protocol")
        var trustedPEM: [UInt8]?
        switch (clientProtocol, fields["caSecret"]) {
        case (.https, let value?), (.httpsKeepAlive, let value?): trustedPEM = try trustedAuthorities(value, secrets: secrets)
        case (.https, nil), (.httpsKeepAlive, nil):
            throw fail(fields.value, "an \(clientProtocol.rawValue) client needs caSecret: the Secret whose ca.crt (or tls.crt) it trusts")
        case (_, let value?): throw fail(value, "caSecret is for https and https-keepalive clients; this one speaks \(clientProtocol.rawValue)")
        case (_, nil): break
        }
        // A dns client looks names up: its targets have no port.
        func target(_ value: LocatedNode) throws(ScenarioError) -> String {
            clientProtocol == .dns ? try scalar(value, "a name to look up") : try hostPort(value)
        }
        let speaksHTTP: Set<WorkloadSpec.ClientSpec.ClientProtocol> = [.http, .https, .httpKeepAlive, .httpsKeepAlive]
        var hostHeader: String?
        var path = "/"
        for key in ["hostHeader", "path"] {
            guard let value = fields[key] else { continue }
            guard speaksHTTP.contains(clientProtocol) else {
                throw fail(value, "\(key) is for http, https, http-keepalive and https-keepalive clients; this one speaks \(clientProtocol.rawValue)")
            }
            let text = try scalar(value, key == "path" ? "a request path" : "a Host header value")
            if key == "path" {
                guard text.hasPrefix("/"), !text.contains(where: { $0 == " " || $0.isNewline }) else {
                    throw fail(value, "\"\(text)\" is not a request path (it starts with / and has no spaces)")
                }
                path = text
            } else {
                guard !text.isEmpty, !text.contains(where: { $0 == " " || $0.isNewline }) else {
                    throw fail(value, "\"\(text)\" is not a Host header value (a name, with a port if wanted)")
                }
                hostHeader = text
            }
        }
        var socksProxy: String?
        switch (clientProtocol, fields["proxy"]) {
        case (.socks5, let value?): socksProxy = try hostPort(value)
        case (.socks5, nil): throw fail(fields.value, "a socks5 client needs proxy: the node proxy's host:port (a node running an agent with mesh.socks5, port 10800)")
        case (_, let value?): throw fail(value, "proxy is for socks5 clients; this one speaks \(clientProtocol.rawValue)")
        case (_, nil): break
        }
        var keepsCookies = false
        if let value = fields["cookies"] {
            guard clientProtocol == .http || clientProtocol == .https else {
                throw fail(value, "cookies is for http and https clients; this one speaks \(clientProtocol.rawValue)")
            }
            keepsCookies = try bool(value)
        }
        var targets: [String] = []
        switch (fields["target"], fields["targets"]) {
        case (let single?, nil):
            targets = [try target(single)]
        case (nil, let list?):
            for item in try self.list(list, of: "host:port targets") { targets.append(try target(item)) }
            guard !targets.isEmpty else { throw fail(list, "needs at least one host:port target") }
        case (_?, let list?):
            throw fail(list, "give either target or targets, not both")
        case (nil, nil):
            throw fail(fields.value, "missing required key \"target\" (or \"targets\", a list)")
        }
        var start: UInt64 = 0
        var interval = Nanoseconds.second
        var count = 10
        var timeout = 5 * Nanoseconds.second
        var payload = 64
        if let value = fields["start"] { start = try self.duration(value) }
        if let value = fields["interval"] { interval = try self.duration(value, positive: true) }
        if let value = fields["count"] { count = try integer(value, atLeast: 1) }
        if let value = fields["timeout"] { timeout = try self.duration(value, positive: true) }
        if let value = fields["payload"] { payload = try byteCount(value, positive: false) }
        try checkStart(start, fields: fields, duration: duration)
        // Every request must be decided (answered or timed out) before the run ends, or the success
        // ratio would count requests that never had their chance.
        let (span, spanOverflow) = interval.multipliedReportingOverflow(by: UInt64(count - 1))
        let end = spanOverflow ? UInt64.max : start.addingClamped(span).addingClamped(timeout)
        if end > duration {
            throw fail(
                fields["count"] ?? fields.value,
                "\(count) requests every \(ScenarioValues.format(duration: interval)) from "
                    + "\(ScenarioValues.format(duration: start)), each given \(ScenarioValues.format(duration: timeout)), "
                    + "are decided only at \(spanOverflow ? "never" : ScenarioValues.format(duration: end)), after the "
                    + "end of the run (\(ScenarioValues.format(duration: duration))); lower count or interval, or "
                    + "lengthen duration")
        }
        return WorkloadSpec.ClientSpec(
            protocol: clientProtocol, targets: targets, start: start, interval: interval, count: count, timeout: timeout,
            payloadSize: payload, trustedPEM: trustedPEM, hostHeader: hostHeader, path: path, keepsCookies: keepsCookies,
            socksProxy: socksProxy)
    }

    private func punchPeer(_ fields: MappingEntries, duration: UInt64) throws(ScenarioError) -> WorkloadSpec.PunchSpec {
        var transport = WorkloadSpec.TransportKind.udp
        if let value = fields["transport"] { transport = try choice(value, "a punch transport") }
        var start: UInt64 = 0
        var timeout = 30 * Nanoseconds.second
        if let value = fields["start"] { start = try self.duration(value) }
        if let value = fields["timeout"] { timeout = try self.duration(value, positive: true) }
        try checkStart(start, fields: fields, duration: duration)
        if start.addingClamped(timeout) > duration {
            throw fail(
                fields["timeout"] ?? fields.value,
                "a punch from \(ScenarioValues.format(duration: start)) given \(ScenarioValues.format(duration: timeout)) "
                    + "is decided after the end of the run (\(ScenarioValues.format(duration: duration)))")
        }
        return WorkloadSpec.PunchSpec(
            transport: transport, rendezvous: try hostPort(required(fields, "rendezvous")),
            peer: try name(required(fields, "peer")), port: try port(required(fields, "port")), start: start,
            timeout: timeout)
    }

    private func checkStart(_ start: UInt64, fields: MappingEntries, duration: UInt64) throws(ScenarioError) {
        if start >= duration, let value = fields["start"] {
            throw fail(
                value,
                "\(ScenarioValues.format(duration: start)) is not before the end of the run "
                    + "(duration \(ScenarioValues.format(duration: duration)))")
        }
    }
}

extension UInt64 {
    func addingClamped(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
