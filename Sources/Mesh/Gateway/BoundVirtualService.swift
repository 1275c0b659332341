/// A VirtualService as the gateway reads it: hosts parsed, gateway names resolved, routes
/// compiled (`GatewayHTTPRoute`).
struct BoundVirtualService {
    var key: ObjectKey
    var namespace: String
    var hosts: [HostPattern]
    var gateways: Set<ObjectKey>
    var http: [GatewayHTTPRoute]
    var tls: [TLSRoute]
    var tcp: [TCPRoute]

    /// A `tls` route: the connections whose server name (and port) one of its matches names.
    struct TLSRoute {
        struct Match {
            var serverNames: [HostPattern]
            var port: Int?

            func fits(serverName: String, port: UInt16) -> Bool {
                (self.port == nil || self.port == Int(port)) && serverNames.contains { $0.matches(serverName) }
            }
        }

        var name: String
        /// Any one fits; none means every connection of the servers it is bound to.
        var matches: [Match]
        var destinations: [GatewayDestination]

        func fits(serverName: String, port: UInt16) -> Bool {
            matches.isEmpty || matches.contains { $0.fits(serverName: serverName, port: port) }
        }
    }

    struct TCPRoute {
        var name: String
        /// The ports its matches name; empty means every port.
        var ports: [Int]
        var destinations: [GatewayDestination]
    }

    init(_ service: VirtualService, clusterDomain: String, problems: inout [String]) {
        key = service.key
        namespace = service.metadata.namespace
        hosts = service.spec.hosts.map(HostPattern.init)
        gateways = Set(service.spec.gateways.compactMap { name -> ObjectKey? in
            if name == "mesh" { return nil }
            if let slash = name.firstIndex(of: "/") {
                return ObjectKey(namespace: String(name[..<slash]), name: String(name[name.index(after: slash)...]))
            }
            return ObjectKey(namespace: service.metadata.namespace, name: name)
        })
        let namespace = self.namespace
        if !service.spec.unsupportedFields.isEmpty {
            problems.append("VirtualService \(service.key): \(service.spec.unsupportedFields.joined(separator: ", ")) not implemented by this gateway; ignored")
        }
        http = service.spec.http.enumerated().map { index, route in
            GatewayHTTPRoute(
                route, label: "VirtualService \(service.key) http[\(index)]", namespace: namespace, clusterDomain: clusterDomain,
                problems: &problems)
        }
        tls = Self.tlsRoutes(service, clusterDomain: clusterDomain, problems: &problems)
        tcp = Self.tcpRoutes(service, clusterDomain: clusterDomain, problems: &problems)
    }

    private static func tlsRoutes(_ service: VirtualService, clusterDomain: String, problems: inout [String]) -> [TLSRoute] {
        service.spec.tls.enumerated().compactMap { index, route in
            let label = "VirtualService \(service.key) tls[\(index)]"
            guard let usable = checkableMatches(route.match, label: label, unsupported: \.unsupportedFields, problems: &problems) else {
                return nil
            }
            return TLSRoute(
                name: label,
                matches: usable.map { TLSRoute.Match(serverNames: $0.sniHosts.map(HostPattern.init), port: $0.port) },
                destinations: destinations(route.route, namespace: service.metadata.namespace, clusterDomain: clusterDomain))
        }
    }

    private static func tcpRoutes(_ service: VirtualService, clusterDomain: String, problems: inout [String]) -> [TCPRoute] {
        service.spec.tcp.enumerated().compactMap { index, route in
            let label = "VirtualService \(service.key) tcp[\(index)]"
            guard let usable = checkableMatches(route.match, label: label, unsupported: \.unsupportedFields, problems: &problems) else {
                return nil
            }
            // A match without a port fits every port, as no match at all does.
            let ports = usable.contains { $0.port == nil } ? [] : usable.compactMap(\.port)
            return TCPRoute(
                name: label, ports: ports,
                destinations: destinations(route.route, namespace: service.metadata.namespace, clusterDomain: clusterDomain))
        }
    }

    /// The matches of an L4 route whose every condition the gateway can check, each other one
    /// reported; nil when the route had matches and none is checkable, so it takes nothing.
    private static func checkableMatches<Match>(
        _ matches: [Match], label: String, unsupported: KeyPath<Match, [String]>, problems: inout [String]
    ) -> [Match]? {
        for (index, match) in matches.enumerated() where !match[keyPath: unsupported].isEmpty {
            problems.append("\(label).match[\(index)]: \(match[keyPath: unsupported].joined(separator: ", ")) not implemented; the match fits no connection")
        }
        let usable = matches.filter { match in match[keyPath: unsupported].isEmpty }
        return !matches.isEmpty && usable.isEmpty ? nil : usable
    }

    /// A route's destinations with the weights Istio gives them, names read in `namespace`.
    static func destinations(
        _ route: [VirtualService.RouteDestination], namespace: String, clusterDomain: String
    ) -> [GatewayDestination] {
        zip(route, route.effectiveWeights).map { destination, weight in
            GatewayDestination(
                host: destination.destination.host,
                service: GatewayDestination.service(
                    named: destination.destination.host, inNamespace: namespace, clusterDomain: clusterDomain),
                port: destination.destination.port, weight: weight)
        }
    }
}
