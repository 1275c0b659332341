import Mesh
import Yams

/// The parts of EdgeMesh's `edgemesh-agent.yaml` this agent honours:
///
///     kubeAPIConfig: {master, kubeConfig, metaServer: {server}, qps, burst}
///     commonConfig: {bridgeDeviceName, bridgeDeviceIP}    # older files: dummyDeviceName/IP
///     modules:
///       edgeDNS:
///         listenInterface: edgemesh0
///         listenPort: 53
///         cacheDNS: {enable, autoDetect, upstreamServers: ["ip" or "ip:port"], cacheTTL}
///       edgeProxy:
///         socks5Proxy: {enable, listenPort, allowedPorts: [22]}   # allowedPorts is ours
///       edgeGateway: {nic, includeIP, excludeIP}                  # as in edgemesh-gateway.yaml
///       edgeTunnel: {listenInterfaces, extraFilteredInterfaces, enableHolePunch}
///       edgeCNI:
///         enable: false
///         meshCIDRConfig: {cloudCIDR: ["10.244.0.0/20"], edgeCIDR: ["10.244.16.0/20"]}
///         nodeCIDRMaskSize: 24                                    # ours
///
/// Every value is optional: what a file leaves out keeps its default, and command-line flags
/// win over the file. Unknown fields are ignored (EdgeMesh files carry many for modules this
/// agent does not have); a known field with a bad value is an error naming it.
struct AgentConfigFile: Sendable {
    var kubeAPI: KubernetesAPIConfiguration?
    var bridgeDeviceName: String?
    var bridgeDeviceIP: IPv4Address?
    var listenInterface: String?
    var listenPort: UInt16?
    var upstreamServers: [HostPort]?
    /// `cacheDNS.autoDetect`: take upstreams from resolv.conf when none are listed (default true).
    var autoDetectUpstreams: Bool?
    /// `cacheDNS.cacheTTL`: the longest, in seconds, an upstream's answer is cached (default 30).
    var cacheTTL: UInt32?
    /// `edgeProxy.socks5Proxy`: whether it is on, its port, the node ports it reaches.
    var socks5Enabled: Bool?
    var socks5ListenPort: UInt16?
    var socks5AllowedPorts: [UInt16]?
    /// `edgeGateway`: the addresses the gateway's ports are opened on (comma lists).
    var gatewayNIC: String?
    var gatewayIncludeIP: String?
    var gatewayExcludeIP: String?
    /// `edgeTunnel`: the interfaces the tunnel listens on and advertises, and those it never does.
    var tunnelListenInterfaces: String?
    var tunnelExtraFilteredInterfaces: String?
    /// `edgeTunnel.enableHolePunch`: whether the tunnel punches TCP through NATs (default on).
    var tunnelHolePunching: Bool?
    /// `edgeCNI`: whether it is on, the pools of cloud and edge pods, the block each node gets.
    var edgeCNIEnabled: Bool?
    var cloudCIDRs: [IPv4Prefix]?
    var edgeCIDRs: [IPv4Prefix]?
    var nodeCIDRMaskSize: Int?

    init(yaml: String) throws(AgentConfigFileError) {
        let root: Yams.Node?
        do { root = try Yams.compose(yaml: yaml, Resolver.basic) } catch { throw .invalid(field: "(document)", reason: "not YAML: \(error)") }
        guard let root else { return }
        guard root.mapping != nil else { throw .invalid(field: "(document)", reason: "must be a mapping of sections") }
        if root["kubeAPIConfig"] != nil {
            do { kubeAPI = try KubernetesAPIConfiguration.parse(agentConfigYAML: yaml) } catch {
                throw .invalid(field: "kubeAPIConfig", reason: error.message)
            }
        }
        let common = root["commonConfig"]
        bridgeDeviceName = try Self.string(common?["bridgeDeviceName"] ?? common?["dummyDeviceName"], field: "commonConfig.bridgeDeviceName")
        if let text = try Self.string(common?["bridgeDeviceIP"] ?? common?["dummyDeviceIP"], field: "commonConfig.bridgeDeviceIP") {
            guard let address = IPv4Address(text) else { throw .invalid(field: "commonConfig.bridgeDeviceIP", reason: "\"\(text)\" is not an IPv4 address") }
            bridgeDeviceIP = address
        }
        let dns = root["modules"]?["edgeDNS"]
        listenInterface = try Self.string(dns?["listenInterface"], field: "modules.edgeDNS.listenInterface")
        listenPort = try Self.port(dns?["listenPort"], field: "modules.edgeDNS.listenPort")
        let socks5 = root["modules"]?["edgeProxy"]?["socks5Proxy"]
        if let enable = socks5?["enable"], !Self.isNull(enable) {
            guard let value = enable.bool else { throw .invalid(field: "modules.edgeProxy.socks5Proxy.enable", reason: "must be true or false") }
            socks5Enabled = value
        }
        socks5ListenPort = try Self.port(socks5?["listenPort"], field: "modules.edgeProxy.socks5Proxy.listenPort")
        if let ports = socks5?["allowedPorts"], !Self.isNull(ports) {
            guard let sequence = ports.sequence else {
                throw .invalid(field: "modules.edgeProxy.socks5Proxy.allowedPorts", reason: "must be a list of port numbers")
            }
            var allowed: [UInt16] = []
            for (index, node) in sequence.enumerated() {
                let field = "modules.edgeProxy.socks5Proxy.allowedPorts[\(index)]"
                guard let port = try Self.port(node, field: field) else { throw .invalid(field: field, reason: "must be a port number") }
                allowed.append(port)
            }
            socks5AllowedPorts = allowed
        }
        let edgeGateway = root["modules"]?["edgeGateway"]
        gatewayNIC = try Self.string(edgeGateway?["nic"], field: "modules.edgeGateway.nic")
        gatewayIncludeIP = try Self.string(edgeGateway?["includeIP"], field: "modules.edgeGateway.includeIP")
        gatewayExcludeIP = try Self.string(edgeGateway?["excludeIP"], field: "modules.edgeGateway.excludeIP")
        let edgeTunnel = root["modules"]?["edgeTunnel"]
        tunnelListenInterfaces = try Self.string(edgeTunnel?["listenInterfaces"], field: "modules.edgeTunnel.listenInterfaces")
        tunnelExtraFilteredInterfaces = try Self.string(
            edgeTunnel?["extraFilteredInterfaces"], field: "modules.edgeTunnel.extraFilteredInterfaces")
        if let enable = edgeTunnel?["enableHolePunch"], !Self.isNull(enable) {
            guard let value = enable.bool else { throw .invalid(field: "modules.edgeTunnel.enableHolePunch", reason: "must be true or false") }
            tunnelHolePunching = value
        }
        let edgeCNI = root["modules"]?["edgeCNI"]
        if let enable = edgeCNI?["enable"], !Self.isNull(enable) {
            guard let value = enable.bool else { throw .invalid(field: "modules.edgeCNI.enable", reason: "must be true or false") }
            edgeCNIEnabled = value
        }
        cloudCIDRs = try Self.networks(edgeCNI?["meshCIDRConfig"]?["cloudCIDR"], field: "modules.edgeCNI.meshCIDRConfig.cloudCIDR")
        edgeCIDRs = try Self.networks(edgeCNI?["meshCIDRConfig"]?["edgeCIDR"], field: "modules.edgeCNI.meshCIDRConfig.edgeCIDR")
        if let size = edgeCNI?["nodeCIDRMaskSize"], !Self.isNull(size) {
            guard let value = size.int, (8...30).contains(value) else {
                throw .invalid(field: "modules.edgeCNI.nodeCIDRMaskSize", reason: "\"\(size.string ?? "")\" is not a prefix length from 8 to 30")
            }
            nodeCIDRMaskSize = value
        }
        let cache = dns?["cacheDNS"]
        if let autoDetect = cache?["autoDetect"], !Self.isNull(autoDetect) {
            guard let value = autoDetect.bool else { throw .invalid(field: "modules.edgeDNS.cacheDNS.autoDetect", reason: "must be true or false") }
            autoDetectUpstreams = value
        }
        if let ttl = cache?["cacheTTL"], !Self.isNull(ttl) {
            guard let value = ttl.int, value > 0, value <= Int(Int32.max) else {
                throw .invalid(field: "modules.edgeDNS.cacheDNS.cacheTTL", reason: "\"\(ttl.string ?? "")\" is not a positive number of seconds")
            }
            cacheTTL = UInt32(value)
        }
        if let servers = cache?["upstreamServers"], !Self.isNull(servers) {
            guard let sequence = servers.sequence else {
                throw .invalid(field: "modules.edgeDNS.cacheDNS.upstreamServers", reason: "must be a list of \"ip\" or \"ip:port\"")
            }
            upstreamServers = try sequence.enumerated().map { index, node throws(AgentConfigFileError) in
                let field = "modules.edgeDNS.cacheDNS.upstreamServers[\(index)]"
                guard let text = node.string, let server = Self.upstream(text) else {
                    throw .invalid(field: field, reason: "\"\(node.string ?? "")\" is not \"ip\" or \"ip:port\"")
                }
                return server
            }
        }
    }

    /// `ip` (port 53) or `ip:port`, IPv4 only.
    static func upstream(_ text: String) -> HostPort? {
        if IPv4Address(text) != nil { return HostPort(host: text, port: 53) }
        guard let target = HostPort(text), IPv4Address(target.host) != nil else { return nil }
        return target
    }

    /// A list of IPv4 networks (`a.b.c.d/n`), as a YAML list or one comma-separated string
    /// (EdgeMesh's examples write both).
    private static func networks(_ node: Yams.Node?, field: String) throws(AgentConfigFileError) -> [IPv4Prefix]? {
        guard let node, !isNull(node) else { return nil }
        let texts: [String]
        if let sequence = node.sequence {
            texts = sequence.compactMap(\.string)
            guard texts.count == sequence.count else { throw .invalid(field: field, reason: "must be a list of networks") }
        } else if let text = node.scalar?.string {
            texts = [text]
        } else {
            throw .invalid(field: field, reason: "must be a list of networks")
        }
        let parsed = IPv4Prefix.list(texts.joined(separator: ","))
        if let invalid = parsed.invalid { throw .invalid(field: field, reason: "\"\(invalid)\" is not an IPv4 network (a.b.c.d/n)") }
        return parsed.networks
    }

    private static func port(_ node: Yams.Node?, field: String) throws(AgentConfigFileError) -> UInt16? {
        guard let node, !isNull(node) else { return nil }
        guard let value = node.int, (1...65535).contains(value) else {
            throw .invalid(field: field, reason: "\"\(node.string ?? "")\" is not a port number (1-65535)")
        }
        return UInt16(value)
    }

    private static func string(_ node: Yams.Node?, field: String) throws(AgentConfigFileError) -> String? {
        guard let node, !isNull(node) else { return nil }
        guard let text = node.scalar?.string else { throw .invalid(field: field, reason: "must be a string") }
        return text.isEmpty ? nil : text
    }

    private static func isNull(_ node: Yams.Node) -> Bool {
        node.scalar.map { ["", "~", "null"].contains($0.string) && $0.style == .plain } ?? false
    }
}
