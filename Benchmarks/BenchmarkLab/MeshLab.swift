import Foundation

/// Nodes in network namespaces on one bridged LAN (10.77.0.0/24), each able to run an
/// edgemesh agent with the tunnel on, plus a relay node. Every agent shares one manifests
/// directory, as if watching one cluster; `publishKeys` writes each node's Node object with its
/// tunnel key, what an agent publishes through the API in a real cluster.
@MainActor
public final class MeshLab {
    public struct Node: Sendable {
        public let name: String
        public let namespace: String
        public let address: String
    }

    public static let relayPort = 20008
    public let lab: Lab
    public let agentBinary: String
    public private(set) var nodes: [Node] = []
    public private(set) var agents: [String: Process] = [:]
    public let relay: Node
    /// The relay process.
    public private(set) var relayProcess: Process!
    private let hub: String
    public let manifests: String
    public let psk: String

    public init(lab: Lab, agentBinary: String) {
        self.lab = lab
        self.agentBinary = agentBinary
        hub = lab.addNamespace("hub")
        Lab.run(["/usr/sbin/ip", "-n", hub, "link", "add", "br0", "type", "bridge"])
        Lab.run(["/usr/sbin/ip", "-n", hub, "link", "set", "br0", "up"])
        manifests = lab.work.appendingPathComponent("manifests").path
        try! FileManager.default.createDirectory(atPath: manifests, withIntermediateDirectories: true)
        psk = lab.write(Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(), "psk")
        relay = Node(name: "relay", namespace: lab.addNamespace("relay"), address: "10.77.0.254")
        attach(relay, index: 254)
        relayProcess = lab.start([agentBinary, "relay", "--listen", "\(relay.address):\(Self.relayPort)", "--psk-file", psk],
                  in: relay.namespace, log: "relay.log")
    }

    /// Adds a node at 10.77.0.`index` (1...253) on the LAN.
    @discardableResult
    public func addNode(_ name: String, index: Int) -> Node {
        let node = Node(name: name, namespace: lab.addNamespace(name), address: "10.77.0.\(index)")
        attach(node, index: index)
        // Cluster IPs are redirected to the agent inside the namespace; the reply needs a route.
        Lab.run(["/usr/sbin/ip", "-n", node.namespace, "route", "add", "10.96.0.0/12", "dev", "lo", "src", "127.0.0.1"])
        nodes.append(node)
        return node
    }

    /// A veth pair created straight inside the two namespaces, so no name is ever taken in the
    /// root namespace (other labs may run at the same time).
    private func attach(_ node: Node, index: Int) {
        Lab.run(["/usr/sbin/ip", "link", "add", "v\(index)", "netns", hub, "type", "veth", "peer", "name", "eth0", "netns", node.namespace])
        Lab.run(["/usr/sbin/ip", "-n", hub, "link", "set", "v\(index)", "master", "br0", "up"])
        Lab.run(["/usr/sbin/ip", "-n", node.namespace, "addr", "add", "\(node.address)/24", "dev", "eth0"])
        Lab.run(["/usr/sbin/ip", "-n", node.namespace, "link", "set", "eth0", "up"])
    }

    /// Starts `node`'s agent; `extra` arguments follow the lab's own (`--gateway`, say).
    public func startAgent(on node: Node, extra: [String] = []) {
        agents[node.name] = lab.start(
            [agentBinary, "agent", "--node-name", node.name, "--manifests", manifests, "--listen-ip", "127.0.0.1",
             "--dns-port", "5353", "--state-dir", lab.work.appendingPathComponent("state-\(node.name)").path,
             "--psk-file", psk, "--relay", "\(relay.address):\(Self.relayPort)"] + extra,
            in: node.namespace, log: "agent-\(node.name).log")
    }

    public func stopAgent(on node: Node) {
        if let agent = agents.removeValue(forKey: node.name) { lab.stop(agent) }
    }

    /// The node's agent's `status --json` tunnel section, nil while it does not answer.
    public func tunnelStatus(of node: Node) -> [String: Any]? {
        let output = Lab.run([agentBinary, "status", "--json"], in: node.namespace).output
        let json = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
        return json?["tunnel"] as? [String: Any]
    }

    public func publicKey(of node: Node) -> String? {
        (tunnelStatus(of: node)?["publicKey"] as? String).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The path `node`'s agent reports to `peer` ("direct", "hole-punched", "relayed"), or "down".
    public func path(from node: Node, to peer: Node) -> String {
        let peers = tunnelStatus(of: node)?["peers"] as? [[String: Any]] ?? []
        return peers.first { $0["node"] as? String == peer.name }?["path"] as? String ?? "down"
    }

    /// Starts every node's agent, waits for its tunnel key, and writes its Node object (with
    /// `spec.podCIDR` where `podCIDRs` names one); the agents are left running.
    public func publishKeys(of nodes: [Node], podCIDRs: [String: String] = [:]) {
        for node in nodes where agents[node.name] == nil { startAgent(on: node) }
        for node in nodes {
            var key: String?
            lab.waitUntil("\(node.name)'s tunnel key", seconds: 60) {
                key = publicKey(of: node)
                return key != nil
            }
            lab.write("""
                apiVersion: v1
                kind: Node
                metadata: {name: \(node.name), annotations: {edgemesh.io/tunnel-public-key: "\(key!)"}}
                spec: {\(podCIDRs[node.name].map { "podCIDR: \($0)" } ?? "")}
                status: {addresses: [{type: InternalIP, address: \(node.address)}]}
                """, "manifests/node-\(node.name).yaml")
        }
    }

    /// A Service with one cluster IP port whose single endpoint is `port` on `node`.
    public func addService(_ name: String, clusterIP: String, port: Int, on node: Node) {
        lab.write("""
            apiVersion: v1
            kind: Service
            metadata: {name: \(name), namespace: default}
            spec: {clusterIP: \(clusterIP), ports: [{name: p, port: \(port)}]}
            ---
            apiVersion: v1
            kind: Endpoints
            metadata: {name: \(name), namespace: default}
            subsets: [{addresses: [{ip: \(node.address), nodeName: \(node.name)}], ports: [{name: p, port: \(port)}]}]
            """, "manifests/service-\(name).yaml")
    }

    /// Drops everything between `node` and `peer` in `node`'s namespace (both directions), so
    /// their tunnel can only be relayed; `allow` removes it.
    public func block(_ node: Node, from peer: Node) {
        let rules = """
            table ip benchblock {
                chain input { type filter hook input priority 0; ip saddr \(peer.address) drop; }
                chain output { type filter hook output priority 0; ip daddr \(peer.address) drop; }
            }
            """
        let path = lab.write(rules, "block-\(node.name).nft")
        Lab.run(["/usr/sbin/nft", "-f", path], in: node.namespace)
    }

    public func allow(_ node: Node) {
        Lab.run(["/usr/sbin/nft", "delete", "table", "ip", "benchblock"], in: node.namespace)
    }
}
