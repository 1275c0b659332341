/// How a node's NAT chooses the public endpoint of its outgoing connections, as far as the node
/// can tell from outside observers (RFC 4787 section 4.1). It decides whether hole punching can
/// work: a peer can aim at our mapping only if it is the same whatever the destination.
public enum NATMappingBehavior: String, Hashable, Sendable, CustomStringConvertible {
    /// The observers see one of the node's own addresses and its own port: no NAT at all.
    case noNAT = "no NAT (public address)"
    /// Every observer sees the same public endpoint for the same local port.
    case endpointIndependent = "endpoint-independent"
    /// Observers at different addresses see different public endpoints: the NAT maps per
    /// destination (address-dependent or address-and-port-dependent; "symmetric").
    case endpointDependent = "endpoint-dependent"
    /// Fewer than two observers have answered, so the mapping cannot be told yet.
    case unknown

    public var description: String { rawValue }

    /// Whether a peer can predict the endpoint this node's NAT uses toward it.
    var isPredictable: Bool { self == .noNAT || self == .endpointIndependent }

    var wireValue: UInt8 {
        switch self {
        case .noNAT: 1
        case .endpointIndependent: 2
        case .endpointDependent: 3
        case .unknown: 0
        }
    }

    init(wireValue: UInt8) {
        switch wireValue {
        case 1: self = .noNAT
        case 2: self = .endpointIndependent
        case 3: self = .endpointDependent
        default: self = .unknown
        }
    }
}
