import BenchmarkLab
import Foundation

/// wireguard-go between two namespaces: an interface in each, peered over their veth
/// addresses, with tunnel addresses 10.78.0.1 and 10.78.0.2; each side's `routed` networks
/// (pod networks behind it, say) are among its peer's allowed IPs too.
@MainActor
public struct WireGuardPair {
    static let port = 51820
    public let interfaces: [String]
    public private(set) var daemons: [Process] = []

    /// Interface names carry the process id: wireguard-go's control sockets live in
    /// /var/run/wireguard, shared by every namespace.
    public init(lab: Lab, namespaces: [String], underlay: [String], routed: [[String]] = [[], []]) {
        let suffix = getpid() % 100_000
        interfaces = ["wga\(suffix)", "wgb\(suffix)"]
        let keys = (0..<2).map { index -> (private: String, public: String) in
            let privateKey = Lab.run(["/usr/bin/wg", "genkey"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
            let path = lab.write(privateKey, "wg-\(index).key")
            let publicKey = Lab.run(["/bin/sh", "-c", "/usr/bin/wg pubkey < \(path)"]).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return (path, publicKey)
        }
        for index in 0..<2 {
            let namespace = namespaces[index], interface = interfaces[index], other = 1 - index
            daemons.append(lab.start(["/usr/bin/env", "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1",
                                      "/usr/bin/wireguard-go", "-f", interface], in: namespace, log: "wireguard-\(index).log"))
            lab.waitUntil("wireguard-go's \(interface)", seconds: 10) {
                FileManager.default.fileExists(atPath: "/var/run/wireguard/\(interface).sock")
            }
            Lab.run(["/usr/bin/wg", "set", interface, "private-key", keys[index].private, "listen-port", "\(Self.port)",
                     "peer", keys[other].public, "endpoint", "\(underlay[other]):\(Self.port)",
                     "allowed-ips", (["\(address(other))/32"] + routed[other]).joined(separator: ",")], in: namespace)
            Lab.run(["/usr/sbin/ip", "addr", "add", "\(address(index))/24", "dev", interface], in: namespace)
            Lab.run(["/usr/sbin/ip", "link", "set", interface, "up"], in: namespace)
        }
    }

    public func address(_ index: Int) -> String { "10.78.0.\(index + 1)" }

    public func stop(lab: Lab) {
        for daemon in daemons { lab.stop(daemon) }
    }
}
