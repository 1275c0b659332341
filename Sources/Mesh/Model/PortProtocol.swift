/// The `protocol` of a Kubernetes port (TCP when omitted). Apart from the mesh's own
/// `TransportProtocol` because Kubernetes also has SCTP, which the mesh does not carry.
public enum PortProtocol: String, Decodable, Hashable, Sendable, Comparable, CaseIterable {
    case tcp = "TCP"
    case udp = "UDP"
    case sctp = "SCTP"

    public static func < (lhs: PortProtocol, rhs: PortProtocol) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// The transport the mesh intercepts and proxies this port with; nil for SCTP.
    public var transport: TransportProtocol? {
        switch self {
        case .tcp: .tcp
        case .udp: .udp
        case .sctp: nil
        }
    }
}
