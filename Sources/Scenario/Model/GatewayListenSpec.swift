import Mesh

/// A gateway's multi-NIC listening in EdgeMesh's words: the comma lists `nic`, `includeIP` and
/// `excludeIP`, kept as written so the lab passes them to the agent's flags unchanged.
public struct GatewayListenSpec: Hashable, Sendable {
    public var nic: String
    public var includeIP: String
    public var excludeIP: String

    public init(nic: String = "*", includeIP: String = "*", excludeIP: String = "") {
        self.nic = nic
        self.includeIP = includeIP
        self.excludeIP = excludeIP
    }

    /// The filter the agent applies (the parser checked it reads).
    public var filter: InterfaceAddressFilter {
        (try? InterfaceAddressFilter.gateway(nic: nic, includeIP: includeIP, excludeIP: excludeIP)) ?? .everything
    }
}
