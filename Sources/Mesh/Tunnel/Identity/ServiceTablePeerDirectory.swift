/// Reads peers' keys and addresses from the Node objects in the agent's `ServiceTable`: the key
/// from the `edgemesh.io/tunnel-public-key` annotation (which each agent publishes for itself),
/// the addresses from the node's status (InternalIP first, then ExternalIP).
///
/// Confined to the table's event loop, like the table.
public final class ServiceTablePeerDirectory: PeerKeyDirectory, @unchecked Sendable {
    private let table: ServiceTable

    public init(table: ServiceTable) {
        self.table = table
    }

    public func publicKey(ofNode node: String) -> [UInt8]? {
        guard let text = table.node(named: node)?.metadata.annotations[tunnelPublicKeyAnnotation] else { return nil }
        return TunnelPublicKeyText.decode(text)
    }

    /// The node's addresses in the order a direct dial should try them.
    public func addresses(ofNode node: String) -> [IPv4Address] {
        guard let object = table.node(named: node) else { return [] }
        var result: [IPv4Address] = []
        for type in [Node.AddressType.internalIP, .externalIP] {
            for entry in object.status.addresses where entry.type == type {
                if let address = IPv4Address(entry.address), !result.contains(address) { result.append(address) }
            }
        }
        return result
    }
}
