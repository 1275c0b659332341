import ArgumentParser
import Foundation
import LinuxBackend
import Logging
import Mesh
import NIOCore

struct RelayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay",
        abstract: "Run a relay: reservations for agents, relayed circuits between them, hole-punching coordination.",
        discussion: """
            Agents keep an authenticated control connection to the relay (cluster PSK; a wrong PSK \
            gets no answer), learn their public address from it, and reach nodes behind NATs \
            through it. The relay copies circuit bytes without reading them: they are the agents' \
            end-to-end ciphertext.
            """
    )

    @Option(help: "The address and port to listen on (ip:port).")
    var listen: String = "0.0.0.0:20008"

    @Option(help: "The cluster's pre-shared key file (the same file the agents use).")
    var pskFile: String

    @Option(help: "The name this relay logs under.")
    var name: String = "relay"

    @Option(help: "The most nodes holding a reservation at once.")
    var maxReservations: Int = 1024

    @Option(help: "The most circuits one node may have open through this relay.")
    var maxCircuitsPerNode: Int = 64

    @Option(help: "The most circuits the relay carries at once.")
    var maxCircuits: Int = 4096

    @Option(help: "The most reservations from one address (nodes behind one NAT share one).")
    var maxReservationsPerAddress: Int = 64

    @Option(help: "Bind node names to the tunnel keys their Node objects carry, read from the API server this kubeconfig reaches; names the cluster does not list are refused.")
    var kubeconfig: String?

    @Flag(help: "The same through the pod's service account (the relay as a Deployment; needs list and watch on nodes).")
    var inCluster = false

    func run() throws {
        guard let target = HostPort(listen), let address = IPv4Address(target.host) else {
            throw ValidationError("--listen \"\(listen)\" is not ip:port")
        }
        guard let contents = FileManager.default.contents(atPath: pskFile) else {
            throw ValidationError("--psk-file \"\(pskFile)\" cannot be read")
        }
        let psk: [UInt8]
        do {
            psk = try PresharedKeyFile.key(fromContents: Array(contents))
        } catch {
            throw ValidationError("--psk-file \"\(pskFile)\": \(error)")
        }
        guard maxReservations > 0, maxCircuitsPerNode > 0, maxCircuits > 0, maxReservationsPerAddress > 0 else {
            throw ValidationError("limits must be at least 1")
        }
        guard kubeconfig == nil || !inCluster else { throw ValidationError("choose --kubeconfig or --in-cluster, not both") }
        let access: KubernetesAPIAccess?
        do {
            if let kubeconfig {
                access = try KubernetesAPIAccess.loadKubeconfig(path: kubeconfig)
            } else if inCluster {
                access = try KubernetesAPIAccess.load(KubernetesAPIAccess.inClusterConfiguration(environment: ProcessInfo.processInfo.environment))
            } else {
                access = nil
            }
        } catch {
            throw ValidationError("\(error)")
        }
        OpenFileLimit.raiseToHardLimit()
        let group = LinuxEventLoops.makeGroup()
        let loop = group.next()
        let host = LinuxHost(
            name: name, eventLoop: loop, storeDirectory: NSTemporaryDirectory() + "edgemesh-relay-\(name)",
            interception: DisabledInterception(eventLoop: loop), logger: Logger(label: "edgemesh.relay"))
        let configuration = RelayServerConfiguration(
            listenAddress: address.socketAddress(port: target.port), presharedKey: psk, maxReservations: maxReservations,
            maxReservationsPerAddress: maxReservationsPerAddress, maxCircuitsPerNode: maxCircuitsPerNode, maxCircuits: maxCircuits)
        // With the cluster, a name is its Node's: only Nodes are followed, into a table of their own.
        let nodes = try access.map { access in
            try loop.submit {
                let table = ServiceTable(eventLoop: loop)
                let source = KubernetesAPISource(client: access.makeClient(host: host), table: table, options: .init(kinds: [.node]))
                source.start()
                return (source, ServiceTablePeerDirectory(table: table))
            }.wait()
        }
        let server = RelayServer(host: host, configuration: configuration, clusterKeys: nodes?.1)
        try loop.flatSubmit { server.start() }.wait()
        if let access { printError("edgemesh relay \(name): node names bound to their Nodes' keys through \(access.origin)") }
        let bound = try loop.submit { server.localAddress }.wait()
        printError("edgemesh relay \(name): listening on \(bound.flatMap { NodeEndpoint($0)?.description } ?? listen)")
        try loop.makePromise(of: Void.self).futureResult.wait()
    }
}
