import NIOCore

/// The transport a rule or flow is about.
public enum TransportProtocol: String, Hashable, Sendable, CaseIterable {
    case tcp
    case udp
}

/// "Traffic for `serviceAddress:servicePort` comes to my listener on `localPort`."
public struct InterceptionRule: Hashable, Sendable, CustomStringConvertible {
    public var transport: TransportProtocol
    public var serviceAddress: IPv4Address
    public var servicePort: UInt16
    /// The port of the agent's own listener that receives the traffic.
    public var localPort: UInt16

    public init(transport: TransportProtocol, serviceAddress: IPv4Address, servicePort: UInt16, localPort: UInt16) {
        self.transport = transport
        self.serviceAddress = serviceAddress
        self.servicePort = servicePort
        self.localPort = localPort
    }

    public var description: String {
        "\(transport) \(serviceAddress):\(servicePort) -> :\(localPort)"
    }
}

/// Redirects service traffic to the local agent: nftables on Linux, a routing hook in `NetSim`.
public protocol TrafficInterception: Sendable {
    /// Replaces the whole rule set at once: after the future succeeds exactly `rules` apply.
    func apply(_ rules: [InterceptionRule]) -> EventLoopFuture<Void>
    /// Removes every rule (clean exit).
    func removeAll() -> EventLoopFuture<Void>
}
