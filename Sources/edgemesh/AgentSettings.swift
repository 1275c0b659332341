import Foundation
import LinuxBackend
import Mesh
import NIOCore
import NIOPosix

/// The agent's effective settings: command-line flags over the config file over defaults,
/// checked and resolved (listen interface to address, upstreams from resolv.conf) before
/// anything is started.
struct AgentSettings: Sendable, CustomStringConvertible {
    static let defaultDeviceName = "edgemesh0"
    static let defaultListenAddress = EdgeAgent.Configuration.defaultListenAddress

    var nodeName: String
    var source: AgentSource
    var listenAddress: IPv4Address
    var dnsPort: UInt16
    var clusterDomain: String
    var upstreams: [HostPort]
    /// Where the upstreams came from: "flags", "config file", "/etc/resolv.conf" or "none".
    var upstreamOrigin: String
    /// The longest, in seconds, an upstream's answer is cached: `cacheDNS.cacheTTL`, else
    /// EdgeMesh's default.
    var dnsCacheTTL: UInt32
    static let defaultDNSCacheTTL: UInt32 = 30
    var stateDirectory: String
    /// The bridge to create for `listenAddress`, or nil when the address is already on an interface.
    var device: String?
    /// Where `/metrics` and `/status` are served; nil for none.
    var statusAddress: SocketAddress?
    /// The tunnel, when a PSK file is given: its port, key and relays.
    var tunnel: TunnelConfiguration?
    var relays: [SocketAddress]
    /// The gateway role, when --gateway is given.
    var gateway: IngressGateway.Configuration?
    /// --snapshot-secrets: the gateway's certificates go into the offline snapshot.
    var snapshotsSecrets = false
    /// The SOCKS5 node proxy, with --socks5 or `edgeProxy.socks5Proxy.enable`.
    var socks5: Socks5Configuration?
    /// The edge CNI's pools, with --edge-cni or `edgeCNI.enable`; nil when off.
    var edgeCNI: MeshCIDRConfiguration?
    /// With the edge CNI, the container runtime's CNI configuration directory; nil for none.
    var cniConfigurationDirectory: String?

    init(_ command: AgentCommand, environment: [String: String]) throws {
        var file: AgentConfigFile?
        if let path = command.config {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                throw AgentConfigFileError(field: "(file)", reason: "cannot read it: \(error.localizedDescription)", path: path)
            }
            do { file = try AgentConfigFile(yaml: text) } catch {
                var located = error
                located.path = path
                throw located
            }
        }
        guard let nodeName = command.nodeName ?? environment["NODE_NAME"], !nodeName.isEmpty else {
            throw AgentSettingsError("no node name: pass --node-name or set NODE_NAME")
        }
        self.nodeName = nodeName
        source = try Self.source(command, file: file, environment: environment)

        let deviceName = command.deviceName ?? file?.bridgeDeviceName ?? Self.defaultDeviceName
        let interfaces = Self.interfaceAddresses()
        if let text = command.listenIP {
            guard let address = IPv4Address(text) else { throw AgentSettingsError("--listen-ip \"\(text)\" is not an IPv4 address") }
            listenAddress = address
        } else if let interface = file?.listenInterface, interface != deviceName {
            guard let address = interfaces.first(where: { $0.name == interface })?.address else {
                throw AgentSettingsError("modules.edgeDNS.listenInterface: no interface \"\(interface)\" with an IPv4 address on this node")
            }
            listenAddress = address
        } else {
            listenAddress = file?.bridgeDeviceIP ?? Self.defaultListenAddress
        }
        let listenAddress = self.listenAddress
        device = interfaces.contains { $0.address == listenAddress } || listenAddress == .any ? nil : deviceName
        let dnsPort = command.dnsPort ?? file?.listenPort ?? 53
        self.dnsPort = dnsPort
        clusterDomain = command.clusterDomain
        dnsCacheTTL = file?.cacheTTL ?? Self.defaultDNSCacheTTL
        stateDirectory = command.stateDir
        statusAddress = try Self.socketAddress(command.statusAddress, flag: "--status-address", allowOff: true)
        if let path = command.pskFile {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw AgentSettingsError("--psk-file \"\(path)\" cannot be read")
            }
            do {
                // The same derivation as the relay's, so one file serves both.
                let key = try PresharedKeyFile.key(fromContents: Array(contents))
                tunnel = TunnelConfiguration(
                    port: command.tunnelPort, presharedKey: TunnelPresharedKey(derivedKey: key),
                    listenOn: .tunnel(
                        listenInterfaces: command.tunnelListenInterfaces ?? file?.tunnelListenInterfaces ?? "*",
                        extraFilteredInterfaces: command.tunnelExtraFilteredInterfaces ?? file?.tunnelExtraFilteredInterfaces ?? ""))
                tunnel?.holePunching = file?.tunnelHolePunching ?? true
            } catch {
                throw AgentSettingsError("--psk-file \"\(path)\": \(error)")
            }
        } else {
            tunnel = nil
        }
        relays = try command.relay.compactMap { try Self.socketAddress($0, flag: "--relay", allowOff: false) }
        if !relays.isEmpty && tunnel == nil { throw AgentSettingsError("--relay needs --psk-file: relays carry the tunnel") }
        gateway = try Self.gateway(command, file: file)
        snapshotsSecrets = command.gateway && command.snapshotSecrets
        socks5 = try Self.socks5(command, file: file, listenAddress: listenAddress)
        if socks5 != nil && tunnel == nil { throw AgentSettingsError("--socks5 needs --psk-file: the node proxy reaches other nodes through the tunnel") }
        edgeCNI = try Self.edgeCNI(command, file: file)
        cniConfigurationDirectory = edgeCNI == nil || command.cniConfDir.isEmpty ? nil : command.cniConfDir

        if !command.upstreamDNS.isEmpty {
            upstreams = try command.upstreamDNS.map { text in
                guard let server = AgentConfigFile.upstream(text) else { throw AgentSettingsError("--upstream-dns \"\(text)\" is not ip or ip:port") }
                return server
            }
            upstreamOrigin = "flags"
        } else if let servers = file?.upstreamServers, !servers.isEmpty {
            upstreams = servers
            upstreamOrigin = "config file"
        } else if file?.autoDetectUpstreams ?? true {
            let path = command.resolvConf
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            // Our own address on port 53 would be a forwarding loop.
            let own = dnsPort == 53 ? [listenAddress] : []
            upstreams = ResolvConf(parsing: text).upstreams(excluding: own).map { HostPort(host: $0.description, port: 53) }
            upstreamOrigin = upstreams.isEmpty ? "none (\(path) lists no usable nameserver)" : path
        } else {
            upstreams = []
            upstreamOrigin = "none (cacheDNS.autoDetect is false)"
        }
    }

    private static func socks5(_ command: AgentCommand, file: AgentConfigFile?, listenAddress: IPv4Address) throws -> Socks5Configuration? {
        guard command.socks5 || file?.socks5Enabled == true else {
            if command.socks5Port != nil || command.socks5Address != nil || !command.socks5AllowedPort.isEmpty || command.socks5Credentials != nil {
                throw AgentSettingsError("--socks5-port, --socks5-address, --socks5-allowed-port and --socks5-credentials need --socks5")
            }
            return nil
        }
        var credentials: Socks5Credentials?
        if let path = command.socks5Credentials {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw AgentSettingsError("--socks5-credentials \"\(path)\" cannot be read")
            }
            guard let read = Socks5Credentials(usernameColonPassword: text) else {
                throw AgentSettingsError("--socks5-credentials \"\(path)\" must hold username:password (each 1-255 bytes)")
            }
            credentials = read
        }
        let port = command.socks5Port ?? file?.socks5ListenPort ?? Socks5Configuration.defaultPort
        var address = listenAddress
        if let text = command.socks5Address {
            guard let chosen = IPv4Address(text) else { throw AgentSettingsError("--socks5-address \"\(text)\" is not an IPv4 address") }
            address = chosen
        }
        let allowed = command.socks5AllowedPort.isEmpty ? file?.socks5AllowedPorts ?? [22] : command.socks5AllowedPort
        return Socks5Configuration(
            listenAddress: address.socketAddress(port: port), allowedPorts: Set(allowed), credentials: credentials)
    }

    /// One source: --manifests, or an API mode from the flags, else from the file, else edge mode.
    private static func source(_ command: AgentCommand, file: AgentConfigFile?, environment: [String: String]) throws -> AgentSource {
        var chosen: [(flag: String, source: AgentSource)] = []
        if let directory = command.manifests { chosen.append(("--manifests", .manifests(directory: directory))) }
        if let path = command.kubeconfig { chosen.append(("--kubeconfig", .kubernetesAPI(.init(mode: .kubeconfig(path: path))))) }
        if let url = command.master {
            guard let endpoint = KubernetesAPIEndpoint(url: url) else { throw AgentSettingsError("--master \"\(url)\" is not an http(s)://host[:port] URL") }
            chosen.append(("--master", .kubernetesAPI(.init(mode: .server(endpoint, bearerToken: nil)))))
        }
        if let url = command.metaServer {
            guard let endpoint = KubernetesAPIEndpoint(url: url) else { throw AgentSettingsError("--meta-server \"\(url)\" is not an http(s)://host[:port] URL") }
            chosen.append(("--meta-server", .kubernetesAPI(.init(mode: .edge(metaServer: endpoint)))))
        }
        if command.inCluster {
            chosen.append(("--in-cluster", .kubernetesAPI(try KubernetesAPIAccess.inClusterConfiguration(environment: environment))))
        }
        guard chosen.count <= 1 else {
            throw AgentSettingsError("choose one source of services; got \(chosen.map(\.flag).joined(separator: " and "))")
        }
        if var only = chosen.first?.source {
            // The file's qps/burst still apply to an API mode chosen by flag.
            if case .kubernetesAPI(var configuration) = only, let fromFile = file?.kubeAPI {
                configuration.qps = fromFile.qps
                configuration.burst = fromFile.burst
                only = .kubernetesAPI(configuration)
            }
            return only
        }
        return .kubernetesAPI(file?.kubeAPI ?? KubernetesAPIConfiguration())
    }

    private static func edgeCNI(_ command: AgentCommand, file: AgentConfigFile?) throws -> MeshCIDRConfiguration? {
        func networks(_ text: String?, flag: String) throws -> [IPv4Prefix]? {
            guard let text else { return nil }
            let parsed = IPv4Prefix.list(text)
            if let invalid = parsed.invalid { throw AgentSettingsError("\(flag) \"\(invalid)\" is not an IPv4 network (a.b.c.d/n)") }
            return parsed.networks
        }
        let cloud = try networks(command.cloudCidr, flag: "--cloud-cidr") ?? file?.cloudCIDRs ?? []
        let edge = try networks(command.edgeCidr, flag: "--edge-cidr") ?? file?.edgeCIDRs ?? []
        if let size = command.nodeCidrMaskSize, !(8...30).contains(size) {
            throw AgentSettingsError("--node-cidr-mask-size \(size) is not a prefix length from 8 to 30")
        }
        let size = command.nodeCidrMaskSize ?? file?.nodeCIDRMaskSize ?? 24
        guard command.edgeCni || file?.edgeCNIEnabled == true else {
            if command.cloudCidr != nil || command.edgeCidr != nil || command.nodeCidrMaskSize != nil {
                throw AgentSettingsError("--cloud-cidr, --edge-cidr and --node-cidr-mask-size need --edge-cni")
            }
            return nil
        }
        if let wide = (cloud + edge).first(where: { $0.length > size }) {
            throw AgentSettingsError("edge CNI pool \(wide) is smaller than one /\(size) node block")
        }
        return MeshCIDRConfiguration(cloudCIDRs: cloud, edgeCIDRs: edge, nodeMaskSize: size)
    }

    private static func gateway(_ command: AgentCommand, file: AgentConfigFile?) throws -> IngressGateway.Configuration? {
        guard command.gateway else {
            if !command.gatewayLabel.isEmpty { throw AgentSettingsError("--gateway-label needs --gateway") }
            return nil
        }
        let listenOn: InterfaceAddressFilter
        do {
            listenOn = try .gateway(
                nic: command.gatewayNic ?? file?.gatewayNIC ?? "*", includeIP: command.gatewayIncludeIp ?? file?.gatewayIncludeIP ?? "*",
                excludeIP: command.gatewayExcludeIp ?? file?.gatewayExcludeIP ?? "")
        } catch {
            throw AgentSettingsError("gateway \(error)")
        }
        guard !command.gatewayLabel.isEmpty else { return IngressGateway.Configuration(listenOn: listenOn) }
        var labels: [String: String] = [:]
        for text in command.gatewayLabel {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw AgentSettingsError("--gateway-label \"\(text)\" is not key=value")
            }
            labels[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return IngressGateway.Configuration(labels: labels, listenOn: listenOn)
    }

    private static func socketAddress(_ text: String, flag: String, allowOff: Bool) throws -> SocketAddress? {
        if allowOff && text == "off" { return nil }
        guard let target = HostPort(text), IPv4Address(target.host) != nil,
            let address = try? SocketAddress(ipAddress: target.host, port: Int(target.port))
        else { throw AgentSettingsError("\(flag) \"\(text)\" is not ip:port\(allowOff ? " (or off)" : "")") }
        return address
    }

    private static func interfaceAddresses() -> [(name: String, address: IPv4Address)] {
        let devices = (try? System.enumerateDevices()) ?? []
        return devices.compactMap { device in
            guard case .v4(let address)? = device.address, let parsed = IPv4Address(address.host) else { return nil }
            return (device.name, parsed)
        }
    }

    var description: String {
        """
        node: \(nodeName)
        source: \(source)
        listen: \(listenAddress):\(dnsPort)
        device: \(device.map { "\($0) (created for \(listenAddress)/32)" } ?? "none (address already present)")
        cluster domain: \(clusterDomain)
        socks5 node proxy: \(socks5.map { "\($0.listenAddress.ipPortText), ports \($0.allowedPorts.sorted().map(String.init).joined(separator: ", "))\($0.credentials == nil ? "" : ", credentials required")" } ?? "off")
        upstream DNS: \(upstreams.isEmpty ? "-" : upstreams.map(\.description).joined(separator: ", ")) from \(upstreamOrigin), answers cached up to \(dnsCacheTTL) s
        state directory: \(stateDirectory)
        status: \(statusAddress.map { "\($0)" } ?? "off")
        tunnel: \(tunnel.map { "port \($0.port) on \($0.listenOn.summary)\($0.holePunching ? "" : ", hole punching off")" } ?? "off (no --psk-file)")\(relays.isEmpty ? "" : ", relays " + relays.map { "\($0)" }.joined(separator: ", "))
        gateway: \(gateway.map { "on \($0.listenOn.summary), labels " + $0.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",") } ?? "off")
        edge CNI: \(edgeCNI.map { "on; \($0)" } ?? "off")\(cniConfigurationDirectory.map { "; CNI configuration in \($0)" } ?? "")
        """
    }
}
