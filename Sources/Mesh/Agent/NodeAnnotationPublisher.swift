import Logging
import NIOCore

/// Publishes annotations of this node where other agents look for them, on its own Node object,
/// written with a JSON merge patch (RBAC verb `patch` on nodes): the tunnel public key
/// (`edgemesh.io/tunnel-public-key`), and the edge CNI's allocated pod network
/// (`edgemesh.io/pod-cidr`, which pins the block for good). It keeps them there: when the
/// agent's own watch shows one missing or different (someone edited the Node), it patches again.
///
/// A failed patch is retried with the capped, jittered backoff: soon when the API server is
/// unreachable (so the value goes out as soon as the cloud is back), at the cap when the cluster
/// refused it (403, 404, 422), in case someone fixes the ClusterRole or registers the node.
///
/// Not for manifests mode: there the Node comes from a file and nothing can be patched.
/// Confined to the host's event loop, like the table it watches.
public final class NodeAnnotationPublisher: @unchecked Sendable {
    public enum State: Hashable, Sendable, CustomStringConvertible {
        case idle
        /// A patch is on its way; `previousFailure` says why the one before failed, if it did.
        case publishing(previousFailure: String?)
        /// The server stored the key; its answer had this resource version.
        case published(resourceVersion: String?)
        /// The last attempt failed for `reason`; the next one starts after `delay`.
        case retrying(reason: String, delay: TimeAmount)
        case stopped

        public var description: String {
            switch self {
            case .idle: "not yet published"
            case .publishing(nil): "publishing"
            case .publishing(let reason?): "not published: \(reason); retrying now"
            case .published(let version): "published (resourceVersion \(version ?? "unknown"))"
            case .retrying(let reason, let delay): "not published: \(reason); retrying in \(delay.nanoseconds / 1_000_000_000) s"
            case .stopped: "stopped"
            }
        }
    }

    /// What the agent's ClusterRole must grant for this: the RBAC verb, on `resource`.
    public static let requiredVerb = "patch"
    public static let resource = KubernetesResource.nodes

    public let client: KubernetesAPIClient
    public let nodeName: String
    /// The annotations kept on the Node, by key.
    public let annotations: [String: String]
    /// What they are, for the log ("tunnel key", "pod network").
    public let subject: String
    public let backoff: RetryBackoff
    public private(set) var state: State = .idle
    /// Patches the server accepted (the first publication and every repair).
    public private(set) var publications = 0
    /// Called on every state change, for logs and tests.
    public var onStateChange: ((State) -> Void)?

    private let table: ServiceTable
    private var subscription: ServiceTable.Subscription?
    private var retry: Scheduled<Void>?
    private var failedAttempts = 0
    /// Bumped by `stop`, so answers to an abandoned patch do nothing.
    private var generation = 0

    private var host: any Host { client.host }

    public init(
        client: KubernetesAPIClient, table: ServiceTable, nodeName: String, annotations: [String: String], subject: String,
        backoff: RetryBackoff = RetryBackoff()
    ) {
        self.client = client
        self.table = table
        self.nodeName = nodeName
        self.annotations = annotations
        self.subject = subject
        self.backoff = backoff
    }

    /// Keeps the tunnel's public key on the Node, where peers look for it.
    public convenience init(
        client: KubernetesAPIClient, table: ServiceTable, nodeName: String, publicKeyText: String, backoff: RetryBackoff = RetryBackoff()
    ) {
        self.init(
            client: client, table: table, nodeName: nodeName, annotations: [tunnelPublicKeyAnnotation: publicKeyText],
            subject: "tunnel key", backoff: backoff)
    }

    /// Whether `node` carries every annotation with its value.
    private func carriesAnnotations(_ node: Node) -> Bool {
        annotations.allSatisfy { node.metadata.annotations[$0.key] == $0.value }
    }

    public func start() {
        guard subscription == nil else { return }
        subscription = table.subscribe { [weak self] summary in self?.tableChanged(summary) }
        publish()
    }

    public func stop() {
        generation += 1
        subscription?.cancel()
        subscription = nil
        retry?.cancel()
        setState(.stopped)
    }

    private func setState(_ state: State) {
        self.state = state
        onStateChange?(state)
    }

    /// Re-publishes when the table's copy of this node (from the watch) lacks an annotation.
    /// While a patch is in flight or a retry is pending, that attempt will do.
    private func tableChanged(_ summary: TableChangeSummary) {
        guard case .published = state else { return }
        guard summary.changes.contains(where: { $0.kind == .node && $0.key.name == nodeName }),
            let node = table.node(named: nodeName), !carriesAnnotations(node)
        else { return }
        let keys = annotations.keys.sorted().joined(separator: ", ")
        host.logger.warning("Node \(nodeName) lacks this node's \(subject) (\(keys)) or shows another; publishing it again")
        publish()
    }

    private func publish() {
        retry?.cancel()
        let current = generation
        if case .retrying(let reason, _) = state {
            setState(.publishing(previousFailure: reason))
        } else {
            setState(.publishing(previousFailure: nil))
        }
        client.patch(Self.resource, name: nodeName, patch: patchBody).whenComplete { [self] result in
            guard current == generation else { return }
            switch result {
            case .success(let body): accept(answer: body)
            case .failure(let error): failed(KubernetesPatchError(error, resource: Self.resource, name: nodeName))
            }
        }
    }

    /// `{"metadata":{"annotations":{"edgemesh.io/tunnel-public-key":"KEY"}}}`
    private var patchBody: [UInt8] {
        KubernetesJSONValue.object([
            "metadata": .object(["annotations": .object(annotations.mapValues { .string($0) })])
        ]).encoded()
    }

    private func accept(answer body: ByteBuffer) {
        let node: Node
        do {
            node = try KubernetesDecoder.decode(Node.self, json: body)
        } catch {
            return failed(reason: "the API server's answer to the patch is not a Node (\(error))", transient: true)
        }
        guard carriesAnnotations(node) else {
            return failed(
                reason: "the API server accepted the patch but the Node it returned lacks the \(subject) (a server that ignores patches?)",
                transient: false)
        }
        failedAttempts = 0
        publications += 1
        host.logger.info(
            "published this node's \(subject) on Node \(nodeName)",
            metadata: annotations.mapValues { Logger.MetadataValue.string($0) })
        setState(.published(resourceVersion: node.metadata.resourceVersion))
    }

    private func failed(_ error: KubernetesPatchError) {
        failed(reason: error.description, transient: error.isTransient)
    }

    private func failed(reason: String, transient: Bool) {
        failedAttempts += 1
        // A refusal needs someone to change the cluster: ask again, but only as often as the cap allows.
        let delay = backoff.delay(attempt: transient ? failedAttempts - 1 : Int.max, on: host)
        if failedAttempts == 1 || !transient {
            host.logger.warning("cannot publish this node's \(subject) on Node \(nodeName): \(reason)")
        }
        setState(.retrying(reason: reason, delay: delay))
        let current = generation
        retry = host.eventLoop.scheduleTask(in: delay) { [self] in
            guard current == generation else { return }
            publish()
        }
    }
}
