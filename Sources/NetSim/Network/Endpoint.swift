import Mesh

/// An IPv4 address and a port: one end of a simulated flow.
public struct Endpoint: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16

    public init(_ address: IPv4Address, _ port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String { "\(address):\(port)" }

    public static func < (lhs: Endpoint, rhs: Endpoint) -> Bool {
        (lhs.address, lhs.port) < (rhs.address, rhs.port)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

extension Endpoint {
    /// The endpoint as a NIO socket address, built without parsing text (this is per packet).
    public var socketAddress: SocketAddress {
        var raw = sockaddr_in()
        raw.sin_family = sa_family_t(AF_INET)
        raw.sin_port = port.bigEndian
        raw.sin_addr = in_addr(s_addr: address.value.bigEndian)
        return SocketAddress(raw, host: "")
    }

    /// The endpoint of an IPv4 socket address; `nil` for other families.
    public init?(_ socketAddress: SocketAddress) {
        guard case .v4(let v4) = socketAddress else { return nil }
        self.init(IPv4Address(UInt32(bigEndian: v4.address.sin_addr.s_addr)), UInt16(bigEndian: v4.address.sin_port))
    }
}
