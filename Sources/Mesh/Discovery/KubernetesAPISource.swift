import NIOCore

/// Keeps a `ServiceTable` in step with the API server: one list-watch reflector per kind of
/// object the table holds. A relist replaces the whole kind (objects deleted while the watch
/// was down disappear); each watch event upserts or deletes one object.
///
/// EndpointSlices are followed alongside Endpoints; the table prefers a service's slices when
/// it has any, and a server that does not serve slices (404) leaves the Endpoints in charge.
///
/// Confined to the host's event loop, like the table and the reflectors.
public final class KubernetesAPISource: @unchecked Sendable {
    public struct Options: Sendable {
        /// The kinds to follow. Secrets are left out by default: only a gateway needs them, and
        /// an edge node should not hold every secret of the cluster.
        public var kinds: [TableObjectKind]
        /// Follow one namespace only; nil follows all.
        public var namespace: String?
        public var backoff: RetryBackoff

        public init(
            kinds: [TableObjectKind] = TableObjectKind.allCases.filter { $0 != .secret }, namespace: String? = nil,
            backoff: RetryBackoff = RetryBackoff()
        ) {
            self.kinds = kinds
            self.namespace = namespace
            self.backoff = backoff
        }
    }

    public let client: KubernetesAPIClient
    public let table: ServiceTable
    public let options: Options
    private var reflectors: [any FollowedKind] = []

    public init(client: KubernetesAPIClient, table: ServiceTable, options: Options = Options()) {
        self.client = client
        self.table = table
        self.options = options
    }

    public func start() {
        if reflectors.isEmpty {
            reflectors = options.kinds.sorted().map(makeReflector(for:))
        }
        for reflector in reflectors { reflector.start() }
    }

    public func stop() {
        for reflector in reflectors { reflector.stop() }
    }

    /// Each followed kind's reflector status, in the table's kind order.
    public var statuses: [KubernetesReflectorStatus] { reflectors.map(\.status) }

    /// Whether every followed kind has been listed at least once (or is not served): the
    /// table then reflects the server, not only the offline snapshot.
    public var isSynced: Bool {
        !reflectors.isEmpty && reflectors.allSatisfy { $0.status.listCount > 0 || $0.status.phase == .notServed }
    }

    private func makeReflector(for kind: TableObjectKind) -> any FollowedKind {
        switch kind {
        case .service: follow(.services, kind, KubernetesObject.service)
        case .endpoints: follow(.endpoints, kind, KubernetesObject.endpoints)
        case .endpointSlice: follow(.endpointSlices, kind, KubernetesObject.endpointSlice)
        case .pod: follow(.pods, kind, KubernetesObject.pod)
        case .node: follow(.nodes, kind, KubernetesObject.node)
        // Only certificates: no other Secret of the cluster is ever sent to the node.
        case .secret: follow(.secrets, kind, KubernetesObject.secret, fieldSelector: "type=kubernetes.io/tls")
        case .destinationRule: follow(.destinationRules, kind, KubernetesObject.destinationRule)
        case .virtualService: follow(.virtualServices, kind, KubernetesObject.virtualService)
        case .gateway: follow(.gateways, kind, KubernetesObject.gateway)
        }
    }

    private func follow<Object: KubernetesAPIObject>(
        _ resource: KubernetesResource, _ kind: TableObjectKind, _ wrap: @escaping (Object) -> KubernetesObject,
        fieldSelector: String? = nil
    ) -> KubernetesReflector<Object> {
        let table = self.table
        return KubernetesReflector<Object>(
            client: client, resource: resource, namespace: options.namespace, fieldSelector: fieldSelector, backoff: options.backoff,
            onReplace: { objects in table.apply(.replaceAll(kind: kind, objects: objects.map(wrap))) },
            onEvent: { event in
                switch event {
                case .added(let object), .modified(let object): table.apply(.upsert(wrap(object)))
                case .deleted(let object): table.apply(.delete(wrap(object)))
                }
            })
    }
}

/// A reflector whatever its object type, so the source can hold one per kind.
private protocol FollowedKind {
    var status: KubernetesReflectorStatus { get }
    func start()
    func stop()
}

extension KubernetesReflector: FollowedKind {}
