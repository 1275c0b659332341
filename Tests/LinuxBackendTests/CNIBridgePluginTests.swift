import Foundation
import Glibc
import Mesh
import Testing

/// The edge CNI's network configuration as the container runtime uses it: the standard
/// `bridge` and `host-local` plugins (containernetworking-plugins) run with it, the way a
/// runtime runs them for a new pod, in namespaces of the test's own.
@Suite struct CNIBridgePluginTests {
    static let pluginDirectory = "/usr/lib/cni"
    static let available = NamespaceSupport.available && access("\(pluginDirectory)/bridge", X_OK) == 0
        && access("\(pluginDirectory)/host-local", X_OK) == 0
    static let comment: Comment = "needs root, ip, nft and the bridge and host-local CNI plugins (containernetworking-plugins)"

    @Test(.enabled(if: available, comment))
    func aPodGetsAnAddressOfTheNodesPodNetworkTheGatewayAndTheTunnelMTU() throws {
        let configuration = CNINetworkConfiguration(podNetworks: [IPv4Prefix("10.244.7.0/24")!], mtu: 1400)
        // What a runtime hands each plugin of a list: the plugin's object with the list's name and version.
        let list = try #require(JSONSerialization.jsonObject(with: Data(configuration.conflist.utf8)) as? [String: Any])
        var plugin = try #require((list["plugins"] as? [[String: Any]])?.first)
        plugin["name"] = list["name"]
        plugin["cniVersion"] = list["cniVersion"]
        let input = String(decoding: try JSONSerialization.data(withJSONObject: plugin), as: UTF8.self)
        let state = NSTemporaryDirectory() + "edgemesh-cni-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: state) }

        try TestNamespace.with { node in
            try TestNamespace.with { pod in
                // host-local keeps its leases under dataDir; the test's own, not the machine's.
                let withState = input.replacingOccurrences(of: #""type":"host-local""#, with: #""type":"host-local","dataDir":"\#(state)""#)
                let result = try Command.run(
                    NamespaceSupport.ip,
                    ["netns", "exec", node.name, "env", "CNI_COMMAND=ADD", "CNI_CONTAINERID=edgemesh-test", "CNI_NETNS=/var/run/netns/\(pod.name)",
                     "CNI_IFNAME=eth0", "CNI_PATH=\(Self.pluginDirectory)", "\(Self.pluginDirectory)/bridge"],
                    input: withState)
                #expect(result.contains("10.244.7.2/24"), "\(result)")
                let podAddress = try pod.exec(NamespaceSupport.ip, "-o", "-4", "address", "show", "dev", "eth0")
                #expect(podAddress.contains("inet 10.244.7.2/24"), "\(podAddress)")
                let podLink = try pod.exec(NamespaceSupport.ip, "link", "show", "dev", "eth0")
                #expect(podLink.contains("mtu 1400"), "\(podLink)")
                let routes = try pod.exec(NamespaceSupport.ip, "route", "show")
                #expect(routes.contains("default via 10.244.7.1 dev eth0"), "\(routes)")
                let bridge = try node.exec(NamespaceSupport.ip, "-o", "-4", "address", "show", "dev", "cni0")
                #expect(bridge.contains("inet 10.244.7.1/24"), "\(bridge)")
            }
        }
    }
}
