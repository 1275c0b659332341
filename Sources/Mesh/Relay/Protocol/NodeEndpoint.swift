import NIOCore

/// An IPv4 address and port of a node as someone saw it: the address a relay observed a
/// connection from (after every NAT on the way), or one of the node's own interface addresses.
public struct NodeEndpoint: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var address: IPv4Address
    public var port: UInt16

    public init(address: IPv4Address, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// The endpoint of an IPv4 socket address; `nil` for anything else.
    public init?(_ socketAddress: SocketAddress?) {
        guard let socketAddress, let address = socketAddress.ipv4Address, let port = socketAddress.port,
            let port16 = UInt16(exactly: port)
        else { return nil }
        self.init(address: address, port: port16)
    }

    /// Parses "a.b.c.d:port", as `description` writes it; `nil` for anything else.
    public init?(text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Address(parts[0]), let port = UInt16(parts[1]) else { return nil }
        self.init(address: address, port: port)
    }

    public var socketAddress: SocketAddress { address.socketAddress(port: port) }

    public var description: String { "\(address):\(port)" }

    public static func < (lhs: NodeEndpoint, rhs: NodeEndpoint) -> Bool {
        (lhs.address, lhs.port) < (rhs.address, rhs.port)
    }
}
