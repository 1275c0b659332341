import Foundation
import LinuxBackend
import Logging
import Mesh
import NIOCore
import NIOPosix

/// One running agent on Linux: its event loop, host, `EdgeAgent`, service source and device,
/// started together and stopped in the reverse order, leaving nothing of the agent behind
/// (its snapshot excepted, which is the point of it).
final class AgentRunner: @unchecked Sendable {
    /// How long a clean stop may take before the agent gives up on it.
    static let stopTimeout = TimeAmount.seconds(10)

    let settings: AgentSettings
    let access: KubernetesAPIAccess?
    let device: LinkLocalDevice?
    private let group: MultiThreadedEventLoopGroup
    private let loop: EventLoop
    private let host: LinuxHost
    private var agent: EdgeAgent?
    private var manifestWatch: RepeatedTask?
    private var heapTrimmer: HeapTrimmer?

    init(settings: AgentSettings, access: KubernetesAPIAccess?, device: LinkLocalDevice?) {
        self.settings = settings
        self.access = access
        self.device = device
        group = LinuxEventLoops.makeGroup()
        loop = group.next()
        host = LinuxHost(
            name: settings.nodeName, eventLoop: loop, storeDirectory: settings.stateDirectory,
            interception: NftablesInterception(eventLoop: loop), logger: Logger(label: "edgemesh.agent"))
    }

    func start() throws {
        let name = settings.nodeName
        if let device { printError("edgemesh agent \(name): device \(device.name) holds \(device.address)/32") }
        let upstreams = try settings.upstreams.map { try SocketAddress(ipAddress: $0.host, port: Int($0.port)) }
        printError("edgemesh agent \(name): upstream DNS \(settings.upstreams.isEmpty ? "none" : settings.upstreams.map(\.description).joined(separator: ", ")) from \(settings.upstreamOrigin)")
        let configuration = EdgeAgent.Configuration(
            nodeName: name, listenAddress: settings.listenAddress, dnsPort: settings.dnsPort,
            clusterDomain: settings.clusterDomain, upstreamDNS: upstreams, dnsCacheTTL: settings.dnsCacheTTL, statusAddress: settings.statusAddress,
            tunnel: settings.tunnel, relays: settings.relays, gateway: settings.gateway, snapshotsSecrets: settings.snapshotsSecrets,
            socks5: settings.socks5, edgeCNI: settings.edgeCNI)
        let host = self.host
        let agent = try loop.submit { try EdgeAgent(host: host, configuration: configuration) }.wait()
        self.agent = agent
        // Parsing a large table leaves megabytes of freed heap behind; give them back after
        // (blocks from the mmap threshold up are returned whole; see MmapThreshold).
        MmapThreshold.pin()
        let trimmer = HeapTrimmer(eventLoop: loop)
        heapTrimmer = trimmer
        try loop.submit { _ = agent.table.subscribe { _ in trimmer.trimSoon() } }.wait()
        let restored = try loop.flatSubmit { agent.start() }.wait()
        printError("edgemesh agent \(name): snapshot \(restored)")
        switch settings.source {
        case .manifests(let path):
            try followManifests(path, agent: agent)
        case .kubernetesAPI:
            guard let access else { break }
            try loop.submit { agent.follow(access.makeClient(host: host)) }.wait()
            printError("edgemesh agent \(name): following the Kubernetes API through \(access.origin)")
        }
        if let directory = settings.cniConfigurationDirectory {
            let store = DirectoryStore(directory: directory, eventLoop: loop)
            try loop.submit { agent.writeCNIConfiguration(to: store) }.wait()
        }
        let addresses = try loop.submit { agent.dnsServer.localAddresses }.wait()
        printError("edgemesh agent \(name): DNS on " + addresses.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" }.joined(separator: ", "))
    }

    private func followManifests(_ path: String, agent: EdgeAgent) throws {
        let directory = ManifestDirectory(path: path)
        let contents = try directory.read()
        let revision = try loop.submit {
            agent.applyManifests(contents.files)
            return agent.table.revision
        }.wait()
        printError("edgemesh agent \(settings.nodeName): \(contents.files.count) manifest files read (table revision \(revision))")
        let logger = host.logger
        manifestWatch = directory.watch(on: loop) { result in
            switch result {
            case .success(let contents): agent.applyManifests(contents.files)
            case .failure(let error): logger.error("manifest directory \(path): \(error)")
            }
        }
    }

    /// Saves the snapshot, stops serving, removes the interception rules and the device, and
    /// shuts the loop down. Each step runs even when an earlier one failed; failures are printed.
    func stop() {
        let agent = self.agent, host = self.host, watch = manifestWatch, trimmer = heapTrimmer
        let stopped = loop.flatSubmit { () -> EventLoopFuture<Void> in
            watch?.cancel()
            trimmer?.cancel()
            let agentStopped = agent?.stop() ?? host.eventLoop.makeSucceededVoidFuture()
            return agentStopped.flatMapErrorThrowing { error in
                printError("edgemesh agent: stopping the agent: \(error)")
            }.flatMap {
                host.interception.removeAll()
            }
        }
        let bounded = loop.makePromise(of: Void.self)
        let timer = loop.scheduleTask(in: Self.stopTimeout) {
            bounded.fail(AgentSettingsError("the clean stop took longer than \(Self.stopTimeout.nanoseconds / 1_000_000_000) s"))
        }
        stopped.whenComplete { result in
            timer.cancel()
            bounded.completeWith(result)
        }
        do {
            try bounded.futureResult.wait()
        } catch {
            printError("edgemesh agent: removing interception rules: \(error)")
        }
        if let device {
            do { try device.remove() } catch { printError("edgemesh agent: \(error)") }
        }
        try? LinuxEventLoops.syncShutdown(group)
    }
}
