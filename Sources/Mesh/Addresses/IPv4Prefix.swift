/// An IPv4 network prefix ("10.96.0.0/12").
public struct IPv4Prefix: Hashable, Sendable, CustomStringConvertible {
    public let network: IPv4Address
    public let length: Int

    public init(network: IPv4Address, length: Int) {
        precondition((0...32).contains(length), "prefix length \(length) is not in 0...32")
        self.length = length
        self.network = IPv4Address(network.value & IPv4Prefix.mask(length))
    }

    /// Parses "a.b.c.d/len"; `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPv4Address(parts[0]), let length = Int(parts[1]),
            (0...32).contains(length)
        else { return nil }
        self.init(network: address, length: length)
    }

    /// Parses a comma-separated list ("10.244.13.0/24, 10.244.16.0/20"), as configuration files
    /// and annotations write them; spaces and empty items are ignored. `invalid` is the first item
    /// that is not a network, if any (the others are still parsed).
    public static func list(_ text: some StringProtocol) -> (networks: [IPv4Prefix], invalid: String?) {
        var networks: [IPv4Prefix] = []
        var invalid: String?
        for item in text.split(separator: ",").map({ String($0.filter { $0 != " " }) }) where !item.isEmpty {
            if let network = IPv4Prefix(item) { networks.append(network) } else if invalid == nil { invalid = item }
        }
        return (networks, invalid)
    }

    public var mask: UInt32 { IPv4Prefix.mask(length) }

    public func contains(_ address: IPv4Address) -> Bool {
        address.value & mask == network.value
    }

    /// The `index`-th address in the prefix (0 is the network address itself).
    public func address(at index: UInt32) -> IPv4Address {
        IPv4Address(network.value | (index & ~mask))
    }

    /// Whether the two prefixes share an address (one holds the other).
    public func overlaps(_ other: IPv4Prefix) -> Bool {
        contains(other.network) || other.contains(network)
    }

    /// How many addresses the prefix holds.
    public var size: UInt64 { UInt64(1) << UInt64(32 - length) }

    public var description: String { "\(network)/\(length)" }

    private static func mask(_ length: Int) -> UInt32 {
        length == 0 ? 0 : UInt32.max << UInt32(32 - length)
    }
}
