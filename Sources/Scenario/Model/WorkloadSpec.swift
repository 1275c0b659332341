import Mesh

/// A simulated application on a node: a server (a pod) or a client that sends requests.
public struct WorkloadSpec: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// Answers every HTTP/1.1 request with its pod name; over TLS when `tls` is given; with
        /// the status and after the delay `answer` says (a failing or slow replica).
        case httpServer(port: UInt16, podName: String, tls: ServerTLS? = nil, answer: HTTPServerWorkload.Answer = .init())
        /// Answers every gRPC call (HTTP/2 in clear text) with one message, its pod name.
        case grpcServer(port: UInt16, podName: String)
        case tcpEcho(port: UInt16)
        case udpEcho(port: UInt16)
        case webSocketEcho(port: UInt16)
        /// Sends requests to `targets` in turn (one new connection per request for TCP-based kinds).
        case client(ClientSpec)
        /// A public rendezvous that tells punching peers each other's observed addresses.
        case rendezvous(port: UInt16)
        /// Punches a hole to the punch peer named `peer` with the help of `rendezvous`.
        case punchPeer(PunchSpec)
        /// Plays the client flows of a field capture again, at their captured pace.
        case replay(ReplaySpec)
    }

    public struct ReplaySpec: Hashable, Sendable {
        /// The capture file, as the scenario names it.
        public var pcap: String
        /// The flows to play (already filtered by the scenario's `only`).
        public var flows: [ReplayFlow]
        /// Virtual time at which the capture's first packet is played.
        public var start: UInt64
        /// How long a flow waits for an answer after its last send.
        public var timeout: UInt64

        public init(pcap: String, flows: [ReplayFlow], start: UInt64, timeout: UInt64) {
            self.pcap = pcap
            self.flows = flows
            self.start = start
            self.timeout = timeout
        }
    }

    /// An HTTPS pod's certificate chain and key, from a `kubernetes.io/tls` Secret.
    public struct ServerTLS: Hashable, Sendable {
        /// The Secret they came from, `namespace/name`.
        public var secret: String
        public var certificateChainPEM: [UInt8]
        public var privateKeyPEM: [UInt8]

        public init(secret: String, certificateChainPEM: [UInt8], privateKeyPEM: [UInt8]) {
            self.secret = secret
            self.certificateChainPEM = certificateChainPEM
            self.privateKeyPEM = privateKeyPEM
        }
    }

    public struct ClientSpec: Hashable, Sendable {
        public enum ClientProtocol: String, Hashable, Sendable, CaseIterable {
            case http, https, tcp, udp, websocket
            /// A lookup of each target name at the node's agent.
            case dns
            /// HTTP on one kept-alive connection, each request with its own `X-Client-Key`.
            case httpKeepAlive = "http-keepalive"
            /// The same over one TLS connection, its certificate checked as `https` checks it.
            case httpsKeepAlive = "https-keepalive"
            /// Echo through a SOCKS5 node proxy (`proxy`) to a node's port, the target by name.
            case socks5
            /// gRPC calls on one kept HTTP/2 connection, as a gRPC channel makes them.
            case grpc
        }

        public var `protocol`: ClientProtocol
        /// "host:port" strings: an IPv4 address, a node name or a name the node's agent resolves
        /// (a service); bare names for `dns`.
        public var targets: [String]
        /// Virtual time of the first request, nanoseconds.
        public var start: UInt64
        public var interval: UInt64
        public var count: Int
        /// A request not answered within this time counts as failed.
        public var timeout: UInt64
        /// Bytes per request for echo kinds.
        public var payloadSize: Int
        /// The authorities an `https` client trusts (PEM), from the Secret named by `caSecret`.
        public var trustedPEM: [UInt8]?
        /// HTTP kinds: the `Host` header sent (a gateway's virtual host); nil sends the target.
        public var hostHeader: String?
        /// HTTP kinds: the request target.
        public var path: String
        /// `http` and `https`: keep the cookies responses set and send them back.
        public var keepsCookies: Bool
        /// `socks5`: the node proxy's "host:port".
        public var socksProxy: String?

        public init(
            protocol: ClientProtocol, targets: [String], start: UInt64, interval: UInt64, count: Int,
            timeout: UInt64, payloadSize: Int, trustedPEM: [UInt8]? = nil, hostHeader: String? = nil, path: String = "/",
            keepsCookies: Bool = false, socksProxy: String? = nil
        ) {
            self.socksProxy = socksProxy
            self.keepsCookies = keepsCookies
            self.hostHeader = hostHeader
            self.path = path
            self.trustedPEM = trustedPEM
            self.protocol = `protocol`
            self.targets = targets
            self.start = start
            self.interval = interval
            self.count = count
            self.timeout = timeout
            self.payloadSize = payloadSize
        }
    }

    public struct PunchSpec: Hashable, Sendable {
        public var transport: TransportKind
        /// "host:port" of the rendezvous workload.
        public var rendezvous: String
        /// The name of the other punch-peer workload.
        public var peer: String
        /// The local port to punch from.
        public var port: UInt16
        public var start: UInt64
        /// How long to keep trying before counting the punch as failed.
        public var timeout: UInt64

        public init(transport: TransportKind, rendezvous: String, peer: String, port: UInt16, start: UInt64, timeout: UInt64) {
            self.transport = transport
            self.rendezvous = rendezvous
            self.peer = peer
            self.port = port
            self.start = start
            self.timeout = timeout
        }
    }

    public enum TransportKind: String, Hashable, Sendable, CaseIterable {
        case udp, tcp
    }

    public var name: String
    public var node: String
    public var kind: Kind

    public init(name: String, node: String, kind: Kind) {
        self.name = name
        self.node = node
        self.kind = kind
    }
}
