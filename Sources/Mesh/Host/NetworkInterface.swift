/// One network interface of a host and the addresses on it.
public struct NetworkInterface: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var ipv4Addresses: [IPv4Address]
    /// The prefix length of the interface's network (24 for a /24 LAN).
    public var prefixLength: Int
    public var isLoopback: Bool

    public init(name: String, ipv4Addresses: [IPv4Address], prefixLength: Int, isLoopback: Bool) {
        self.name = name
        self.ipv4Addresses = ipv4Addresses
        self.prefixLength = prefixLength
        self.isLoopback = isLoopback
    }

    public var description: String {
        let addresses = ipv4Addresses.map { "\($0)/\(prefixLength)" }.joined(separator: ",")
        return "\(name)[\(addresses)]"
    }
}
