import NIOHTTP1

/// What the gateway role serves, read from the Gateways whose selector matches the gateway's
/// labels and the VirtualServices bound to them: the ports to listen on and, for each request,
/// where it goes. A value, rebuilt whenever the service table changes, so that a request is
/// decided by the objects in force when it arrived.
///
/// Precedence, where Istio leaves it open: servers on one port are merged when they speak the
/// same protocol, and the first Gateway by key keeps a port others declare with another one;
/// VirtualServices are tried in key order, each's routes in order, and the first route that
/// fits wins.
public struct GatewayRoutes {
    /// How a port's connections are served.
    public enum ServerProtocol: String, Hashable, Sendable {
        case http = "HTTP"
        /// HTTP after TLS is terminated with the server's credential (`tls.mode: SIMPLE`, or
        /// `MUTUAL`, where the client's certificate must chain to the credential's `ca.crt`).
        case https = "HTTPS"
        /// Bytes spliced to the destination of the port's `tcp` route.
        case tcp = "TCP"
        /// TLS passed through untouched (`tls.mode: PASSTHROUGH`): the ClientHello's server name
        /// chooses a `tls` route, and the connection is spliced to its destination.
        case tlsPassthrough = "TLS passthrough"
    }

    /// A port the gateway listens on, and the Gateway servers that declared it.
    public struct Listener: Hashable, Sendable {
        public var port: UInt16
        public var `protocol`: ServerProtocol
        public var servers: [BoundServer]
    }

    /// One Gateway server, with its hosts parsed.
    public struct BoundServer: Hashable, Sendable {
        public var gateway: ObjectKey
        public var hosts: [ServerHost]
        public var tls: Gateway.TLS?
        /// The Secret holding the server's certificate: `tls.credentialName` in the Gateway's namespace.
        public var credential: ObjectKey?

        /// Whether some host of the server may be bound by VirtualServices of `namespace`.
        func admits(_ namespace: String) -> Bool {
            hosts.contains { $0.admits(namespace) }
        }

        /// Whether the server serves `host` to VirtualServices of `namespace`.
        func serves(_ host: String, forNamespace namespace: String?) -> Bool {
            hosts.contains { $0.pattern.matches(host) && (namespace == nil || $0.admits(namespace!)) }
        }
    }

    /// A Gateway server's host: `[namespace/]host`, where the namespace (`*` any, `.` the
    /// Gateway's own) limits which VirtualServices may bind to it.
    public struct ServerHost: Hashable, Sendable {
        public var namespace: String?
        public var pattern: HostPattern

        init(_ text: String, gatewayNamespace: String) {
            if let slash = text.firstIndex(of: "/") {
                let namespace = String(text[..<slash])
                self.namespace = namespace == "*" ? nil : (namespace == "." ? gatewayNamespace : namespace)
                pattern = HostPattern(String(text[text.index(after: slash)...]))
            } else {
                namespace = nil
                pattern = HostPattern(text)
            }
        }

        func admits(_ virtualServiceNamespace: String) -> Bool {
            namespace == nil || namespace == virtualServiceNamespace
        }
    }

    /// Where one request (or connection) goes.
    public enum Decision: Equatable, Sendable {
        /// To one of its destinations, drawn by weight.
        case forward(ForwardedRequest)
        /// Answered by the gateway: a redirect, a direct response, a CORS preflight.
        case reply(LocalReply)
        /// A `301` to the same URL over https (the server's `tls.httpsRedirect`).
        case redirectToHTTPS
        /// A `404`, for the reason given.
        case notFound(String)
    }

    /// Where a connection to a TCP port goes.
    public enum StreamDecision: Hashable, Sendable {
        /// Spliced to one of these destinations, drawn by weight.
        case splice([GatewayDestination], route: String)
        case notFound(String)
    }

    /// A request a route forwards, as the backend is to get it.
    public struct ForwardedRequest: Equatable, Sendable {
        public var destinations: [GatewayDestination]
        /// The route's name, for logs and answers.
        public var route: String
        /// The request rewritten and with its headers edited by the route.
        public var head: HTTPRequestHead
        public var policy: HTTPExchangePolicy
        /// Where a copy of the request goes too, if the route mirrors.
        public var mirror: Mirror?
    }

    /// A route's `mirror`: the destination copies go to, and the share of requests copied.
    public struct Mirror: Hashable, Sendable {
        public var destination: GatewayDestination
        /// Percent of requests, 0 to 100.
        public var percentage: Double
    }

    /// The ports to listen on, by number.
    public private(set) var listeners: [UInt16: Listener] = [:]
    /// What was declared but cannot be served, in words, sorted.
    public private(set) var problems: [String] = []
    private var virtualServices: [BoundVirtualService] = []

    public init() {}

    /// The routes for a gateway labelled `labels`; `clusterDomain` qualifies destination names.
    public init(gateways: [Gateway], virtualServices: [VirtualService], labels: [String: String], clusterDomain: String) {
        var problems: [String] = []
        let selected = gateways.filter { $0.spec.selector.allSatisfy { labels[$0.key] == $0.value } }.sorted { $0.key < $1.key }
        for gateway in selected {
            for server in gateway.spec.servers {
                let label = "Gateway \(gateway.key) port \(server.port.number)"
                guard let port = UInt16(exactly: server.port.number), port > 0 else {
                    problems.append("\(label): not a port number")
                    continue
                }
                let serverProtocol: ServerProtocol
                switch Self.serverProtocol(server) {
                case .success(let served): serverProtocol = served
                case .failure(let problem):
                    problems.append("\(label): \(problem.reason)")
                    continue
                }
                let bound = BoundServer(
                    gateway: gateway.key,
                    hosts: server.hosts.map { ServerHost($0, gatewayNamespace: gateway.metadata.namespace) },
                    tls: server.tls,
                    credential: server.tls?.credentialName.map { ObjectKey(namespace: gateway.metadata.namespace, name: $0) })
                if let existing = listeners[port] {
                    guard existing.protocol == serverProtocol else {
                        problems.append(
                            "\(label): \(serverProtocol.rawValue) clashes with \(existing.protocol.rawValue) declared first "
                                + "by Gateway \(existing.servers[0].gateway); ignored")
                        continue
                    }
                    listeners[port]?.servers.append(bound)
                } else {
                    listeners[port] = Listener(port: port, protocol: serverProtocol, servers: [bound])
                }
            }
        }
        let selectedKeys = Set(selected.map(\.key))
        for service in virtualServices.sorted(by: { $0.key < $1.key }) {
            var ownProblems: [String] = []
            let bound = BoundVirtualService(service, clusterDomain: clusterDomain, problems: &ownProblems)
            // Only what this gateway serves is worth a complaint.
            guard !bound.gateways.isDisjoint(with: selectedKeys) else { continue }
            self.virtualServices.append(bound)
            problems += ownProblems
        }
        self.problems = problems.sorted()
    }

    /// The ports to listen on, ascending.
    public var ports: [UInt16] { listeners.keys.sorted() }

    private static func serverProtocol(_ server: Gateway.Server) -> Result<ServerProtocol, GatewayProblem> {
        switch server.port.normalizedProtocol {
        case "HTTP":
            return .success(.http)
        case "HTTPS", "TLS":
            let mode = server.tls?.mode ?? .passthrough
            if mode == .passthrough { return .success(.tlsPassthrough) }
            guard mode == .simple || mode == .mutual else {
                return .failure(GatewayProblem(
                    "\(server.port.normalizedProtocol) with tls.mode \(mode.rawValue) is not served (PASSTHROUGH is, and SIMPLE and MUTUAL for HTTPS)"))
            }
            guard server.port.normalizedProtocol == "HTTPS" else {
                return .failure(GatewayProblem("TLS with tls.mode \(mode.rawValue) is not served (PASSTHROUGH is; HTTPS ends TLS at the gateway)"))
            }
            guard server.tls?.credentialName != nil else {
                return .failure(GatewayProblem("HTTPS needs tls.credentialName, the kubernetes.io/tls Secret with its certificate"))
            }
            return .success(.https)
        case "TCP", "MONGO":
            return .success(.tcp)
        default:
            return .failure(GatewayProblem("protocol \(server.port.protocol) is not served by this gateway (HTTP, HTTPS, TLS, TCP)"))
        }
    }

    /// Where a request to `port` with this `Host` header and request target goes (a GET).
    public func decide(port: UInt16, hostHeader: String?, target: String) -> Decision {
        let scheme = listeners[port]?.protocol == .https ? "https" : "http"
        return decide(GatewayRequest(port: port, scheme: scheme, hostHeader: hostHeader, target: target))
    }

    /// Where `request` goes: the first route that fits, of the VirtualServices bound to a
    /// server of its port that serves its host.
    public func decide(_ request: GatewayRequest) -> Decision {
        let port = request.port
        guard let listener = listeners[port], listener.protocol == .http || listener.protocol == .https else {
            return .notFound("no HTTP server of a Gateway listens on port \(port)")
        }
        let host = request.host
        let servers = listener.servers.filter { $0.serves(host, forNamespace: nil) }
        guard !servers.isEmpty else {
            return .notFound("no Gateway server on port \(port) serves host \"\(host)\"")
        }
        if servers.contains(where: { $0.tls?.httpsRedirect == true }) { return .redirectToHTTPS }
        for service in virtualServices {
            guard service.hosts.contains(where: { $0.matches(host) }),
                servers.contains(where: { service.gateways.contains($0.gateway) && $0.serves(host, forNamespace: service.namespace) })
            else { continue }
            for route in service.http {
                if let match = route.match(for: request) { return route.decide(request, matchedBy: match) }
            }
        }
        return .notFound("no VirtualService route on port \(port) for host \"\(host)\" and path \"\(request.path)\"")
    }

    /// Where a connection to a TCP `port` goes: the first `tcp` route (VirtualServices in key
    /// order) bound to a Gateway declaring the port whose match names the port, or that has none.
    public func decideStream(port: UInt16) -> StreamDecision {
        guard let listener = listeners[port], listener.protocol == .tcp else {
            return .notFound("no TCP server of a Gateway listens on port \(port)")
        }
        for service in virtualServices {
            guard listener.servers.contains(where: { service.gateways.contains($0.gateway) && $0.admits(service.namespace) }) else {
                continue
            }
            if let route = service.tcp.first(where: { $0.ports.isEmpty || $0.ports.contains(Int(port)) }) {
                return .splice(route.destinations, route: route.name)
            }
        }
        return .notFound("no VirtualService tcp route for port \(port)")
    }

    /// Where a TLS connection to a passthrough `port` whose ClientHello names `serverName` goes:
    /// the first `tls` route (VirtualServices in key order) bound to a server of the port that
    /// serves the name, whose match names it. A ClientHello without a name fits no route.
    public func decidePassthrough(port: UInt16, serverName: String?) -> StreamDecision {
        guard let listener = listeners[port], listener.protocol == .tlsPassthrough else {
            return .notFound("no TLS passthrough server of a Gateway listens on port \(port)")
        }
        guard let serverName = serverName.map(HostPattern.normalized), !serverName.isEmpty else {
            return .notFound("the ClientHello to port \(port) names no server (SNI); passthrough routes by name")
        }
        let servers = listener.servers.filter { $0.serves(serverName, forNamespace: nil) }
        guard !servers.isEmpty else {
            return .notFound("no Gateway server on port \(port) serves \"\(serverName)\"")
        }
        for service in virtualServices {
            guard service.hosts.contains(where: { $0.matches(serverName) }),
                servers.contains(where: { service.gateways.contains($0.gateway) && $0.serves(serverName, forNamespace: service.namespace) })
            else { continue }
            if let route = service.tls.first(where: { $0.fits(serverName: serverName, port: port) }) {
                return .splice(route.destinations, route: route.name)
            }
        }
        return .notFound("no VirtualService tls route on port \(port) for \"\(serverName)\"")
    }
}
