import ArgumentParser
import Foundation
import LinuxBackend
import Logging
import Mesh
import NIOCore

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent: service table, offline snapshot, and the edge DNS server.",
        discussion: """
            Services come from one source: --manifests DIR (watched for changes), or the Kubernetes \
            API as EdgeMesh reaches it: the node's metaServer (edge mode, the default: \
            http://127.0.0.1:10550), --in-cluster (service-account token and CA), --kubeconfig FILE, \
            or --master URL. --config reads EdgeMesh's edgemesh-agent.yaml (kubeAPIConfig, \
            commonConfig, modules.edgeDNS); flags win over the file. \
            The agent keeps a snapshot in --state-dir so a restart answers at once, and serves cluster \
            DNS on --listen-ip:--dns-port. When the listen address is on no interface, the agent \
            creates a bridge (--device-name, default edgemesh0) holding it, and deletes it on \
            SIGTERM/SIGINT, after saving the snapshot and removing its interception rules. \
            With --gateway the node is also the ingress gateway (EdgeMesh's edgemesh-gateway, as a \
            role of the agent since it needs the agent's table, proxy and tunnel): it listens on \
            the ports of the Istio Gateways whose selector matches its labels (--gateway-label, \
            default kubeedge=edgemesh-gateway) and routes each request by the VirtualServices bound \
            to them to a service, on this node or across the tunnel.
            """
    )

    @Option(help: "This node's name, as Kubernetes knows it (default: $NODE_NAME).")
    var nodeName: String?

    @Option(help: "EdgeMesh's agent config file (edgemesh-agent.yaml).")
    var config: String?

    @Option(help: "A directory of Kubernetes manifests (YAML or JSON), watched for changes.")
    var manifests: String?

    @Option(help: "A kubeconfig file; its current context says how to reach the API server.")
    var kubeconfig: String?

    @Option(help: "The API server URL (http or https).")
    var master: String?

    @Option(help: "KubeEdge's metaServer URL (edge mode).")
    var metaServer: String?

    @Flag(help: "Reach the API server as a pod does: KUBERNETES_SERVICE_HOST/PORT, service-account token and CA.")
    var inCluster = false

    @Option(help: "The address the agent's DNS listens on (default: commonConfig.bridgeDeviceIP or 169.254.96.16).")
    var listenIP: String?

    @Option(help: "The bridge created to hold the listen address when no interface has it.")
    var deviceName: String?

    @Option(help: "The DNS port (default: modules.edgeDNS.listenPort or 53).")
    var dnsPort: UInt16?

    @Option(help: "Where the offline snapshot is kept.")
    var stateDir: String = "/var/lib/edgemesh"

    @Option(help: "The cluster's DNS domain.")
    var clusterDomain: String = "cluster.local"

    @Option(help: "An upstream DNS server (ip or ip:port) for names outside the cluster; repeatable. Default: cacheDNS.upstreamServers, else the nameservers in --resolv-conf.")
    var upstreamDNS: [String] = []

    @Option(help: "Where GET /metrics (Prometheus) and /status (for `edgemesh status`) are served; \"off\" serves neither.")
    var statusAddress: String = "127.0.0.1:10551"

    @Option(help: "The cluster's pre-shared key file (EdgeMesh's psk): enables the tunnel to other nodes' agents.")
    var pskFile: String?

    @Option(help: "The tunnel's port (listened on, and dialed on peers).")
    var tunnelPort: UInt16 = 20006

    @Option(help: "The interfaces the tunnel listens on and announces (EdgeMesh's listenInterfaces): a comma list, or * for all.")
    var tunnelListenInterfaces: String?

    @Option(help: "Interfaces the tunnel never listens on, besides docker*, edgemesh*, tunl*, flannel*, cni*, br* and kube-ipvs* (EdgeMesh's extraFilteredInterfaces).")
    var tunnelExtraFilteredInterfaces: String?

    @Option(help: "A relay (ip:port) to keep a reservation on, for relayed paths and hole punching; repeatable.")
    var relay: [String] = []

    @Flag(help: "Also serve as the ingress gateway for Istio Gateways selecting this node's gateway labels.")
    var gateway = false

    @Option(help: "A gateway label (key=value) Gateways' selectors match; repeatable. Default: kubeedge=edgemesh-gateway.")
    var gatewayLabel: [String] = []

    @Flag(help: "With --gateway: keep the Gateways' certificates (their credentialName Secrets) in the offline snapshot, so HTTPS is served after a restart without the cloud. Off: no secret is written to disk.")
    var snapshotSecrets = false

    @Option(help: "The interfaces whose addresses the gateway's ports are opened on (EdgeMesh's nic): a comma list, or * for all. Addresses that come and go are followed.")
    var gatewayNic: String?

    @Option(help: "Only these addresses or networks (a.b.c.d or a.b.c.d/n, comma list; * for all) get the gateway's ports (EdgeMesh's includeIP).")
    var gatewayIncludeIp: String?

    @Option(help: "Never these addresses or networks (comma list) (EdgeMesh's excludeIP).")
    var gatewayExcludeIp: String?

    @Flag(help: "Serve the SOCKS5 node proxy (EdgeMesh's socks5Proxy): CONNECT NODE_NAME:PORT reaches that port of that node through the tunnel, and peers' proxies may reach the allowed ports of this node.")
    var socks5 = false

    @Option(help: "The SOCKS5 node proxy's port, on the agent's listen address (default 10800).")
    var socks5Port: UInt16?

    @Option(help: "The address the SOCKS5 node proxy listens on (default: the agent's listen address).")
    var socks5Address: String?

    @Option(help: "A node port the SOCKS5 node proxy connects to; repeatable. Default: 22.")
    var socks5AllowedPort: [UInt16] = []

    @Option(help: "A file holding \"username:password\": SOCKS5 clients must give them (RFC 1929).")
    var socks5Credentials: String?

    @Flag(help: "Turn on the edge CNI (EdgeMesh's edgeCNI.enable): pod IPs of every node mapped to their node, from Node.spec.podCIDR or the mesh CIDR pools.")
    var edgeCni = false

    @Option(help: "Networks cloud nodes' pods take their IPs from (EdgeMesh's meshCIDRConfig.cloudCIDR), comma list: a node without spec.podCIDR gets a block of them.")
    var cloudCidr: String?

    @Option(help: "Networks edge nodes' pods take their IPs from (EdgeMesh's meshCIDRConfig.edgeCIDR), comma list.")
    var edgeCidr: String?

    @Option(help: "The prefix length of the block each node gets from the pools (as kube-controller-manager's --node-cidr-mask-size; default 24).")
    var nodeCidrMaskSize: Int?

    @Option(help: "With the edge CNI, where the agent writes the node's CNI network configuration (\(CNINetworkConfiguration.fileName): the bridge and host-local plugins over its pod network) for the container runtime; empty for nowhere.")
    var cniConfDir: String = "/etc/cni/net.d"

    @Option(help: "The resolver file upstreams are taken from when none are configured.")
    var resolvConf: String = ResolvConf.defaultPath

    @Flag(help: "Print the effective settings and exit.")
    var printConfig = false

    func run() throws {
        // Before any thread exists, so that every thread inherits the unblocked signal mask.
        let stopRequested = StopRequest()
        let signals = AgentStopSignal.install { stopRequested.fire($0) }
        defer { withExtendedLifetime(signals) {} }

        let settings = try AgentSettings(self, environment: ProcessInfo.processInfo.environment)
        if printConfig {
            print(settings.description)
            return
        }
        let access: KubernetesAPIAccess?
        if case .kubernetesAPI(let configuration) = settings.source { access = try KubernetesAPIAccess.load(configuration) } else { access = nil }

        if let limit = OpenFileLimit.raiseToHardLimit() {
            printError("edgemesh agent \(settings.nodeName): open file limit \(limit)")
        }
        let device = try settings.device.map { try LinkLocalDevice.create(name: $0, address: settings.listenAddress) }
        let runner = AgentRunner(settings: settings, access: access, device: device)
        do { try runner.start() } catch {
            runner.stop()
            throw error
        }
        let signal = stopRequested.wait()
        printError("edgemesh agent \(settings.nodeName): \(signal == SIGTERM ? "SIGTERM" : "SIGINT"), stopping")
        runner.stop()
        printError("edgemesh agent \(settings.nodeName): stopped")
    }
}
