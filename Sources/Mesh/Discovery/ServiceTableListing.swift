import FoundationEssentials

/// What an agent's service table holds, as one Kubernetes `List` (JSON): the agent's
/// `GET /table`, readable by `kubectl apply -f`, a manifest directory and a scenario file's
/// `manifests`. Secrets are never listed: the page is for operators and field reports, and
/// a certificate's key does not belong in either.
public struct ServiceTableListing: Sendable {
    public let snapshot: ServiceTableSnapshot

    public init(of table: ServiceTable) {
        snapshot = ServiceTableSnapshot(of: table, includingSecrets: false)
    }

    /// The objects, each with its `apiVersion` and `kind`, in a `v1` `List`; keys sorted so
    /// the same table always reads the same.
    public func json() throws -> [UInt8] {
        var items: [ListedObject] = []
        items += snapshot.services.map { ListedObject(apiVersion: "v1", kind: "Service", object: $0) }
        items += snapshot.endpoints.map { ListedObject(apiVersion: "v1", kind: "Endpoints", object: $0) }
        items += snapshot.endpointSlices.map { ListedObject(apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", object: $0) }
        items += snapshot.pods.map { ListedObject(apiVersion: "v1", kind: "Pod", object: $0) }
        items += snapshot.nodes.map { ListedObject(apiVersion: "v1", kind: "Node", object: $0) }
        items += snapshot.destinationRules.map { ListedObject(apiVersion: Self.istio, kind: "DestinationRule", object: $0) }
        items += snapshot.virtualServices.map { ListedObject(apiVersion: Self.istio, kind: "VirtualService", object: $0) }
        items += snapshot.gateways.map { ListedObject(apiVersion: Self.istio, kind: "Gateway", object: $0) }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return Array(try encoder.encode(List(items: items)))
    }

    private static let istio = "networking.istio.io/v1beta1"

    private struct List: Encodable {
        var apiVersion = "v1"
        var kind = "List"
        var items: [ListedObject]
    }

    /// An object's own fields with its type beside them, as the API server lists it.
    private struct ListedObject: Encodable {
        var apiVersion: String
        var kind: String
        var object: any Encodable & Sendable

        private enum TypeKeys: String, CodingKey { case apiVersion, kind }

        func encode(to encoder: any Encoder) throws {
            try object.encode(to: encoder)
            var container = encoder.container(keyedBy: TypeKeys.self)
            try container.encode(apiVersion, forKey: .apiVersion)
            try container.encode(kind, forKey: .kind)
        }
    }
}
