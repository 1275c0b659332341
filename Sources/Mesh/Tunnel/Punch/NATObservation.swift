/// A node's NAT as measured through its relays: each relay reports the public endpoint it saw
/// our control connection come from, and all control connections leave from the same local port.
/// Two observers at different addresses tell an endpoint-independent mapping from one that
/// depends on the destination. (Two observers on one address cannot tell endpoint-independent
/// from address-dependent mapping; deploy relays on distinct addresses.)
public struct NATObservation: Hashable, Sendable, CustomStringConvertible {
    public struct Observer: Hashable, Sendable {
        public var relay: String
        public var observed: NodeEndpoint
    }

    public var localPort: UInt16
    public var observers: [Observer]
    public var mapping: NATMappingBehavior

    public init(localAddresses: [IPv4Address], localPort: UInt16, observers: [Observer]) {
        self.localPort = localPort
        self.observers = observers
        let endpoints = observers.map(\.observed)
        if let first = endpoints.first, localAddresses.contains(first.address), first.port == localPort {
            mapping = .noNAT
        } else if Set(observers.map { $0.relay.split(separator: ":").first ?? "" }).count < 2 {
            mapping = .unknown
        } else if Set(endpoints).count == 1 {
            mapping = .endpointIndependent
        } else {
            mapping = .endpointDependent
        }
    }

    /// The endpoint a peer should aim at: what the first observer saw.
    public var publicEndpoint: NodeEndpoint? { observers.first?.observed }

    public var description: String {
        let seen = observers.map { "\($0.relay) sees \($0.observed)" }.joined(separator: ", ")
        return "NAT mapping \(mapping) (local port \(localPort); \(seen.isEmpty ? "no observer yet" : seen))"
    }
}
