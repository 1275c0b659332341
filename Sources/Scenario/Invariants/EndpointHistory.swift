/// What each agent's table let its node send each service to, over time: the record the safety
/// invariant judges answers by. A request may be answered by any backend its client's agent
/// held for the service at some moment while the request was open; any other backend means the
/// proxy sent it where the table did not say (or the path delivered it elsewhere).
public struct EndpointHistory: Sendable {
    /// Per node, per service key, the backend sets in time order (time in nanoseconds of the run).
    private var changes: [String: [String: [(at: UInt64, backends: Set<String>)]]] = [:]
    /// Per node, cluster IP to service key, as last seen.
    private var byClusterIP: [String: [String: String]] = [:]

    public init() {}

    /// Notes the services the agent on `node` holds at `time` (after a table change, or when it
    /// starts); a service left out has no backends from then on.
    public mutating func note(_ services: [ServiceEndpointView], on node: String, at time: UInt64) {
        var table = changes[node] ?? [:]
        let present = Set(services.map(\.key))
        for service in services where table[service.key]?.last?.backends != service.backends {
            table[service.key, default: []].append((time, service.backends))
        }
        for (key, history) in table where !present.contains(key) && history.last?.backends.isEmpty == false {
            table[key]!.append((time, []))
        }
        changes[node] = table
        for service in services {
            if let ip = service.clusterIP { byClusterIP[node, default: [:]][ip] = service.key }
        }
    }

    /// The service a client on `node` reaches through `host` (a service name in any of the
    /// forms DNS answers for, or a cluster IP); nil for anything else (a node, an address).
    public func service(forTargetHost host: String, on node: String) -> String? {
        if let key = byClusterIP[node]?[host] { return key }
        let labels = host.split(separator: ".").map(String.init)
        guard let name = labels.first else { return nil }
        let namespace = labels.count >= 2 && labels[1] != "svc" ? labels[1] : "default"
        let key = "\(namespace)/\(name)"
        return changes[node]?[key] != nil ? key : nil
    }

    /// Every backend `node`'s agent held for `service` at some moment in `from...to`.
    public func backends(of service: String, on node: String, from: UInt64, to: UInt64) -> Set<String> {
        guard let history = changes[node]?[service] else { return [] }
        var allowed: Set<String> = []
        // The set in effect at `from` is the last one noted at or before it.
        let firstIndex = history.lastIndex { $0.at <= from } ?? 0
        for entry in history[firstIndex...] where entry.at <= to { allowed.formUnion(entry.backends) }
        return allowed
    }
}
