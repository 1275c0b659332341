import NIOCore

/// An IPv4 address as a 32-bit value in host byte order: cheap to hash, compare and mask,
/// which the simulator's routing and NAT tables do per packet.
public struct IPv4Address: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var value: UInt32

    public init(_ value: UInt32) {
        self.value = value
    }

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        self.value = UInt32(a) << 24 | UInt32(b) << 16 | UInt32(c) << 8 | UInt32(d)
    }

    /// Parses dotted-quad text ("192.168.1.10"); `nil` for anything else.
    public init?(_ text: some StringProtocol) {
        var value: UInt32 = 0
        var octets = 0
        for part in text.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let octet = UInt8(part)
            else { return nil }
            value = value << 8 | UInt32(octet)
            octets += 1
        }
        guard octets == 4 else { return nil }
        self.value = value
    }

    public static let any = IPv4Address(0)
    public static let loopback = IPv4Address(127, 0, 0, 1)

    public var isLoopback: Bool { value >> 24 == 127 }
    public var isUnspecified: Bool { value == 0 }
    /// 169.254.0.0/16 (RFC 3927): the agent's own listen address lives here.
    public var isLinkLocal: Bool { value >> 16 == 0xA9FE }
    /// 224.0.0.0/4 (multicast) and 240.0.0.0/4 (reserved, and the limited broadcast).
    public var isMulticastOrReserved: Bool { value >> 28 >= 0xE }

    public var octets: (UInt8, UInt8, UInt8, UInt8) {
        (UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 8),
         UInt8(truncatingIfNeeded: value))
    }

    public var description: String {
        let (a, b, c, d) = octets
        return "\(a).\(b).\(c).\(d)"
    }

    public static func < (lhs: IPv4Address, rhs: IPv4Address) -> Bool { lhs.value < rhs.value }

    /// The address as a NIO socket address with `port`. Built field by field: formatting the
    /// address as text for NIO to parse back cost every proxied connection a round trip.
    public func socketAddress(port: UInt16) -> SocketAddress {
        var address = Self.emptySocketAddress
        address.sin_addr.s_addr = value.bigEndian
        address.sin_port = port.bigEndian
        return SocketAddress(address, host: "")
    }

    /// `0.0.0.0:0` as the C structure NIO keeps, whose family is already set; Mesh reaches
    /// the structure only through NIO, never through the C library.
    private static let emptySocketAddress = {
        // A literal address with a valid port cannot fail to convert.
        guard case .v4(let address) = try! SocketAddress(ipAddress: "0.0.0.0", port: 0) else {
            preconditionFailure("an IPv4 literal made a socket address of another family")
        }
        return address.address
    }()
}
