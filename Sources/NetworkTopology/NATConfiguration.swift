/// How a NAT maps and filters, as RFC 4787 (UDP) and RFC 5382 (TCP) describe it, with mapping
/// and filtering as separate settings.
public struct NATConfiguration: Hashable, Sendable {
    /// RFC 4787 section 4.1: which outbound flows share one external endpoint.
    public enum Behavior: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
        /// One external endpoint per internal endpoint, whatever the destination ("full cone" mapping).
        case endpointIndependent = "endpoint-independent"
        /// A new external endpoint per destination address.
        case addressDependent = "address-dependent"
        /// A new external endpoint per destination address and port ("symmetric").
        case addressAndPortDependent = "address-and-port-dependent"

        public var description: String { rawValue }
    }

    public enum PortAllocation: String, Hashable, Sendable, CaseIterable {
        /// The next free port after the last one handed out.
        case sequential
        /// A free port drawn from the simulation's generator.
        case random
    }

    /// Which destinations share an external endpoint (RFC 4787 section 4.1).
    public var mapping: Behavior
    /// Which inbound packets an existing mapping admits (RFC 4787 section 5).
    public var filtering: Behavior
    /// Whether a host inside may reach another inside host through the external address
    /// (RFC 4787 section 6).
    public var hairpinning: Bool
    /// Try to keep the internal source port as the external port (RFC 4787 section 4.2.1).
    public var portPreservation: Bool
    public var portAllocation: PortAllocation
    /// External ports handed out.
    public var portRange: ClosedRange<UInt16>
    /// Idle time after which a UDP mapping expires (RFC 4787 REQ-5: at least 120 s by default).
    public var udpMappingTimeout: UInt64
    /// Idle time after which an established TCP mapping expires (RFC 5382 REQ-5: at least 2 h 4 min).
    public var tcpEstablishedTimeout: UInt64
    /// Idle time for a TCP mapping that is opening or closing (RFC 5382: 4 min).
    public var tcpTransitoryTimeout: UInt64
    /// Whether inbound packets refresh a mapping (RFC 4787 REQ-6 makes outbound refresh a MUST,
    /// inbound a MAY).
    public var inboundRefresh: Bool
    /// Drop all UDP, as some corporate and mobile networks do.
    public var blocksUDP: Bool
    /// Whether the router drops, before its own stack sees it, what reaches its WAN address
    /// without answering anything it sent (home routers' input firewall; the default). Without
    /// it, such a packet to a port the router has mapped for someone else is taken by the
    /// router itself, and the connection-tracking entry that leaves behind makes the router
    /// pick another port for the inside host's own flow to that sender, as Linux does: a punch
    /// that reaches this router before its side has sent breaks the punch
    /// (`strayEntryLifetime`).
    public var filtersInput: Bool

    public init(
        mapping: Behavior = .endpointIndependent,
        filtering: Behavior = .addressAndPortDependent,
        hairpinning: Bool = true,
        portPreservation: Bool = true,
        portAllocation: PortAllocation = .sequential,
        portRange: ClosedRange<UInt16> = 1024...65535,
        udpMappingTimeout: UInt64 = 120 * Nanoseconds.second,
        tcpEstablishedTimeout: UInt64 = 7440 * Nanoseconds.second,
        tcpTransitoryTimeout: UInt64 = 240 * Nanoseconds.second,
        inboundRefresh: Bool = true,
        blocksUDP: Bool = false,
        filtersInput: Bool = true
    ) {
        self.mapping = mapping
        self.filtering = filtering
        self.hairpinning = hairpinning
        self.portPreservation = portPreservation
        self.portAllocation = portAllocation
        self.portRange = portRange
        self.udpMappingTimeout = udpMappingTimeout
        self.tcpEstablishedTimeout = tcpEstablishedTimeout
        self.tcpTransitoryTimeout = tcpTransitoryTimeout
        self.inboundRefresh = inboundRefresh
        self.blocksUDP = blocksUDP
        self.filtersInput = filtersInput
    }
}
