import NIOCore

/// An IPv4 address and UDP port a peer's datagrams may be sent to.
public struct TunnelEndpointAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16

    public init(_ address: IPv4Address, _ port: UInt16) {
        self.address = address
        self.port = port
    }

    /// The endpoint of an IPv4 socket address; nil for anything else. Read from the raw
    /// `sockaddr_in`, not through text: this runs for every datagram received.
    public init?(_ socketAddress: SocketAddress) {
        guard case .v4(let v4) = socketAddress else { return nil }
        self.init(IPv4Address(UInt32(bigEndian: v4.address.sin_addr.s_addr)), UInt16(bigEndian: v4.address.sin_port))
    }

    public var socketAddress: SocketAddress { address.socketAddress(port: port) }

    public var description: String { "\(address):\(port)" }

    public static func < (lhs: TunnelEndpointAddress, rhs: TunnelEndpointAddress) -> Bool {
        (lhs.address, lhs.port) < (rhs.address, rhs.port)
    }
}
