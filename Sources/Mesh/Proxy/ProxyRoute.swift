import NIOCore

/// An intercepted service address: the cluster IP, port and transport clients dial.
public struct ProxiedAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var transport: TransportProtocol
    public var address: IPv4Address
    public var port: UInt16

    public init(transport: TransportProtocol, address: IPv4Address, port: UInt16) {
        self.transport = transport
        self.address = address
        self.port = port
    }

    public static func < (lhs: ProxiedAddress, rhs: ProxiedAddress) -> Bool {
        (lhs.address, lhs.port, lhs.transport.rawValue) < (rhs.address, rhs.port, rhs.transport.rawValue)
    }

    public var description: String { "\(transport) \(address):\(port)" }
}

/// Everything the proxy needs to carry traffic sent to one service port, read from the
/// service table when the table changes.
public struct ProxyRoute: Hashable, Sendable, CustomStringConvertible {
    public var address: ProxiedAddress
    public var service: ObjectKey
    /// The service port's name (`""` for the unnamed port of a single-port service): the
    /// key of the endpoint ports.
    public var portName: String
    public var targetPort: IntOrString
    /// `internalTrafficPolicy: Local`: only backends on this node.
    public var localOnly: Bool
    public var policy: LoadBalancingPolicy
    /// `sessionAffinity: ClientIP` and its timeout; nil without affinity.
    public var affinityTimeout: TimeAmount?
    /// The DestinationRule's outlier detection; nil when it asks for none.
    public var outlierDetection: OutlierDetector.Configuration?
    /// Whether the backends speak HTTP/2 in clear text (gRPC): requests balanced per request
    /// go to them as streams of an HTTP/2 connection.
    public var backendsSpeakHTTP2 = false

    public var description: String { "\(address) (service \(service) port \(portName.isEmpty ? "-" : portName))" }

    /// The routes for every proxied port of `table`'s services, sorted by address. A service
    /// without a cluster IP (headless, ExternalName) has none; SCTP ports are not carried.
    /// When two services claim one address, the one with the smaller key keeps it.
    static func routes(in table: ServiceTable) -> [ProxyRoute] {
        var routes: [ProxiedAddress: ProxyRoute] = [:]
        for service in table.services where !service.spec.isHeadless && service.spec.type != .externalName {
            let trafficPolicy = table.destinationRule(forService: service.key)?.spec.trafficPolicy
            let policy = LoadBalancingPolicy(trafficPolicy?.loadBalancer)
            let outlierDetection = trafficPolicy?.outlierDetection.flatMap(OutlierDetector.Configuration.init)
            let affinity: TimeAmount? = service.spec.sessionAffinity == .clientIP
                ? .seconds(Int64(max(1, min(service.spec.clientIPTimeoutSeconds, 86400)))) : nil
            for ip in service.spec.allocatedClusterIPs {
                guard let address = IPv4Address(ip) else { continue }
                for port in service.spec.ports {
                    guard let transport = port.protocol.transport, (1...65535).contains(port.port) else { continue }
                    let key = ProxiedAddress(transport: transport, address: address, port: UInt16(port.port))
                    guard routes[key] == nil else { continue }
                    routes[key] = ProxyRoute(
                        address: key, service: service.key, portName: port.name ?? "", targetPort: port.targetPort,
                        localOnly: service.spec.internalTrafficPolicy == .local, policy: policy,
                        affinityTimeout: affinity, outlierDetection: outlierDetection, backendsSpeakHTTP2: port.speaksHTTP2)
                }
            }
        }
        return routes.values.sorted { $0.address < $1.address }
    }

    /// The backends of this route now, sorted: each endpoint's port of this route's name
    /// (or the endpoint's only port, or a numeric target port), restricted to `node` when the
    /// route is local-only.
    func backends(in table: ServiceTable, node: String) -> [ServiceBackend] {
        var backends: [ServiceBackend] = []
        for endpoint in table.endpoints(of: service) {
            guard let address = IPv4Address(endpoint.ip) else { continue }
            if localOnly && endpoint.nodeName != node { continue }
            let number: Int?
            if let named = endpoint.port(named: portName) {
                number = named
            } else if endpoint.ports.count == 1 {
                number = endpoint.ports.values.first
            } else if case .number(let target) = targetPort {
                number = target
            } else {
                number = nil
            }
            guard let number, (1...65535).contains(number) else { continue }
            backends.append(ServiceBackend(address: address, port: UInt16(number), nodeName: endpoint.nodeName))
        }
        return backends.sorted()
    }
}
