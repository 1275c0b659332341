import Mesh
import NIOCore
import NIOHTTP1
import NIOSSL

/// A small Kubernetes API server for tests and simulations: lists, chunked watch streams with
/// bookmarks, and `410 Gone` once a watcher's resource version has left the retained history.
///
/// It keeps objects as JSON (any kind, one store per resource), stamps a global resource
/// version into each change, serves `GET` on collection paths and `PATCH` (JSON merge or
/// strategic merge) on object paths; other writes come from the test through `create`,
/// `update`, `patch` and `delete`. Requests named in `forbidden` get 403, as RBAC answers.
/// Label and field selectors are not supported.
///
/// Confined to the host's event loop: call everything on it (in NetSim that is the test's
/// own thread).
public final class KubernetesTestAPIServer: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// The address to listen on (all of the host's by default).
        public var address: IPv4Address
        /// 0 picks a free port (read it from the channel `start` returns).
        public var port: UInt16
        /// How often a watch that asked for bookmarks gets one; nil sends none.
        public var bookmarkInterval: TimeAmount?
        /// How many change events are kept for watchers to resume from; a watch from an older
        /// resource version is answered with 410 Gone.
        public var historyLimit: Int
        /// When set, requests without `Authorization: Bearer <token>` get 401.
        public var requiredBearerToken: String?
        /// Resources answered with 404, as an older cluster answers for EndpointSlices.
        public var unservedResources: [KubernetesResource]
        /// When set, the server speaks https with this context (whose verification mode decides
        /// whether clients must present a certificate).
        public var tls: NIOSSLContext?
        /// When set, every watch that names a resource version is answered 410 Gone, as by a
        /// server whose history is compacted faster than clients resume: a relist storm.
        public var expiresEveryWatch: Bool

        public init(
            address: IPv4Address = .any, port: UInt16 = 6443, bookmarkInterval: TimeAmount? = .seconds(10), historyLimit: Int = 1000,
            requiredBearerToken: String? = nil, unservedResources: [KubernetesResource] = [], tls: NIOSSLContext? = nil,
            expiresEveryWatch: Bool = false
        ) {
            self.expiresEveryWatch = expiresEveryWatch
            self.unservedResources = unservedResources
            self.address = address
            self.port = port
            self.bookmarkInterval = bookmarkInterval
            self.historyLimit = historyLimit
            self.requiredBearerToken = requiredBearerToken
            self.tls = tls
        }
    }

    /// A request as it arrived, so tests can check what the client sent, and when.
    public struct RecordedRequest: Sendable {
        public var method: HTTPMethod
        public var uri: String
        public var headers: HTTPHeaders
        public var body: [UInt8]
        /// The server host's clock when the request was complete.
        public var receivedAt: NIODeadline
    }

    /// A verb on a resource, as an RBAC rule grants it ("patch nodes").
    public struct Permission: Hashable, Sendable, CustomStringConvertible {
        public var verb: String
        /// The API group and plural (RBAC rules name no version).
        public var group: String
        public var plural: String

        public init(verb: String, resource: KubernetesResource) {
            self.verb = verb
            self.group = resource.group
            self.plural = resource.plural
        }

        public var description: String { "\(verb) \(plural)" }
    }

    /// One stored object, for comparing the server's view with a client's.
    public struct StoredObject: Hashable, Sendable {
        public var key: ObjectKey
        public var resourceVersion: String
        /// The object as served, one line of JSON.
        public var json: [UInt8]
    }

    public enum ChangeError: Error, Equatable, Sendable, CustomStringConvertible {
        case invalidJSON(String)
        case missingName
        case alreadyExists(ObjectKey)
        case notFound(ObjectKey)
        /// The patch is not a JSON object, or would rename the object.
        case invalidPatch(String)
        /// The patch names a resource version the object no longer has.
        case conflict(ObjectKey, expected: String, current: String)

        public var description: String {
            switch self {
            case .invalidJSON(let reason): "object is not valid JSON: \(reason)"
            case .missingName: "object has no metadata.name; give it one"
            case .alreadyExists(let key): "\(key) already exists; update it instead"
            case .notFound(let key): "\(key) does not exist; create it first"
            case .invalidPatch(let reason): "patch not applicable: \(reason)"
            case .conflict(let key, let expected, let current):
                "\(key) is at resource version \(current), not \(expected); read it again and retry"
            }
        }
    }

    private struct Entry {
        var object: KubernetesJSONValue
        var resourceVersion: UInt64
    }

    private struct Change {
        var resourceVersion: UInt64
        var storageKey: String
        var namespace: String?
        /// What `objectsSent` calls it, and the object itself (for field selectors).
        var sentName: String
        var object: KubernetesJSONValue
        /// The complete watch event line, newline included.
        var line: [UInt8]
    }

    final class Watcher: @unchecked Sendable {
        let id: Int
        let channel: Channel
        let resource: KubernetesResource
        let namespace: String?
        let fieldSelector: FieldSelector
        var bookmarks: RepeatedTask?

        init(id: Int, channel: Channel, resource: KubernetesResource, namespace: String?, fieldSelector: FieldSelector) {
            self.id = id
            self.channel = channel
            self.resource = resource
            self.namespace = namespace
            self.fieldSelector = fieldSelector
        }
    }

    public let host: any Host
    public let configuration: Configuration
    /// The resource version of the latest change.
    public private(set) var resourceVersion: UInt64 = 0
    public private(set) var requests: [RecordedRequest] = []
    /// How often each object went out in a list or a watch event, by "plural namespace/name"
    /// ("secrets shop/web-tls"): what a client was sent, for tests of what it asks for.
    public private(set) var objectsSent: [String: Int] = [:]
    /// Requests answered 403 Forbidden, as a ClusterRole that lacks them would have them answered.
    public var forbidden: [Permission] = []

    private var stores: [String: [ObjectKey: Entry]] = [:]
    private var history: [Change] = []
    /// Changes up to this version have been dropped from `history`.
    private var compactedThrough: UInt64 = 0
    private var watchers: [Watcher] = []
    private var nextWatcherID = 0
    private var listener: Channel?

    public init(host: any Host, configuration: Configuration = Configuration()) {
        self.host = host
        self.configuration = configuration
    }

    /// Starts listening; the listener channel tells the port when the configuration left it 0.
    public func start() -> EventLoopFuture<Channel> {
        let options = StreamListenOptions(address: configuration.address.socketAddress(port: configuration.port))
        let tls = configuration.tls
        return host.listenStream(options) { [self] channel in
            if let tls {
                do { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
            return channel.pipeline.configureHTTPServerPipeline().flatMap {
                channel.pipeline.addHandler(KubernetesTestAPIRequestHandler(server: self))
            }
        }.map { [self] channel in
            listener = channel
            return channel
        }
    }

    /// Stops listening and ends every watch.
    public func stop() {
        listener?.close(promise: nil)
        listener = nil
        closeWatches()
    }

    /// Ends every open watch stream (as an API server does when its watch timeout expires).
    public func closeWatches() {
        for watcher in watchers { watcher.channel.close(promise: nil) }
    }

    /// How many watch streams are open.
    public var watchCount: Int { watchers.count }

    /// The stored objects of a resource, sorted by key.
    public func objects(of resource: KubernetesResource) -> [StoredObject] {
        (stores[resource.storageKey] ?? [:]).sorted { $0.key < $1.key }.map { key, entry in
            StoredObject(key: key, resourceVersion: String(entry.resourceVersion), json: entry.object.encoded())
        }
    }

    // MARK: Changes

    @discardableResult
    public func create(_ resource: KubernetesResource, json: [UInt8]) throws(ChangeError) -> UInt64 {
        let (key, object) = try parse(json, as: resource)
        guard stores[resource.storageKey]?[key] == nil else { throw .alreadyExists(key) }
        return record(object, key: key, type: "ADDED", in: resource)
    }

    @discardableResult
    public func update(_ resource: KubernetesResource, json: [UInt8]) throws(ChangeError) -> UInt64 {
        let (key, object) = try parse(json, as: resource)
        guard stores[resource.storageKey]?[key] != nil else { throw .notFound(key) }
        return record(object, key: key, type: "MODIFIED", in: resource)
    }

    /// Applies a JSON merge patch to a stored object (a `metadata.resourceVersion` in the patch
    /// is a precondition, as on a real server) and tells watchers: MODIFIED.
    @discardableResult
    public func patch(_ resource: KubernetesResource, namespace: String?, name: String, json: [UInt8]) throws(ChangeError) -> UInt64 {
        let key = ObjectKey(namespace: resource.isNamespaced ? namespace ?? "default" : "", name: name)
        guard let entry = stores[resource.storageKey]?[key] else { throw .notFound(key) }
        var patch: KubernetesJSONValue
        do { patch = try KubernetesJSONValue.parse(json) } catch { throw .invalidJSON(String(describing: error)) }
        guard case .object = patch else { throw .invalidPatch("a merge patch of an object must be a JSON object") }
        if let renamed = patch["metadata"]?["name"], renamed != .string(name) {
            throw .invalidPatch("metadata.name cannot be changed (the patch says \(renamed.stringValue ?? "something else"))")
        }
        if let expected = patch["metadata"]?["resourceVersion"]?.stringValue {
            guard expected == String(entry.resourceVersion) else {
                throw .conflict(key, expected: expected, current: String(entry.resourceVersion))
            }
            patch["metadata"]?["resourceVersion"] = nil
        }
        return record(entry.object.mergePatched(with: patch), key: key, type: "MODIFIED", in: resource)
    }

    @discardableResult
    public func delete(_ resource: KubernetesResource, namespace: String?, name: String) throws(ChangeError) -> UInt64 {
        let key = ObjectKey(namespace: resource.isNamespaced ? namespace ?? "default" : "", name: name)
        guard let entry = stores[resource.storageKey]?[key] else { throw .notFound(key) }
        return record(entry.object, key: key, type: "DELETED", in: resource)
    }

    /// Fills a resource from a List document (a captured API response, say), keeping each
    /// item's own resource version; the global version moves up to the list's. Watchers are
    /// not told: this is the state the server starts with.
    public func load(_ resource: KubernetesResource, listJSON: [UInt8]) throws(ChangeError) {
        let list: KubernetesJSONValue
        do { list = try KubernetesJSONValue.parse(listJSON) } catch { throw .invalidJSON(String(describing: error)) }
        guard case .array(let items)? = list["items"] else { throw .invalidJSON("a List needs an items array") }
        var highest = list["metadata"]?["resourceVersion"]?.stringValue.flatMap { UInt64($0) } ?? 0
        for item in items {
            let (key, object) = try identify(item, as: resource)
            let version = object["metadata"]?["resourceVersion"]?.stringValue.flatMap { UInt64($0) } ?? 0
            highest = max(highest, version)
            stores[resource.storageKey, default: [:]][key] = Entry(object: object, resourceVersion: version)
        }
        resourceVersion = max(resourceVersion, highest)
        // Nothing before this point can be replayed.
        compactedThrough = resourceVersion
    }

    private func parse(_ json: [UInt8], as resource: KubernetesResource) throws(ChangeError) -> (ObjectKey, KubernetesJSONValue) {
        let value: KubernetesJSONValue
        do { value = try KubernetesJSONValue.parse(json) } catch { throw .invalidJSON(String(describing: error)) }
        return try identify(value, as: resource)
    }

    private func identify(_ value: KubernetesJSONValue, as resource: KubernetesResource) throws(ChangeError)
        -> (ObjectKey, KubernetesJSONValue)
    {
        guard case .object = value else { throw .invalidJSON("expected an object") }
        guard let name = value["metadata"]?["name"]?.stringValue, !name.isEmpty else { throw .missingName }
        var object = value
        if object["apiVersion"] == nil { object["apiVersion"] = .string(resource.apiVersion) }
        if object["kind"] == nil { object["kind"] = .string(resource.kind) }
        var namespace = ""
        if resource.isNamespaced {
            namespace = value["metadata"]?["namespace"]?.stringValue ?? "default"
            object["metadata"]?["namespace"] = .string(namespace)
        }
        return (ObjectKey(namespace: namespace, name: name), object)
    }

    private func record(_ object: KubernetesJSONValue, key: ObjectKey, type: String, in resource: KubernetesResource) -> UInt64 {
        resourceVersion += 1
        var object = object
        object["metadata"]?["resourceVersion"] = .string(String(resourceVersion))
        if type == "DELETED" {
            stores[resource.storageKey]?[key] = nil
        } else {
            stores[resource.storageKey, default: [:]][key] = Entry(object: object, resourceVersion: resourceVersion)
        }
        let line = Self.eventLine(type: type, object: object)
        let change = Change(
            resourceVersion: resourceVersion, storageKey: resource.storageKey,
            namespace: resource.isNamespaced ? key.namespace : nil, sentName: Self.sentName(resource, key), object: object, line: line)
        history.append(change)
        if history.count > configuration.historyLimit {
            let dropped = history.count - configuration.historyLimit
            compactedThrough = history[dropped - 1].resourceVersion
            history.removeFirst(dropped)
        }
        for watcher in watchers where Self.matches(change, watcher) {
            objectsSent[change.sentName, default: 0] += 1
            send(line, to: watcher)
        }
        return resourceVersion
    }

    private static func matches(_ change: Change, _ watcher: Watcher) -> Bool {
        change.storageKey == watcher.resource.storageKey
            && (watcher.namespace == nil || change.namespace == watcher.namespace)
            && watcher.fieldSelector.matches(change.object)
    }

    private static func sentName(_ resource: KubernetesResource, _ key: ObjectKey) -> String {
        "\(resource.plural) \(resource.isNamespaced ? "\(key.namespace)/" : "")\(key.name)"
    }

    private static func eventLine(type: String, object: KubernetesJSONValue) -> [UInt8] {
        KubernetesJSONValue.object(["type": .string(type), "object": object]).encoded() + [UInt8(ascii: "\n")]
    }

    private func send(_ line: [UInt8], to watcher: Watcher) {
        let buffer = watcher.channel.allocator.buffer(bytes: line)
        watcher.channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(buffer)), promise: nil)
    }

    // MARK: Requests

    func handle(_ head: HTTPRequestHead, body: [UInt8], on channel: Channel) {
        requests.append(RecordedRequest(method: head.method, uri: head.uri, headers: head.headers, body: body, receivedAt: host.now))
        if let token = configuration.requiredBearerToken,
            head.headers.first(name: "Authorization") != "Bearer \(token)"
        {
            return respond(on: channel, status: .unauthorized, json: Self.status(401, "Unauthorized", "a valid bearer token is required"))
        }
        if head.method == .PATCH { return handlePatch(head, body: body, on: channel) }
        guard head.method == .GET else {
            return respond(on: channel, status: .methodNotAllowed, json: Self.status(405, "MethodNotAllowed", "this test server serves GET and PATCH only"))
        }
        let (path, query) = Self.split(uri: head.uri)
        guard let target = KubernetesResource.parse(path: path),
            let resource = resource(group: target.group, plural: target.plural, version: target.version)
        else {
            return respond(on: channel, status: .notFound, json: Self.status(404, "NotFound", "no resource at \(path)"))
        }
        let namespace = resource.isNamespaced ? target.namespace : nil
        let watching = query["watch"] == "true" || query["watch"] == "1"
        if refuse(watching ? "watch" : "list", resource, name: nil, namespace: namespace, on: channel) { return }
        let selector = FieldSelector(query["fieldSelector"] ?? "")
        if watching {
            watch(
                resource, namespace: namespace, fieldSelector: selector, from: query["resourceVersion"],
                bookmarks: query["allowWatchBookmarks"] == "true", on: channel)
        } else {
            respond(on: channel, status: .ok, json: list(resource, namespace: namespace, fieldSelector: selector))
        }
    }

    private func handlePatch(_ head: HTTPRequestHead, body: [UInt8], on channel: Channel) {
        let (path, _) = Self.split(uri: head.uri)
        guard let target = KubernetesResource.parse(objectPath: path),
            let resource = resource(group: target.group, plural: target.plural, version: target.version)
        else {
            return respond(on: channel, status: .notFound, json: Self.status(404, "NotFound", "no object at \(path)"))
        }
        let name = target.name
        if refuse("patch", resource, name: name, namespace: target.namespace, on: channel) { return }
        guard KubernetesPatchType(contentType: head.headers.first(name: "Content-Type") ?? "") != nil else {
            let message = "the body must be \(KubernetesPatchType.merge.contentType) or \(KubernetesPatchType.strategicMerge.contentType)"
            return respond(on: channel, status: .unsupportedMediaType, json: Self.status(415, "UnsupportedMediaType", message))
        }
        do {
            try patch(resource, namespace: target.namespace, name: name, json: body)
        } catch {
            let (status, reason): (HTTPResponseStatus, String) = switch error {
            case .notFound: (.notFound, "NotFound")
            case .conflict: (.conflict, "Conflict")
            case .invalidJSON: (.badRequest, "BadRequest")
            case .invalidPatch, .missingName, .alreadyExists: (.unprocessableEntity, "Invalid")
            }
            return respond(on: channel, status: status, json: Self.status(Int(status.code), reason, error.description))
        }
        let key = ObjectKey(namespace: resource.isNamespaced ? target.namespace ?? "default" : "", name: name)
        respond(on: channel, status: .ok, json: stores[resource.storageKey]?[key]?.object.encoded() ?? [])
    }

    /// Answers 403 as RBAC words it when `verb` on `resource` is in `forbidden`; whether it did.
    private func refuse(_ verb: String, _ resource: KubernetesResource, name: String?, namespace: String?, on channel: Channel) -> Bool {
        guard forbidden.contains(Permission(verb: verb, resource: resource)) else { return false }
        let subject = name.map { "\(resource.plural) \"\($0)\"" } ?? resource.plural
        let scope = resource.isNamespaced && namespace != nil ? "in the namespace \"\(namespace ?? "")\"" : "at the cluster scope"
        let message = "\(subject) is forbidden: the client cannot \(verb) resource \"\(resource.plural)\" in API group \"\(resource.group)\" \(scope)"
        respond(on: channel, status: .forbidden, json: Self.status(403, "Forbidden", message))
        return true
    }

    /// The resource a path names; the version is taken from the path so objects come back in
    /// the version asked for.
    private func resource(group: String, plural: String, version: String) -> KubernetesResource? {
        let known: [KubernetesResource] = [
            .services, .endpoints, .endpointSlices, .pods, .nodes, .secrets, .destinationRules, .virtualServices, .gateways,
        ]
        guard var resource = known.first(where: { $0.group == group && $0.plural == plural }),
            !configuration.unservedResources.contains(where: { $0.storageKey == resource.storageKey })
        else { return nil }
        resource.version = version
        return resource
    }

    private func list(_ resource: KubernetesResource, namespace: String?, fieldSelector: FieldSelector) -> [UInt8] {
        let entries = (stores[resource.storageKey] ?? [:])
            .filter { (namespace == nil || $0.key.namespace == namespace) && fieldSelector.matches($0.value.object) }
            .sorted { $0.key < $1.key }
        for entry in entries { objectsSent[Self.sentName(resource, entry.key), default: 0] += 1 }
        let items = entries.map(\.value.object)
        let list = KubernetesJSONValue.object([
            "apiVersion": .string(resource.apiVersion),
            "kind": .string("\(resource.kind)List"),
            "metadata": .object(["resourceVersion": .string(String(resourceVersion))]),
            "items": .array(items),
        ])
        return list.encoded()
    }

    private func watch(
        _ resource: KubernetesResource, namespace: String?, fieldSelector: FieldSelector, from version: String?, bookmarks: Bool,
        on channel: Channel
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        // No Content-Length: NIO sends the stream chunked.
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)), promise: nil)
        let watcher = Watcher(id: nextWatcherID, channel: channel, resource: resource, namespace: namespace, fieldSelector: fieldSelector)
        nextWatcherID += 1

        var replay: [[UInt8]] = []
        switch version.flatMap({ $0.isEmpty ? nil : $0 }) {
        case nil:
            break  // from now on
        case "0":
            // "Any version": the current objects as ADDED, as the real server does.
            let entries = (stores[resource.storageKey] ?? [:])
                .filter { (namespace == nil || $0.key.namespace == namespace) && fieldSelector.matches($0.value.object) }
                .sorted { $0.key < $1.key }
            for entry in entries { objectsSent[Self.sentName(resource, entry.key), default: 0] += 1 }
            replay = entries.map { Self.eventLine(type: "ADDED", object: $0.value.object) }
        case let text?:
            guard let start = UInt64(text), start >= compactedThrough, start <= resourceVersion, !configuration.expiresEveryWatch else {
                // Too old (compacted) or from the future (the server restarted): the client must relist.
                let status = Self.status(410, "Expired", "too old resource version: \(text) (\(compactedThrough))")
                send(Self.errorEventLine(status), to: watcher)
                channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in channel.close(promise: nil) }
                return
            }
            let changes = history.filter { $0.resourceVersion > start && Self.matches($0, watcher) }
            for change in changes { objectsSent[change.sentName, default: 0] += 1 }
            replay = changes.map(\.line)
        }
        for line in replay { send(line, to: watcher) }
        channel.flush()
        watchers.append(watcher)
        if bookmarks, let interval = configuration.bookmarkInterval {
            watcher.bookmarks = host.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { [self] _ in
                let bookmark = KubernetesJSONValue.object([
                    "type": .string("BOOKMARK"),
                    "object": .object([
                        "apiVersion": .string(resource.apiVersion), "kind": .string(resource.kind),
                        "metadata": .object(["resourceVersion": .string(String(resourceVersion))]),
                    ]),
                ])
                send(bookmark.encoded() + [UInt8(ascii: "\n")], to: watcher)
            }
        }
        channel.closeFuture.whenComplete { [self] _ in
            watcher.bookmarks?.cancel()
            watchers.removeAll { $0.id == watcher.id }
        }
    }

    private static func errorEventLine(_ status: [UInt8]) -> [UInt8] {
        let object = (try? KubernetesJSONValue.parse(status)) ?? .null
        return eventLine(type: "ERROR", object: object)
    }

    private func respond(on channel: Channel, status: HTTPResponseStatus, json: [UInt8]) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(json.count))
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)), promise: nil)
        channel.write(HTTPServerResponsePart.body(.byteBuffer(channel.allocator.buffer(bytes: json))), promise: nil)
        channel.writeAndFlush(HTTPServerResponsePart.end(nil), promise: nil)
    }

    static func status(_ code: Int, _ reason: String, _ message: String) -> [UInt8] {
        KubernetesJSONValue.object([
            "apiVersion": .string("v1"), "kind": .string("Status"), "status": .string("Failure"),
            "code": .integer(Int64(code)), "reason": .string(reason), "message": .string(message),
        ]).encoded()
    }

    /// "/api/v1/services?watch=true&resourceVersion=5" → path and query items (no percent-decoding:
    /// the parameters this server reads never need it).
    static func split(uri: String) -> (path: String, query: [String: String]) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for item in uri[uri.index(after: mark)...].split(separator: "&") {
            let pair = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            query[String(pair[0])] = pair.count > 1 ? String(pair[1]) : ""
        }
        return (String(uri[..<mark]), query)
    }
}
