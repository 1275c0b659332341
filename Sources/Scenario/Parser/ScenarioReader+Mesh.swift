import Foundation
import Mesh
import Yams

// MARK: - The mesh and object changes

extension ScenarioReader {
    func mesh(_ value: LocatedNode, names: TopologyNames) throws(ScenarioError) -> MeshSpec {
        let fields = try self.fields(
            value,
            allowed: ["agents", "apiServer", "apiPort", "clusterDomain", "dnsPort", "tunnel", "relays", "gateways", "gatewayListen", "socks5", "edgeCNI"])
        let agentsValue = try required(fields, "agents")
        var agents: [String] = []
        if case .scalar = agentsValue.node, try scalar(agentsValue, "\"all\" or a list of nodes") == "all" {
            agents = names.known([.node])
        } else {
            agents = try nodeList(agentsValue)
        }
        var spec = MeshSpec(agents: agents)
        if let value = fields["tunnel"] { spec.tunnel = try bool(value) }
        if let value = fields["relays"] {
            spec.relays = try nodeList(value)
        }
        func nodeList(_ value: LocatedNode) throws(ScenarioError) -> [String] {
            var nodes: [String] = []
            for item in try list(value, of: "node names") {
                let node = try reference(item, to: [.node], in: names)
                if nodes.contains(node) { throw fail(item, "\"\(node)\" is listed twice") }
                nodes.append(node)
            }
            guard !nodes.isEmpty else { throw fail(value, "needs at least one node") }
            return nodes
        }
        if let value = fields["gateways"] {
            spec.gateways = try nodeList(value)
            for (item, node) in zip(try list(value, of: "node names"), spec.gateways) where !agents.contains(node) {
                throw fail(
                    item, "gateway node \"\(node)\" runs no agent; the gateway is a role of the agent (agents: \(agents.joined(separator: ", ")))")
            }
        }
        if let value = fields["gatewayListen"] {
            guard !spec.gateways.isEmpty else { throw fail(value, "gatewayListen needs gateways: the nodes whose gateway listens so") }
            let listen = try self.fields(value, allowed: ["nic", "includeIP", "excludeIP"])
            var parsed = GatewayListenSpec()
            if let nic = listen["nic"] { parsed.nic = try scalar(nic, "interface names (a comma list, or *)") }
            if let include = listen["includeIP"] { parsed.includeIP = try scalar(include, "addresses or networks (a comma list, or *)") }
            if let exclude = listen["excludeIP"] { parsed.excludeIP = try scalar(exclude, "addresses or networks (a comma list)") }
            do {
                _ = try InterfaceAddressFilter.gateway(nic: parsed.nic, includeIP: parsed.includeIP, excludeIP: parsed.excludeIP)
            } catch {
                throw fail(listen[error.field] ?? value, error.description)
            }
            spec.gatewayListen = parsed
        }
        if let value = fields["socks5"] {
            let socks5 = try self.fields(value, allowed: ["allowedPorts"])
            var ports: [UInt16] = [22]
            if let list = socks5["allowedPorts"] {
                ports = []
                for item in try self.list(list, of: "port numbers") { ports.append(try port(item)) }
                guard !ports.isEmpty else { throw fail(list, "needs at least one port") }
            }
            guard spec.tunnel else { throw fail(value, "the SOCKS5 node proxy reaches nodes through the tunnel; this mesh has tunnel: false") }
            spec.socks5Ports = ports
        }
        if let value = fields["edgeCNI"] {
            spec.edgeCNI = try bool(value)
            guard !spec.edgeCNI || spec.tunnel else { throw fail(value, "the edge CNI carries pod packets through the tunnel; this mesh has tunnel: false") }
        }
        if let value = fields["apiServer"] { spec.apiServer = try reference(value, to: [.node], in: names) }
        if let value = fields["apiPort"] { spec.apiPort = try port(value) }
        if let value = fields["dnsPort"] { spec.dnsPort = try port(value) }
        if let value = fields["clusterDomain"] {
            let domain = try scalar(value, "a DNS domain")
            do {
                _ = try DNSName(domain)
            } catch {
                throw fail(value, "\"\(domain)\" is not a DNS domain: \(error)")
            }
            spec.clusterDomain = domain
        }
        return spec
    }

    /// One `changes` entry: `{at: 10m, apply: OBJECT}` or `{at: 10m, delete: {kind, namespace, name}}`.
    func change(_ item: LocatedNode, duration: UInt64) throws(ScenarioError) -> ObjectChangeSpec {
        let fields = try self.fields(item, allowed: ["at", "apply", "delete"])
        let atValue = try required(fields, "at")
        let at = try self.duration(atValue)
        guard at < duration else {
            throw fail(atValue, "\(ScenarioValues.format(duration: at)) is not before the end of the run (\(ScenarioValues.format(duration: duration)))")
        }
        switch (fields["apply"], fields["delete"]) {
        case (let object?, nil):
            let manifests = try self.manifests(object.node, origin: .inline(object))
            guard manifests.count == 1, let manifest = manifests.first else {
                throw fail(object, "apply takes one object, not a List")
            }
            return ObjectChangeSpec(at: at, action: .apply(manifest))
        case (nil, let target?):
            let key = try self.fields(target, allowed: ["kind", "namespace", "name"])
            let kind = try name(required(key, "kind"))
            let namespace = try key["namespace"].map { value throws(ScenarioError) in try name(value) }
            return ObjectChangeSpec(at: at, action: .delete(kind: kind, namespace: namespace, name: try name(required(key, "name"))))
        case (_?, let delete?):
            throw fail(delete, "give either apply or delete, not both")
        case (nil, nil):
            throw fail(item, "missing \"apply\" (an object) or \"delete\" ({kind, namespace, name})")
        }
    }
}
