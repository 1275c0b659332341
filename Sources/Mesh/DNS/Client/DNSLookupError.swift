import NIOCore

/// Why a stub lookup found no address.
public enum DNSLookupError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidName(String, String)
    /// The server answered with an error code (NXDOMAIN, SERVFAIL, REFUSED, ...).
    case failed(String, DNSResponseCode)
    /// The name exists but has no A record (NODATA).
    case noAddress(String)
    case timedOut(String, server: SocketAddress)

    public var description: String {
        switch self {
        case .invalidName(let name, let reason): "\"\(name)\" is not a DNS name: \(reason)"
        case .failed(let name, let code): "\(name): \(code)"
        case .noAddress(let name): "\(name): no IPv4 address"
        case .timedOut(let name, let server): "\(name): no answer from \(server)"
        }
    }
}
