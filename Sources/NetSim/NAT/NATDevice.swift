import Mesh
import NetworkTopology

/// Why a NAT refused a packet; recorded in the trace.
public enum NATDropReason: String, Error, Hashable, Sendable {
    /// Inbound with no mapping for the destination port (or the mapping expired).
    case noMapping = "no-mapping"
    /// A mapping exists but its filter does not admit this remote endpoint.
    case filtered
    /// The network blocks UDP.
    case udpBlocked = "udp-blocked"
    /// No external port is free.
    case portsExhausted = "ports-exhausted"
    /// Inside-to-external-address traffic on a NAT without hairpinning.
    case noHairpinning = "no-hairpinning"
}

/// The address translation of one NAT router: two questions, as in a real NAT. Which external
/// source does an outbound packet get, and which inside destination (if any) does an inbound
/// packet go to. Time is passed in (virtual nanoseconds); the NAT owns no clock.
public protocol NATDevice: AnyObject {
    var configuration: NATConfiguration { get }
    /// The NAT's address on its upstream network.
    var externalAddress: IPv4Address { get }

    /// An outbound packet from `source` (inside) to `destination`: the external source endpoint
    /// to rewrite it with, creating or refreshing a mapping.
    func translateOutbound(
        transport: TransportProtocol, source: Endpoint, destination: Endpoint, tcpFlags: TCPFlags?, now: UInt64
    ) -> Result<Endpoint, NATDropReason>

    /// An inbound packet from `source` (outside) to `destination` (an external endpoint of this
    /// NAT): the inside endpoint to deliver it to, if a live mapping exists and its filter admits
    /// `source`.
    func translateInbound(
        transport: TransportProtocol, source: Endpoint, destination: Endpoint, tcpFlags: TCPFlags?, now: UInt64
    ) -> Result<Endpoint, NATDropReason>

    /// A packet from inside addressed to this NAT's own external address: with hairpinning, the
    /// source becomes the sender's external mapping and the destination the inside endpoint
    /// the external port maps to (filtered as an inbound packet would be).
    func translateHairpin(
        transport: TransportProtocol, source: Endpoint, destination: Endpoint, tcpFlags: TCPFlags?, now: UInt64
    ) -> Result<(source: Endpoint, destination: Endpoint), NATDropReason>

    /// A NAT reboot: every mapping is lost.
    func reboot()

    /// Live mappings, for summaries and tests.
    func mappingCount(now: UInt64) -> Int
}
