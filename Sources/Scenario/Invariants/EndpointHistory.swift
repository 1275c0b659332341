/// What each agent's table let its node send each service to, over time: the record the safety
/// invariant judges answers by. A request may be answered by any backend its client's agent
/// held for the service at some moment while the request was open; any other backend means the
/// proxy sent it where the table did not say (or the path delivered it elsewhere).
public struct EndpointHistory: Sendable {
    /// Per node, per service key, the backend sets in time order (time in nanoseconds of the run).
    private var changes: [String: [String: [(at: UInt64, backends: Set<String>)]]] = [:]
    /// Per node, cluster IP to service key, as last seen.
    private var byClusterIP: [String: [String: String]] = [:]
    /// Per node, per service key, what its name resolved to in time order: nil while the
    /// table did not hold it (or held it as an ExternalName).
    private var names: [String: [String: [(at: UInt64, addresses: Set<String>?)]]] = [:]

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
        var held = names[node] ?? [:]
        let resolving = Dictionary(services.map { ($0.key, $0.nameAddresses) }, uniquingKeysWith: { first, _ in first })
        for key in Set(held.keys).union(resolving.keys).sorted() {
            let now = resolving[key] ?? nil
            if let last = held[key]?.last, last.addresses == now { continue }
            if held[key] == nil && now == nil { continue }
            held[key, default: []].append((time, now))
        }
        names[node] = held
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

    /// What the name of `service` could resolve to on `node` at some moment in `from...to`
    /// (a state that ends exactly at `from` counts: a change and an answer at the same instant
    /// are in either order), and whether the table held it for all of that time.
    public func nameAddresses(of service: String, on node: String, from: UInt64, to: UInt64) -> (addresses: Set<String>, heldThroughout: Bool, everHeld: Bool) {
        guard let history = names[node]?[service] else { return ([], false, false) }
        var addresses: Set<String> = []
        var heldThroughout = history.first.map { $0.at < from } ?? false
        var everHeld = false
        for (index, state) in history.enumerated() {
            let end = index + 1 < history.count ? history[index + 1].at : UInt64.max
            guard state.at <= to, end >= from else { continue }
            if let held = state.addresses {
                addresses.formUnion(held)
                everHeld = true
            } else {
                heldThroughout = false
            }
        }
        return (addresses, heldThroughout && everHeld, everHeld)
    }

    /// Whether `node`'s agent ever held `service`.
    public func knows(_ service: String, on node: String) -> Bool { changes[node]?[service] != nil }

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
