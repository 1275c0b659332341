import Mesh
import NIOCore
import NetworkTopology

/// Starts a scenario's simulated workloads on their nodes through a testbed: each server and
/// client is built from its `WorkloadSpec` once, and started again whenever its node boots.
/// Clients, punch peers and replays each get a `RequestLog` the judge reads afterwards.
public struct WorkloadLauncher {
    public let scenario: Scenario
    public let testbed: any ScenarioTestbed

    public init(scenario: Scenario, testbed: any ScenarioTestbed) {
        self.scenario = scenario
        self.testbed = testbed
    }

    /// Registers every workload with its node; returns the logs by workload name. Throws
    /// `TopologyError` for a workload that cannot run where it is placed. `paths` is shown
    /// each client's log, to note the tunnel path of every request that succeeds.
    public func start(notingPathsWith paths: TunnelPathTracker) throws -> [String: RequestLog] {
        let resolver: NameResolver = { [testbed] name in testbed.address(of: name) }
        var logs: [String: RequestLog] = [:]
        for workload in scenario.workloads {
            let log = RequestLog()
            switch workload.kind {
            case .client:
                logs[workload.name] = log
                paths.observe(workload, log: log)
            case .punchPeer, .replay: logs[workload.name] = log
            default: break
            }
            let start = try starter(for: workload, resolver: resolver, log: log)
            try testbed.onBoot(of: workload.node, start)
        }
        return logs
    }

    private func starter(for workload: WorkloadSpec, resolver: @escaping NameResolver, log: RequestLog) throws -> (any Host) -> Void {
        switch workload.kind {
        case .httpServer(let port, let podName, let tls, let answer):
            let context = try tls.map { try WorkloadTLS.serverContext(certificateChainPEM: $0.certificateChainPEM, privateKeyPEM: $0.privateKeyPEM) }
            return { HTTPServerWorkload.start(on: $0, port: port, podName: podName, tls: context, answer: answer) }
        case .grpcServer(let port, let podName):
            return { GRPCServerWorkload.start(on: $0, port: port, podName: podName) }
        case .tcpEcho(let port):
            return { TCPEchoServerWorkload.start(on: $0, port: port) }
        case .udpEcho(let port):
            return { UDPEchoServerWorkload.start(on: $0, port: port) }
        case .webSocketEcho(let port):
            return { WebSocketEchoServerWorkload.start(on: $0, port: port) }
        case .rendezvous(let port):
            return { RendezvousWorkload.start(on: $0, port: port) }
        case .client(let spec):
            let nameServer = testbed.nameServer(forNode: workload.node)
            let targets = try spec.targets.map { text in
                if spec.protocol == .dns { return HostPort(host: text, port: nameServer?.port.map(UInt16.init) ?? 53) }
                guard let target = HostPort(text) else { throw TopologyError("workload \(workload.name): target \"\(text)\" is not host:port") }
                return target
            }
            guard spec.protocol != .dns || nameServer != nil else {
                throw TopologyError("workload \(workload.name): a dns client needs an agent on node \(workload.node)")
            }
            let client = ClientWorkload(
                kind: ClientWorkload.Kind(rawValue: spec.protocol.rawValue)!, targets: targets,
                firstRequestAt: testbed.deadline(at: spec.start), interval: .nanoseconds(Int64(spec.interval)),
                count: spec.count, timeout: .nanoseconds(Int64(spec.timeout)), payloadSize: spec.payloadSize,
                nameServer: nameServer, searchDomains: testbed.searchDomains,
                trustedAuthorities: try spec.trustedPEM.map { try WorkloadTLS.clientContext(trustedPEM: $0) },
                hostHeader: spec.hostHeader, path: spec.path, keepsCookies: spec.keepsCookies,
                socksProxy: try spec.socksProxy.map { text in
                    guard let proxy = HostPort(text) else { throw TopologyError("workload \(workload.name): proxy \"\(text)\" is not host:port") }
                    return proxy
                })
            return { client.start(on: $0, resolver: resolver, log: log) }
        case .replay(let spec):
            // DNS the capture sent to the node's resolver goes to the node's agent here.
            let nameServer = testbed.nameServer(forNode: workload.node)
            let replay = FlowReplayWorkload(
                flows: spec.flows, startAt: testbed.deadline(at: spec.start), timeout: .nanoseconds(Int64(spec.timeout)),
                target: { flow in
                    if flow.port == 53, let nameServer { return nameServer }
                    return flow.destination.socketAddress(port: flow.port)
                })
            return { replay.start(on: $0, log: log) }
        case .punchPeer(let spec):
            guard let rendezvous = HostPort(spec.rendezvous) else {
                throw TopologyError("workload \(workload.name): rendezvous \"\(spec.rendezvous)\" is not host:port")
            }
            let peer = PunchPeerWorkload(
                transport: spec.transport == .udp ? .udp : .tcp, name: workload.name, peer: spec.peer,
                rendezvous: rendezvous, localPort: spec.port, startAt: testbed.deadline(at: spec.start),
                timeout: .nanoseconds(Int64(spec.timeout)))
            return { peer.start(on: $0, resolver: resolver, log: log) }
        }
    }
}
