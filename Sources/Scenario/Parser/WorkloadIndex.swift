/// The workloads by name, for checking references from expectations.
struct WorkloadIndex {
    var byName: [String: WorkloadSpec] = [:]

    var clientsAndPeers: [String] {
        byName.values.filter { $0.isClient || $0.isPunchPeer }.map(\.name).sorted()
    }

    var podNames: [String] {
        byName.values.compactMap(\.answeringPod?.name).sorted()
    }
}

extension WorkloadSpec {
    /// Sends requests and logs their outcomes (a client, or a replay of captured clients).
    var isClient: Bool {
        switch kind {
        case .client, .replay: return true
        default: return false
        }
    }

    /// The pod name a server answers with (and its port): what spread expectations count.
    var answeringPod: (name: String, port: UInt16)? {
        switch kind {
        case .httpServer(let port, let podName, _, _), .grpcServer(let port, let podName): (podName, port)
        default: nil
        }
    }

    var isPunchPeer: Bool {
        if case .punchPeer = kind { return true }
        return false
    }

    /// The kind as scenario files spell it.
    var kindName: String {
        switch kind {
        case .httpServer: return "http-server"
        case .grpcServer: return "grpc-server"
        case .tcpEcho: return "tcp-echo"
        case .udpEcho: return "udp-echo"
        case .webSocketEcho: return "websocket-echo"
        case .client: return "client"
        case .rendezvous: return "rendezvous"
        case .punchPeer: return "punch-peer"
        case .replay: return "replay"
        }
    }
}
