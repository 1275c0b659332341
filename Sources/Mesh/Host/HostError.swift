import NIOCore

/// Failures a `Host` reports in the same words on every backend, so mesh code can react to
/// them without knowing whether it runs on Linux or in the simulator.
public enum HostError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Nothing listens at the destination (a TCP RST answered the SYN).
    case connectionRefused(SocketAddress)
    /// Nothing answered the connection attempt in time.
    case connectTimeout(SocketAddress)
    /// The peer reset an established stream, or it was reset after an outage.
    case connectionReset
    /// The local address is taken and reuse was not asked for.
    case addressInUse(SocketAddress)
    /// The address does not belong to this host.
    case addressNotAvailable(SocketAddress)
    /// No route leads to the destination.
    case networkUnreachable(SocketAddress)
    /// The backend does not implement the operation (says which and why).
    case unsupported(String)
    /// The durable store could not be read or written.
    case storeFailure(key: String, reason: String)
    /// A route the host will not install (says which and why).
    case routeRejected(String)

    public var description: String {
        switch self {
        case .connectionRefused(let address): "connection refused by \(Self.text(address))"
        case .connectTimeout(let address): "connection to \(Self.text(address)) timed out"
        case .connectionReset: "connection reset by peer"
        case .addressInUse(let address): "address \(Self.text(address)) is already in use"
        case .addressNotAvailable(let address): "address \(Self.text(address)) is not on this host"
        case .networkUnreachable(let address): "no route to \(Self.text(address))"
        case .unsupported(let what): "not supported: \(what)"
        case .storeFailure(let key, let reason): "durable store key \"\(key)\": \(reason)"
        case .routeRejected(let why): "route rejected: \(why)"
        }
    }

    /// "10.0.0.1:80" rather than NIO's "[IPv4]10.0.0.1/10.0.0.1:80".
    private static func text(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return "\(ip):\(port)"
    }
}
