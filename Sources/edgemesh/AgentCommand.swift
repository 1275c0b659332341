import ArgumentParser
import Foundation
import LinuxBackend
import Logging
import Mesh
import NIOCore

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent: service table from manifests, offline snapshot, and the edge DNS server.",
        discussion: """
            So far the agent learns services from a manifest directory (watched for changes), keeps \
            a snapshot in --state-dir so a restart answers at once, and serves cluster DNS on \
            --listen-ip:--dns-port. Interception, proxying and the Kubernetes API sources come next.
            """
    )

    @Option(help: "This node's name, as Kubernetes knows it.")
    var nodeName: String

    @Option(help: "A directory of Kubernetes manifests (YAML or JSON), watched for changes.")
    var manifests: String?

    @Option(help: "The address the agent's DNS listens on.")
    var listenIP: String = "169.254.96.16"

    @Option(help: "The DNS port.")
    var dnsPort: UInt16 = 53

    @Option(help: "Where the offline snapshot is kept.")
    var stateDir: String = "/var/lib/edgemesh"

    @Option(help: "The cluster's DNS domain.")
    var clusterDomain: String = "cluster.local"

    @Option(help: "An upstream DNS server (ip:port) for names outside the cluster; repeatable.")
    var upstreamDNS: [String] = []

    @Option(help: "Where GET /metrics (Prometheus) and /status (for `edgemesh status`) are served; \"off\" serves neither.")
    var statusAddress: String = "127.0.0.1:10551"

    func run() throws {
        guard let listenAddress = IPv4Address(listenIP) else {
            throw ValidationError("--listen-ip \"\(listenIP)\" is not an IPv4 address")
        }
        let upstreams = try upstreamDNS.map { text -> SocketAddress in
            guard let target = HostPort(text), IPv4Address(target.host) != nil else {
                throw ValidationError("--upstream-dns \"\(text)\" is not ip:port")
            }
            return try SocketAddress(ipAddress: target.host, port: Int(target.port))
        }
        var statusSocket: SocketAddress?
        if statusAddress != "off" {
            guard let target = HostPort(statusAddress), IPv4Address(target.host) != nil else {
                throw ValidationError("--status-address \"\(statusAddress)\" is not ip:port (or off)")
            }
            statusSocket = try SocketAddress(ipAddress: target.host, port: Int(target.port))
        }
        let group = LinuxEventLoops.makeGroup()
        let loop = group.next()
        let host = LinuxHost(
            name: nodeName, eventLoop: loop, storeDirectory: stateDir,
            interception: NftablesInterception(eventLoop: loop), logger: Logger(label: "edgemesh.agent"))
        let configuration = EdgeAgent.Configuration(
            nodeName: nodeName, listenAddress: listenAddress, dnsPort: dnsPort, clusterDomain: clusterDomain,
            upstreamDNS: upstreams, statusAddress: statusSocket)
        let agent = try loop.submit { try EdgeAgent(host: host, configuration: configuration) }.wait()
        let restored = try loop.flatSubmit { agent.start() }.wait()
        printError("edgemesh agent \(nodeName): snapshot \(restored)")
        if let manifests {
            let directory = ManifestDirectory(path: manifests)
            let contents = try directory.read()
            let objects = try loop.submit {
                agent.applyManifests(contents.files)
                return agent.table.revision
            }.wait()
            printError("edgemesh agent \(nodeName): \(contents.files.count) manifest files read (table revision \(objects))")
            _ = directory.watch(on: loop) { result in
                switch result {
                case .success(let contents): agent.applyManifests(contents.files)
                case .failure(let error): host.logger.error("manifest directory \(manifests): \(error)")
                }
            }
        }
        let addresses = try loop.submit { agent.dnsServer.localAddresses }.wait()
        printError("edgemesh agent \(nodeName): DNS on " + addresses.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }.joined(separator: ", "))
        // Serve until the process is stopped.
        try loop.makePromise(of: Void.self).futureResult.wait()
    }
}
