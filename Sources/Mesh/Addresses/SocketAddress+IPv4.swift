import NIOCore

extension SocketAddress {
    /// The IPv4 address of an `.v4` socket address, else `nil`; read from the structure, not
    /// from its text.
    public var ipv4Address: Mesh.IPv4Address? {
        guard case .v4(let address) = self else { return nil }
        return Mesh.IPv4Address(UInt32(bigEndian: address.address.sin_addr.s_addr))
    }
}

extension SocketAddress {
    /// "ip:port" for an IPv4 address with a port, else the address's own description.
    public var ipPortText: String {
        guard let address = ipv4Address, let port else { return description }
        return "\(address):\(port)"
    }
}
