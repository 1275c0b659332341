/// Which targets this node's agent dials when a peer opens a stream through the tunnel: the one
/// check between a peer holding the cluster PSK and this node's network. It answers why a
/// target is refused (sent back to the peer as a `notAllowed` failure, which the peer's caller
/// sees) or nil to dial it.
///
/// Called on the host's event loop, once per stream a peer opens.
public struct TunnelTargetPolicy: Sendable {
    public let refusal: @Sendable (_ target: TunnelTarget, _ localNode: String) -> String?

    public init(refusal: @escaping @Sendable (_ target: TunnelTarget, _ localNode: String) -> String?) {
        self.refusal = refusal
    }

    /// Refuses every target: a tunnel that knows no services serves nothing inward. The agent
    /// replaces it with `LocalEndpointTargets`.
    public static let refuseAll = TunnelTargetPolicy { _, _ in "this node serves no targets through its tunnel" }
}
