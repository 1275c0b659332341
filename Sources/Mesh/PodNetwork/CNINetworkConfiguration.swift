/// The CNI network configuration a node with the edge CNI gives its container runtime: the
/// standard `bridge` plugin (a `cni0` bridge holding the pod network's first address, the pods'
/// gateway) with `host-local` IP address management over the node's pod networks.
///
/// Pods get the tunnel's MTU on their interface, so their TCP segments fit the packet interface
/// without fragmentation. No masquerading (`ipMasq: false`): a pod's packets to another node's
/// pods must keep the pod's own address, which is how the far agent knows where they came
/// from; traffic to other destinations leaves with the pod's address as well, so an edge
/// network that needs it masqueraded does so at its router, as for any routed pod network.
/// Written as text, not through a JSON encoder: every value is a number, a network or a name
/// the agent chose.
public struct CNINetworkConfiguration: Hashable, Sendable {
    /// The file the agent writes in the CNI configuration directory: sorted first among the
    /// `*.conflist` files, so the runtime picks it over a configuration found later.
    public static let fileName = "10-edgemesh.conflist"

    public var podNetworks: [IPv4Prefix]
    public var mtu: Int
    public var bridge: String

    public init(podNetworks: [IPv4Prefix], mtu: Int, bridge: String = "cni0") {
        self.podNetworks = podNetworks
        self.mtu = mtu
        self.bridge = bridge
    }

    /// The `.conflist` file's contents (CNI specification 1.0.0).
    public var conflist: String {
        let ranges = podNetworks.map { network in
            "[{\"subnet\": \"\(network)\", \"gateway\": \"\(network.address(at: 1))\"}]"
        }
        return """
            {
              "cniVersion": "1.0.0",
              "name": "edgemesh",
              "plugins": [
                {
                  "type": "bridge",
                  "bridge": "\(bridge)",
                  "isGateway": true,
                  "ipMasq": false,
                  "hairpinMode": true,
                  "mtu": \(mtu),
                  "ipam": {
                    "type": "host-local",
                    "ranges": [\(ranges.joined(separator: ", "))],
                    "routes": [{"dst": "0.0.0.0/0"}]
                  }
                }
              ]
            }

            """
    }
}
