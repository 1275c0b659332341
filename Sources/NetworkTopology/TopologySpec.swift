import Mesh

/// The shape of a simulated network: LANs joined by routers into a tree whose root is the
/// public internet. A router connects its inside network to an upstream network and may NAT;
/// a NATed LAN behind another NATed LAN is double NAT.
public struct TopologySpec: Hashable, Sendable {
    public struct Network: Hashable, Sendable {
        public var name: String
        public var subnet: IPv4Prefix
        /// The router whose inside this network is; `nil` only for the root (the internet).
        public var router: String?
        /// Part of "the cloud" (the Kubernetes control plane's side), for the cloud-unreachable fault.
        public var isCloud: Bool

        public init(name: String, subnet: IPv4Prefix, router: String? = nil, isCloud: Bool = false) {
            self.name = name
            self.subnet = subnet
            self.router = router
            self.isCloud = isCloud
        }
    }

    public struct Router: Hashable, Sendable {
        public var name: String
        /// The network the router's WAN side is on.
        public var upstream: String
        /// The WAN address; the next free address of the upstream subnet when `nil`.
        public var address: IPv4Address?
        /// The LAN address; the first address of the inside subnet when `nil`.
        public var insideAddress: IPv4Address?
        /// `nil` for a plain router that forwards without translation.
        public var nat: NATConfiguration?
        /// The WAN link (router to upstream network and back).
        public var link: LinkSpec

        public init(
            name: String, upstream: String, address: IPv4Address? = nil, insideAddress: IPv4Address? = nil,
            nat: NATConfiguration? = nil, link: LinkSpec = .ideal
        ) {
            self.name = name
            self.upstream = upstream
            self.address = address
            self.insideAddress = insideAddress
            self.nat = nat
            self.link = link
        }
    }

    public struct Node: Hashable, Sendable {
        public var name: String
        public var network: String
        /// The node's address; the next free address of its network when `nil`.
        public var address: IPv4Address?
        /// The node's access link to its network.
        public var link: LinkSpec
        /// How late the host reacts to a packet that reached it: each arriving packet is handed
        /// to its stack up to this long after it arrived (drawn per packet, arrival order kept),
        /// as interrupts and scheduling delay a real machine's processes. Zero is an ideal host
        /// whose peers, given the same timers, act at the same instant; two real hosts never do.
        public var hostJitter: UInt64
        /// More addresses of the node in its network, each on a named interface (`eth1` for a
        /// second NIC on the same LAN, `eth0` for an alias of the first): what multi-NIC
        /// listening chooses among.
        public var secondaryAddresses: [SecondaryAddress]
        /// The node's pod network (its pod CIDR): a network of its own behind it, on which the
        /// node holds the first address (the bridge, `cni0`) and routes for its pods. `nil`
        /// for a node without pods of their own.
        public var podNetwork: IPv4Prefix?
        /// Pods with addresses of their own on `podNetwork`, each a host of its own.
        public var pods: [Pod]

        /// A pod on the node's pod network.
        public struct Pod: Hashable, Sendable {
            public var name: String
            /// The pod's IP; the next free address of the pod network when `nil`.
            public var address: IPv4Address?

            public init(name: String, address: IPv4Address? = nil) {
                self.name = name
                self.address = address
            }
        }

        /// An address besides the node's own, and the interface that holds it.
        public struct SecondaryAddress: Hashable, Sendable {
            public var interface: String
            public var address: IPv4Address

            public init(interface: String, address: IPv4Address) {
                self.interface = interface
                self.address = address
            }
        }

        public init(
            name: String, network: String, address: IPv4Address? = nil, link: LinkSpec = .ideal, hostJitter: UInt64 = 0,
            secondaryAddresses: [SecondaryAddress] = [], podNetwork: IPv4Prefix? = nil, pods: [Pod] = []
        ) {
            self.name = name
            self.network = network
            self.address = address
            self.link = link
            self.hostJitter = hostJitter
            self.secondaryAddresses = secondaryAddresses
            self.podNetwork = podNetwork
            self.pods = pods
        }
    }

    public var networks: [Network]
    public var routers: [Router]
    public var nodes: [Node]

    public init(networks: [Network] = [], routers: [Router] = [], nodes: [Node] = []) {
        self.networks = networks
        self.routers = routers
        self.nodes = nodes
    }

    /// The node whose pod network holds the pod named `name`, if one does.
    public func node(runningPod name: String) -> Node? {
        nodes.first { node in node.pods.contains { $0.name == name } }
    }
}
