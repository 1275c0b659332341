import NIOCore

/// Keeps a sink in step with one resource on the API server: list, then watch from the list's
/// resource version; resume from the last version seen when a watch ends; list again when the
/// server answers 410 Gone; and back off (capped, exponential, full jitter from `host.random`)
/// between attempts that made no progress.
///
/// Confined to the host's event loop: `start`, `stop` and the sink callbacks all run there.
public final class KubernetesReflector<Object: KubernetesAPIObject>: @unchecked Sendable {
    public enum Event: Hashable, Sendable {
        case added(Object)
        case modified(Object)
        case deleted(Object)
    }

    public let client: KubernetesAPIClient
    public let resource: KubernetesResource
    public let namespace: String?
    /// Asked of the server with every list and watch (`type=kubernetes.io/tls`).
    public let fieldSelector: String?
    public let backoff: RetryBackoff
    public private(set) var status: KubernetesReflectorStatus
    /// Called on every status change (phase, version, error), for status output and tests.
    public var onStatusChange: ((KubernetesReflectorStatus) -> Void)?

    private let onReplace: ([Object]) -> Void
    private let onEvent: (Event) -> Void
    /// Bumped by every new attempt and by `stop`, so callbacks of an abandoned attempt do nothing.
    private var generation = 0
    private var watch: KubernetesAPIClient.Watch?
    private var retry: Scheduled<Void>?
    private var sawGone = false
    /// Whether the current watch delivered anything (an event or a bookmark).
    private var progressed = false

    private var host: any Host { client.host }

    /// `onReplace` receives the complete set after every (re)list; `onEvent` each change after it.
    public init(
        client: KubernetesAPIClient, resource: KubernetesResource, namespace: String? = nil, fieldSelector: String? = nil,
        backoff: RetryBackoff = RetryBackoff(),
        onReplace: @escaping ([Object]) -> Void, onEvent: @escaping (Event) -> Void
    ) {
        self.client = client
        self.resource = resource
        self.namespace = namespace
        self.fieldSelector = fieldSelector
        self.backoff = backoff
        self.onReplace = onReplace
        self.onEvent = onEvent
        self.status = KubernetesReflectorStatus(resource: resource)
    }

    public func start() {
        guard status.phase == .idle || status.phase == .stopped || status.phase == .notServed else { return }
        list()
    }

    public func stop() {
        generation += 1
        retry?.cancel()
        watch?.cancel()
        watch = nil
        update { $0.phase = .stopped }
    }

    private func update(_ change: (inout KubernetesReflectorStatus) -> Void) {
        change(&status)
        onStatusChange?(status)
    }

    private func list() {
        generation += 1
        let current = generation
        update { $0.phase = .listing }
        client.list(resource, namespace: namespace, fieldSelector: fieldSelector).whenComplete { [self] result in
            guard current == generation else { return }
            switch result {
            case .failure(KubernetesAPIError.status(code: 404, _)):
                update {
                    $0.phase = .notServed
                    $0.lastError = "\(resource) is not served (404)"
                }
            case .failure(let error):
                failed(error, relist: true)
            case .success(let body):
                let list: KubernetesList<Object>
                do {
                    list = try KubernetesDecoder.decodeList(Object.self, json: body)
                } catch {
                    return failed(KubernetesAPIError.invalidResponse("\(error)"), relist: true)
                }
                for problem in list.skipped {
                    host.logger.warning("skipping malformed \(resource.kind) in list", metadata: ["problem": "\(problem)"])
                }
                update {
                    $0.resourceVersion = list.resourceVersion
                    $0.listCount += 1
                    $0.failedAttempts = 0
                }
                onReplace(list.items)
                startWatch()
            }
        }
    }

    private func startWatch() {
        generation += 1
        let current = generation
        sawGone = false
        progressed = false
        update { $0.phase = .watching }
        let watch = client.watch(resource, namespace: namespace, fieldSelector: fieldSelector, resourceVersion: status.resourceVersion) { [self] line in
            guard current == generation else { return }
            receive(line)
        }
        self.watch = watch
        watch.finished.whenComplete { [self] result in
            guard current == generation else { return }
            self.watch = nil
            switch result {
            case .success:
                // A clean end (the server's watch timeout): resume, through the backoff so a
                // server that ends every watch at once is not hammered.
                if !progressed { update { $0.failedAttempts += 1 } }
                scheduleRetry(relist: sawGone)
            case .failure(let error):
                if sawGone {
                    scheduleRetry(relist: true)
                } else {
                    failed(error, relist: (error as? KubernetesAPIError)?.isGone ?? false)
                }
            }
        }
    }

    private func receive(_ line: ByteBuffer) {
        let event: KubernetesWatchEvent<Object>
        do {
            event = try KubernetesDecoder.decode(KubernetesWatchEvent<Object>.self, json: line)
        } catch {
            host.logger.warning("skipping malformed \(resource.kind) watch event", metadata: ["problem": "\(error)"])
            return
        }
        progressed = true
        switch event {
        case .added(let object), .modified(let object), .deleted(let object):
            update {
                if let version = object.metadata.resourceVersion { $0.resourceVersion = version }
                $0.failedAttempts = 0
            }
            switch event {
            case .added: onEvent(.added(object))
            case .modified: onEvent(.modified(object))
            default: onEvent(.deleted(object))
            }
        case .bookmark(let version):
            update {
                if !version.isEmpty { $0.resourceVersion = version }
                $0.failedAttempts = 0
            }
        case .error(let status):
            if status.isGone {
                sawGone = true
                update { $0.lastError = "watch from \($0.resourceVersion ?? "none") expired: \(status)" }
            } else {
                update { $0.lastError = "watch error: \(status)" }
            }
            watch?.cancel()
        }
    }

    private func failed(_ error: any Error, relist: Bool) {
        update {
            $0.lastError = "\(error)"
            $0.failedAttempts += 1
        }
        scheduleRetry(relist: relist)
    }

    private func scheduleRetry(relist: Bool) {
        generation += 1
        let current = generation
        // The first retry after progress draws from the smallest window.
        let delay = backoff.delay(attempt: max(status.failedAttempts - 1, 0), on: host)
        update { $0.phase = .backingOff(until: host.now + delay, delay: delay, relist: relist) }
        retry = host.eventLoop.scheduleTask(in: delay) { [self] in
            guard current == generation else { return }
            update { $0.reconnectCount += 1 }
            if relist { list() } else { startWatch() }
        }
    }
}
