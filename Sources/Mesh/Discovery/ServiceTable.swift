import NIOCore

/// The agent's view of the cluster: the services it proxies and everything DNS, the proxy and
/// the gateway look up about them.
///
/// Confined to one event loop (the host's): every method must be called on it, and change-feed
/// handlers run on it. Not `Sendable` for that reason.
///
/// Every query returns a deterministic answer (lists sorted by key or address), whatever order
/// the objects arrived in and whatever the process's hash seed.
public final class ServiceTable {
    public let eventLoop: EventLoop
    /// Decides which services are kept; one that is not admitted is treated as absent.
    public let filter: ServiceFilter
    /// The cluster DNS domain (`cluster.local` unless configured), for qualified Istio hosts.
    public let clusterDomain: String
    /// Incremented once for every applied change that changed something.
    public private(set) var revision: UInt64 = 0

    private var objects: [TableObjectKind: [ObjectKey: KubernetesObject]] = [:]
    private var servicesByClusterIP: [String: Set<ObjectKey>] = [:]
    private var podsByIP: [String: Set<ObjectKey>] = [:]
    /// Slice keys per service key, from each slice's `kubernetes.io/service-name` label.
    private var slicesByService: [ObjectKey: Set<ObjectKey>] = [:]
    private var subscribers: [(id: UInt64, handler: (TableChangeSummary) -> Void)] = []
    private var nextSubscriberID: UInt64 = 0

    public init(eventLoop: EventLoop, filter: ServiceFilter = .default, clusterDomain: String = "cluster.local") {
        self.eventLoop = eventLoop
        self.filter = filter
        self.clusterDomain = Self.normalizedHost(clusterDomain)
    }

    // MARK: Applying changes

    /// Applies `change`; notifies subscribers and returns the summary when something changed,
    /// returns nil (and notifies no one) when the table already held exactly that.
    @discardableResult
    public func apply(_ change: TableChange) -> TableChangeSummary? {
        eventLoop.preconditionInEventLoop()
        var changes: [TableObjectChange] = []
        var affected: Set<ObjectKey> = []
        switch change {
        case .upsert(let object):
            guard let kind = TableObjectKind(of: object), let key = object.tableKey else { return nil }
            if let done = set(kind, key, to: admitted(object), affecting: &affected) { changes.append(done) }
        case .delete(let object):
            guard let kind = TableObjectKind(of: object), let key = object.tableKey else { return nil }
            if let done = set(kind, key, to: nil, affecting: &affected) { changes.append(done) }
        case .replaceAll(let kind, let replacements):
            var desired: [ObjectKey: KubernetesObject] = [:]
            for object in replacements where TableObjectKind(of: object) == kind {
                guard let key = object.tableKey else { continue }
                desired[key] = admitted(object)
            }
            let keys = Set(desired.keys).union(objects[kind].map { Array($0.keys) } ?? []).sorted()
            for key in keys {
                if let done = set(kind, key, to: desired[key], affecting: &affected) { changes.append(done) }
            }
        }
        guard !changes.isEmpty else { return nil }
        revision += 1
        let summary = TableChangeSummary(
            revision: revision, changes: changes.sorted(), affectedServices: affected.sorted())
        notify(summary)
        return summary
    }

    /// A service the filter rejects is stored as nothing, so it disappears if it was there. So
    /// is a Secret of any type but `kubernetes.io/tls`: the gateway's certificates are the only
    /// secrets the mesh uses, and it holds no others.
    private func admitted(_ object: KubernetesObject) -> KubernetesObject? {
        switch object {
        case .service(let service) where !filter.admits(service): return nil
        case .secret(let secret) where secret.type != Secret.tlsType: return nil
        default: return object
        }
    }

    /// Stores `new` (nil removes) under `kind`/`key`, keeping the indexes in step. Returns what
    /// happened, or nil when the stored value was already `new`.
    private func set(
        _ kind: TableObjectKind, _ key: ObjectKey, to new: KubernetesObject?, affecting affected: inout Set<ObjectKey>
    ) -> TableObjectChange? {
        let old = objects[kind]?[key]
        guard old != new else { return nil }
        if let old { unindex(old, key: key, affecting: &affected) }
        if let new { index(new, key: key, affecting: &affected) }
        objects[kind, default: [:]][key] = new
        let action: TableObjectChange.Action = old == nil ? .added : (new == nil ? .removed : .updated)
        return TableObjectChange(kind: kind, key: key, action: action)
    }

    private func index(_ object: KubernetesObject, key: ObjectKey, affecting affected: inout Set<ObjectKey>) {
        switch object {
        case .service(let service):
            affected.insert(key)
            for ip in service.spec.allocatedClusterIPs { servicesByClusterIP[ip, default: []].insert(key) }
        case .endpoints:
            affected.insert(key)
        case .endpointSlice(let slice):
            if let service = slice.serviceKey {
                affected.insert(service)
                slicesByService[service, default: []].insert(key)
            }
        case .pod(let pod):
            for ip in pod.status.allPodIPs { podsByIP[ip, default: []].insert(key) }
        default:
            break
        }
    }

    private func unindex(_ object: KubernetesObject, key: ObjectKey, affecting affected: inout Set<ObjectKey>) {
        switch object {
        case .service(let service):
            affected.insert(key)
            for ip in service.spec.allocatedClusterIPs { Self.remove(key, at: ip, from: &servicesByClusterIP) }
        case .endpoints:
            affected.insert(key)
        case .endpointSlice(let slice):
            if let service = slice.serviceKey {
                affected.insert(service)
                Self.remove(key, at: service, from: &slicesByService)
            }
        case .pod(let pod):
            for ip in pod.status.allPodIPs { Self.remove(key, at: ip, from: &podsByIP) }
        default:
            break
        }
    }

    private static func remove<Index: Hashable>(_ key: ObjectKey, at index: Index, from map: inout [Index: Set<ObjectKey>]) {
        map[index]?.remove(key)
        if map[index]?.isEmpty == true { map[index] = nil }
    }

    // MARK: Change feed

    /// A registration on the change feed; `cancel()` stops further calls. Dropping it does not
    /// cancel, so a subscriber may keep no reference.
    public final class Subscription {
        private weak var table: ServiceTable?
        private let id: UInt64

        fileprivate init(table: ServiceTable, id: UInt64) {
            self.table = table
            self.id = id
        }

        public func cancel() {
            table?.unsubscribe(id)
        }
    }

    /// Calls `handler` on the loop after every applied change that changed something, with what
    /// changed. Handlers run in the order they subscribed.
    @discardableResult
    public func subscribe(_ handler: @escaping (TableChangeSummary) -> Void) -> Subscription {
        eventLoop.preconditionInEventLoop()
        nextSubscriberID += 1
        subscribers.append((nextSubscriberID, handler))
        return Subscription(table: self, id: nextSubscriberID)
    }

    private func unsubscribe(_ id: UInt64) {
        eventLoop.preconditionInEventLoop()
        subscribers.removeAll { $0.id == id }
    }

    private func notify(_ summary: TableChangeSummary) {
        // Iterates a copy, but skips a handler cancelled by an earlier one in this round.
        for subscriber in subscribers where subscribers.contains(where: { $0.id == subscriber.id }) {
            subscriber.handler(summary)
        }
    }

    // MARK: Queries

    /// Every object of `kind`, sorted by key.
    public func objects(of kind: TableObjectKind) -> [KubernetesObject] {
        eventLoop.preconditionInEventLoop()
        guard let stored = objects[kind] else { return [] }
        return stored.keys.sorted().map { stored[$0]! }
    }

    /// How many objects of `kind` the table holds.
    public func count(of kind: TableObjectKind) -> Int {
        objects[kind]?.count ?? 0
    }

    private func object(_ kind: TableObjectKind, _ key: ObjectKey) -> KubernetesObject? {
        eventLoop.preconditionInEventLoop()
        return objects[kind]?[key]
    }

    public func service(_ key: ObjectKey) -> Service? {
        guard case .service(let service) = object(.service, key) else { return nil }
        return service
    }

    /// All admitted services (ClusterIP, headless, NodePort, ExternalName), sorted by key.
    public var services: [Service] {
        objects(of: .service).compactMap(\.serviceValue)
    }

    /// The service that owns `clusterIP`. Should two claim it (never in a healthy cluster),
    /// the one with the smallest key answers.
    public func service(clusterIP: String) -> Service? {
        eventLoop.preconditionInEventLoop()
        return servicesByClusterIP[clusterIP]?.min().flatMap(service(_:))
    }

    /// The service's backends, sorted: from its EndpointSlices when it has any (they are what
    /// current clusters maintain), else from its Endpoints. Not-ready backends are left out
    /// unless the service publishes them. Empty for a service the table does not hold.
    public func endpoints(of key: ObjectKey) -> [ServiceEndpoint] {
        guard let service = service(key) else { return [] }
        let includeNotReady = service.spec.publishNotReadyAddresses
        let slices = endpointSlices(ofService: key)
        if !slices.isEmpty {
            return ServiceEndpoint.flatten(slices, includingNotReady: includeNotReady)
        }
        guard case .endpoints(let endpoints) = object(.endpoints, key) else { return [] }
        return ServiceEndpoint.flatten(endpoints, includingNotReady: includeNotReady)
    }

    /// The slices labelled for this service, sorted by key.
    public func endpointSlices(ofService key: ObjectKey) -> [EndpointSlice] {
        eventLoop.preconditionInEventLoop()
        return (slicesByService[key] ?? []).sorted().compactMap { objects[.endpointSlice]?[$0]?.endpointSliceValue }
    }

    public func pod(_ key: ObjectKey) -> Pod? {
        guard case .pod(let pod) = object(.pod, key) else { return nil }
        return pod
    }

    /// The pod with this IP. A finished pod's IP can be reused by a new one, so a pod that is
    /// not Succeeded or Failed wins; then the smallest key.
    public func pod(ip: String) -> Pod? {
        eventLoop.preconditionInEventLoop()
        let candidates = (podsByIP[ip] ?? []).sorted().compactMap(pod(_:))
        return candidates.first { ![.succeeded, .failed].contains($0.status.phase) } ?? candidates.first
    }

    public var pods: [Pod] {
        objects(of: .pod).compactMap(\.podValue)
    }

    public func node(named name: String) -> Node? {
        guard case .node(let node) = object(.node, ObjectKey(namespace: "", name: name)) else { return nil }
        return node
    }

    public var nodes: [Node] {
        objects(of: .node).compactMap(\.nodeValue)
    }

    public func secret(_ key: ObjectKey) -> Secret? {
        guard case .secret(let secret) = object(.secret, key) else { return nil }
        return secret
    }

    public func destinationRule(_ key: ObjectKey) -> DestinationRule? {
        guard case .destinationRule(let rule) = object(.destinationRule, key) else { return nil }
        return rule
    }

    public var destinationRules: [DestinationRule] {
        objects(of: .destinationRule).compactMap(\.destinationRuleValue)
    }

    public func virtualService(_ key: ObjectKey) -> VirtualService? {
        guard case .virtualService(let service) = object(.virtualService, key) else { return nil }
        return service
    }

    public var virtualServices: [VirtualService] {
        objects(of: .virtualService).compactMap(\.virtualServiceValue)
    }

    public func gateway(_ key: ObjectKey) -> Gateway? {
        guard case .gateway(let gateway) = object(.gateway, key) else { return nil }
        return gateway
    }

    public var gateways: [Gateway] {
        objects(of: .gateway).compactMap(\.gatewayValue)
    }

    /// The DestinationRule that applies to the service `key`.
    ///
    /// A rule whose `spec.host` names the service wins: the short name `svc` (read in the
    /// rule's own namespace, as Istio does), or `svc.ns`, `svc.ns.svc`, `svc.ns.svc.<domain>`.
    /// Failing that, a rule in the service's namespace with the service's name applies, which
    /// is how EdgeMesh pairs them. Among several matches: a host match in the service's
    /// namespace, then any host match, then by key.
    public func destinationRule(forService key: ObjectKey) -> DestinationRule? {
        eventLoop.preconditionInEventLoop()
        let name = key.name.lowercased(), namespace = key.namespace.lowercased()
        let qualified: Set<String> = [
            "\(name).\(namespace)", "\(name).\(namespace).svc", "\(name).\(namespace).svc.\(clusterDomain)",
        ]
        var best: (rank: Int, key: ObjectKey, rule: DestinationRule)?
        for case .destinationRule(let rule) in (objects[.destinationRule] ?? [:]).values {
            let host = Self.normalizedHost(rule.spec.host)
            let sameNamespace = rule.metadata.namespace == key.namespace
            let rank: Int
            if (host == name && sameNamespace) || (qualified.contains(host) && sameNamespace) {
                rank = 0
            } else if qualified.contains(host) {
                rank = 1
            } else if sameNamespace && rule.metadata.name == key.name {
                rank = 2
            } else {
                continue
            }
            // (rank, key) is a total order, so the dictionary's iteration order cannot matter.
            if best == nil || (rank, rule.key) < (best!.rank, best!.key) { best = (rank, rule.key, rule) }
        }
        return best?.rule
    }

    /// Lower-cased, without a trailing dot: how DNS names compare.
    private static func normalizedHost(_ host: String) -> String {
        var host = host.lowercased()
        while host.hasSuffix(".") { host.removeLast() }
        return host
    }
}
