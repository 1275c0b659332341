import FoundationEssentials
import NIOCore

/// Every object a `ServiceTable` holds, as stored for an agent that restarts offline.
///
/// JSON with sorted keys and objects sorted by key per kind, so one table state always gives
/// the same bytes. Objects are in their Kubernetes wire shape and read back through the
/// model's own decoders.
public struct ServiceTableSnapshot: Hashable, Sendable {
    /// Bumped whenever the layout changes; a snapshot of another version is ignored, not guessed at.
    public static let formatVersion = 1

    /// The revision of the table that was saved (informational: a restored table counts afresh).
    public var revision: UInt64
    public var services: [Service]
    public var endpoints: [Endpoints]
    public var endpointSlices: [EndpointSlice]
    public var pods: [Pod]
    public var nodes: [Node]
    public var secrets: [Secret]
    public var destinationRules: [DestinationRule]
    public var virtualServices: [VirtualService]
    public var gateways: [Gateway]

    /// The table's current content; secrets only with `includingSecrets`, and then only the
    /// ones a Gateway's servers name as `credentialName`.
    public init(of table: ServiceTable, includingSecrets: Bool = false) {
        revision = table.revision
        services = table.services
        endpoints = table.objects(of: .endpoints).compactMap(\.endpointsValue)
        endpointSlices = table.objects(of: .endpointSlice).compactMap(\.endpointSliceValue)
        pods = table.pods
        nodes = table.nodes
        if includingSecrets {
            let credentials = Set(table.gateways.flatMap { gateway in
                gateway.spec.servers.compactMap { $0.tls?.credentialName.map { ObjectKey(namespace: gateway.metadata.namespace, name: $0) } }
            })
            secrets = table.objects(of: .secret).compactMap(\.secretValue).filter { credentials.contains($0.key) }
        } else {
            secrets = []
        }
        destinationRules = table.destinationRules
        virtualServices = table.virtualServices
        gateways = table.gateways
    }

    /// The replacements that make a table hold exactly this snapshot, one per kind.
    public var changes: [TableChange] {
        [
            .replaceAll(kind: .service, objects: services.map { .service($0) }),
            .replaceAll(kind: .endpoints, objects: endpoints.map { .endpoints($0) }),
            .replaceAll(kind: .endpointSlice, objects: endpointSlices.map { .endpointSlice($0) }),
            .replaceAll(kind: .pod, objects: pods.map { .pod($0) }),
            .replaceAll(kind: .node, objects: nodes.map { .node($0) }),
            .replaceAll(kind: .secret, objects: secrets.map { .secret($0) }),
            .replaceAll(kind: .destinationRule, objects: destinationRules.map { .destinationRule($0) }),
            .replaceAll(kind: .virtualService, objects: virtualServices.map { .virtualService($0) }),
            .replaceAll(kind: .gateway, objects: gateways.map { .gateway($0) }),
        ]
    }

    public var objectCount: Int {
        services.count + endpoints.count + endpointSlices.count + pods.count + nodes.count + secrets.count
            + destinationRules.count + virtualServices.count + gateways.count
    }

    /// The stored form.
    public func encoded() throws -> ByteBuffer {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return ByteBuffer(bytes: try encoder.encode(Layout(formatVersion: Self.formatVersion, snapshot: self)))
    }

    /// Reads a stored snapshot; `key` only names it in errors.
    public static func decode(_ bytes: ByteBuffer, key: String) throws(ServiceTableSnapshotError) -> ServiceTableSnapshot {
        let data = Data(bytes.readableBytesView)
        // The version is read on its own first, so a future layout is reported as such, not as corrupt.
        let version: Int
        do {
            version = try JSONDecoder().decode(VersionOnly.self, from: data).formatVersion
        } catch {
            throw .corrupt(key: key, reason: Self.describe(error))
        }
        guard version == formatVersion else {
            throw .unsupportedVersion(key: key, found: version, supported: formatVersion)
        }
        do {
            return try JSONDecoder().decode(Layout.self, from: data).snapshot
        } catch {
            throw .corrupt(key: key, reason: Self.describe(error))
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty:
            return "not JSON: \(context.debugDescription)"
        case DecodingError.keyNotFound(let key, let context):
            return "field \(DecodingProblem.format(context.codingPath + [key])) is missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.dataCorrupted(let context):
            return "field \(DecodingProblem.format(context.codingPath)): \(context.debugDescription)"
        default:
            return String(describing: error)
        }
    }

    private struct VersionOnly: Decodable {
        var formatVersion: Int
    }

    /// The file layout: the version beside the objects, per kind.
    private struct Layout: Codable {
        var formatVersion: Int
        var revision: UInt64
        var services: [Service]
        var endpoints: [Endpoints]
        var endpointSlices: [EndpointSlice]
        var pods: [Pod]
        var nodes: [Node]
        var secrets: [Secret]
        var destinationRules: [DestinationRule]
        var virtualServices: [VirtualService]
        var gateways: [Gateway]

        init(formatVersion: Int, snapshot: ServiceTableSnapshot) {
            self.formatVersion = formatVersion
            revision = snapshot.revision
            services = snapshot.services
            endpoints = snapshot.endpoints
            endpointSlices = snapshot.endpointSlices
            pods = snapshot.pods
            nodes = snapshot.nodes
            secrets = snapshot.secrets
            destinationRules = snapshot.destinationRules
            virtualServices = snapshot.virtualServices
            gateways = snapshot.gateways
        }

        var snapshot: ServiceTableSnapshot {
            ServiceTableSnapshot(
                revision: revision, services: services, endpoints: endpoints, endpointSlices: endpointSlices,
                pods: pods, nodes: nodes, secrets: secrets, destinationRules: destinationRules,
                virtualServices: virtualServices, gateways: gateways)
        }
    }

    private init(
        revision: UInt64, services: [Service], endpoints: [Endpoints], endpointSlices: [EndpointSlice], pods: [Pod],
        nodes: [Node], secrets: [Secret], destinationRules: [DestinationRule], virtualServices: [VirtualService],
        gateways: [Gateway]
    ) {
        self.revision = revision
        self.services = services
        self.endpoints = endpoints
        self.endpointSlices = endpointSlices
        self.pods = pods
        self.nodes = nodes
        self.secrets = secrets
        self.destinationRules = destinationRules
        self.virtualServices = virtualServices
        self.gateways = gateways
    }
}
