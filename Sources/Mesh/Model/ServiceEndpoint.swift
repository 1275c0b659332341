/// One backend address of a service, whichever object it came from (Endpoints or EndpointSlices).
///
/// The flattening functions return backends sorted by address, then ports, so tables, DNS
/// answers and load-balancer rings built from them never depend on the order objects arrived in.
public struct ServiceEndpoint: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var ip: String
    /// Port numbers by port name; the unnamed port of a single-port service is `""`.
    public var ports: [String: Int]
    public var nodeName: String?
    public var hostname: String?
    public var ready: Bool

    public init(ip: String, ports: [String: Int], nodeName: String? = nil, hostname: String? = nil, ready: Bool) {
        self.ip = ip
        self.ports = ports
        self.nodeName = nodeName
        self.hostname = hostname
        self.ready = ready
    }

    public func port(named name: String) -> Int? { ports[name] }

    /// The ports in name order, the form used for ordering and printing.
    public var sortedPorts: [(name: String, port: Int)] {
        ports.sorted { ($0.key, $0.value) < ($1.key, $1.value) }.map { (name: $0.key, port: $0.value) }
    }

    public static func < (lhs: ServiceEndpoint, rhs: ServiceEndpoint) -> Bool {
        if lhs.ip != rhs.ip { return lhs.ip < rhs.ip }
        let left = lhs.sortedPorts, right = rhs.sortedPorts
        for (l, r) in zip(left, right) where (l.name, l.port) != (r.name, r.port) {
            return (l.name, l.port) < (r.name, r.port)
        }
        if left.count != right.count { return left.count < right.count }
        // Identical address and ports: ready first, then the copy that names its node and
        // hostname (deduplication keeps the first), then by those names, so the order is total.
        if lhs.ready != rhs.ready { return lhs.ready }
        if (lhs.nodeName == nil) != (rhs.nodeName == nil) { return lhs.nodeName != nil }
        if (lhs.hostname == nil) != (rhs.hostname == nil) { return lhs.hostname != nil }
        return ((lhs.nodeName ?? ""), (lhs.hostname ?? "")) < ((rhs.nodeName ?? ""), (rhs.hostname ?? ""))
    }

    public var description: String {
        let portText = sortedPorts.map { "\($0.name)=\($0.port)" }.joined(separator: ",")
        return "\(ip)[\(portText)]\(ready ? "" : " not-ready")"
    }

    /// The backends of an Endpoints object. Not-ready addresses are left out unless asked for
    /// (a service with `publishNotReadyAddresses` wants them).
    public static func flatten(_ endpoints: Endpoints, includingNotReady: Bool = false) -> [ServiceEndpoint] {
        var result: [ServiceEndpoint] = []
        for subset in endpoints.subsets {
            let ports = portMap(subset.ports.map { ($0.name, $0.port) })
            for address in subset.addresses {
                result.append(ServiceEndpoint(address, ports: ports, ready: true))
            }
            if includingNotReady {
                for address in subset.notReadyAddresses {
                    result.append(ServiceEndpoint(address, ports: ports, ready: false))
                }
            }
        }
        return deduplicated(result)
    }

    /// The backends of all slices of one service. FQDN slices are skipped (they carry names,
    /// not addresses). An endpoint listed twice, as happens while slices are rebalanced,
    /// appears once, and counts as ready when any copy is ready.
    public static func flatten(
        _ slices: some Sequence<EndpointSlice>, includingNotReady: Bool = false
    ) -> [ServiceEndpoint] {
        var result: [ServiceEndpoint] = []
        for slice in slices where slice.addressType != .fqdn {
            let ports = portMap(slice.ports.compactMap { port in port.port.map { (port.name, $0) } })
            for endpoint in slice.endpoints {
                let ready = endpoint.conditions.ready
                guard ready || includingNotReady else { continue }
                for address in endpoint.addresses {
                    result.append(ServiceEndpoint(
                        ip: address, ports: ports, nodeName: endpoint.nodeName,
                        hostname: endpoint.hostname, ready: ready))
                }
            }
        }
        return deduplicated(result)
    }

    private init(_ address: Endpoints.Address, ports: [String: Int], ready: Bool) {
        self.init(ip: address.ip, ports: ports, nodeName: address.nodeName, hostname: address.hostname, ready: ready)
    }

    private static func portMap(_ ports: [(String?, Int)]) -> [String: Int] {
        var map: [String: Int] = [:]
        for (name, number) in ports where map[name ?? ""] == nil {
            map[name ?? ""] = number
        }
        return map
    }

    /// Sorts, then keeps the first (ready-preferring) copy of each address-and-ports pair.
    private static func deduplicated(_ endpoints: [ServiceEndpoint]) -> [ServiceEndpoint] {
        var result: [ServiceEndpoint] = []
        for endpoint in endpoints.sorted() {
            if let last = result.last, last.ip == endpoint.ip, last.ports == endpoint.ports { continue }
            result.append(endpoint)
        }
        return result
    }
}
