import NIOCore

/// Any object the control plane understands, chosen by `apiVersion` and `kind`.
///
/// An object of a kind the mesh does not use (a Deployment in a manifest directory, say)
/// becomes `.unknown`, not an error: manifests and watch streams legitimately carry them.
///
/// Indirect, so a value is one pointer to a box of its own case's size: the service table's
/// dictionaries hold one per object and keep ~1.5 empty slots per entry, which inline would
/// each be as large as the largest kind.
public indirect enum KubernetesObject: Decodable, Hashable, Sendable {
    case service(Service)
    case endpoints(Endpoints)
    case endpointSlice(EndpointSlice)
    case pod(Pod)
    case node(Node)
    case secret(Secret)
    case destinationRule(DestinationRule)
    case virtualService(VirtualService)
    case gateway(Gateway)
    case unknown(apiVersion: String, kind: String, name: String)

    /// The Istio API versions whose networking objects share one schema.
    public static let istioNetworkingVersions = ["networking.istio.io/v1alpha3", "networking.istio.io/v1beta1", "networking.istio.io/v1"]

    enum CodingKeys: String, CodingKey { case apiVersion, kind }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let apiVersion = try container.decode(String.self, forKey: .apiVersion)
        let kind = try container.decode(String.self, forKey: .kind)
        let istio = Self.istioNetworkingVersions.contains(apiVersion)
        switch (apiVersion, kind) {
        case ("v1", "Service"): self = .service(try Service(from: decoder))
        case ("v1", "Endpoints"): self = .endpoints(try Endpoints(from: decoder))
        case ("discovery.k8s.io/v1", "EndpointSlice"): self = .endpointSlice(try EndpointSlice(from: decoder))
        case ("v1", "Pod"): self = .pod(try Pod(from: decoder))
        case ("v1", "Node"): self = .node(try Node(from: decoder))
        case ("v1", "Secret"): self = .secret(try Secret(from: decoder))
        case (_, "DestinationRule") where istio: self = .destinationRule(try DestinationRule(from: decoder))
        case (_, "VirtualService") where istio: self = .virtualService(try VirtualService(from: decoder))
        case (_, "Gateway") where istio: self = .gateway(try Gateway(from: decoder))
        default:
            let identity = try? ObjectIdentity(from: decoder)
            self = .unknown(apiVersion: apiVersion, kind: kind, name: identity?.metadata?.name ?? "")
        }
    }

    public var kind: String {
        switch self {
        case .service: "Service"
        case .endpoints: "Endpoints"
        case .endpointSlice: "EndpointSlice"
        case .pod: "Pod"
        case .node: "Node"
        case .secret: "Secret"
        case .destinationRule: "DestinationRule"
        case .virtualService: "VirtualService"
        case .gateway: "Gateway"
        case .unknown(_, let kind, _): kind
        }
    }

    /// The object's metadata; nil for `.unknown`, whose metadata is not kept.
    public var metadata: ObjectMeta? {
        switch self {
        case .service(let object): object.metadata
        case .endpoints(let object): object.metadata
        case .endpointSlice(let object): object.metadata
        case .pod(let object): object.metadata
        case .node(let object): object.metadata
        case .secret(let object): object.metadata
        case .destinationRule(let object): object.metadata
        case .virtualService(let object): object.metadata
        case .gateway(let object): object.metadata
        case .unknown: nil
        }
    }

    public static func decode(json: ByteBuffer) throws(KubernetesDecodingError) -> KubernetesObject {
        try KubernetesDecoder.decode(KubernetesObject.self, json: json)
    }

    public static func decode(json: [UInt8]) throws(KubernetesDecodingError) -> KubernetesObject {
        try KubernetesDecoder.decode(KubernetesObject.self, json: json)
    }

    /// Decodes a single-document manifest.
    public static func decode(yaml: String) throws(KubernetesDecodingError) -> KubernetesObject {
        try KubernetesDecoder.decode(KubernetesObject.self, yaml: yaml)
    }

    /// Decodes every document of a multi-document manifest (`---` separated), as
    /// `kubectl apply -f` does. A `kind: List` document contributes its items. A malformed
    /// document or item is skipped and reported; only text that is not YAML at all throws.
    public static func decodeDocuments(yaml: String) throws(KubernetesDecodingError)
        -> (objects: [KubernetesObject], skipped: [DecodingProblem])
    {
        var objects: [KubernetesObject] = []
        var skipped: [DecodingProblem] = []
        for (number, document) in try KubernetesDecoder.yamlDocuments(yaml).enumerated() {
            do {
                let identity = try KubernetesDecoder.decode(ObjectIdentity.self, yaml: document)
                if identity.kind == "List" {
                    let list = try KubernetesDecoder.decode(KubernetesList<KubernetesObject>.self, yaml: document)
                    objects += list.items
                    skipped += list.skipped.map { problem in
                        var problem = problem
                        problem.document = number
                        return problem
                    }
                } else {
                    objects.append(try KubernetesDecoder.decode(KubernetesObject.self, yaml: document))
                }
            } catch .invalidObject(var problem) {
                problem.document = number
                skipped.append(problem)
            } catch {
                skipped.append(DecodingProblem(document: number, fieldPath: "", reason: error.description))
            }
        }
        return (objects, skipped)
    }
}
