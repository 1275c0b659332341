/// A list response (`ServiceList`, `PodList`, ...): the items that decoded, the ones that did
/// not (so they can be logged), and the resource version to start watching from.
///
/// Decoding a list never fails because of one bad item; that item lands in `skipped`.
public struct KubernetesList<Item: Decodable & Hashable & Sendable>: Decodable, Hashable, Sendable {
    public var apiVersion: String?
    public var kind: String?
    public var resourceVersion: String?
    public var items: [Item]
    public var skipped: [DecodingProblem]

    public init(
        apiVersion: String? = nil, kind: String? = nil, resourceVersion: String? = nil,
        items: [Item], skipped: [DecodingProblem] = []
    ) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.resourceVersion = resourceVersion
        self.items = items
        self.skipped = skipped
    }

    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, items }
    enum MetadataKeys: String, CodingKey { case resourceVersion }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try container.decodeIfPresent(String.self, forKey: .apiVersion)
        kind = try container.decodeIfPresent(String.self, forKey: .kind)
        if container.contains(.metadata), try !container.decodeNil(forKey: .metadata) {
            let metadata = try container.nestedContainer(keyedBy: MetadataKeys.self, forKey: .metadata)
            resourceVersion = try metadata.decodeIfPresent(String.self, forKey: .resourceVersion)
        }
        items = []
        skipped = []
        for element in try container.decodeIfPresent([LenientElement<Item>].self, forKey: .items) ?? [] {
            switch element.result {
            case .success(let item): items.append(item)
            case .failure(let problem): skipped.append(problem)
            }
        }
    }
}

public typealias ServiceList = KubernetesList<Service>
public typealias EndpointsList = KubernetesList<Endpoints>
public typealias EndpointSliceList = KubernetesList<EndpointSlice>
public typealias PodList = KubernetesList<Pod>
public typealias NodeList = KubernetesList<Node>
public typealias SecretList = KubernetesList<Secret>
public typealias DestinationRuleList = KubernetesList<DestinationRule>
public typealias VirtualServiceList = KubernetesList<VirtualService>
public typealias GatewayList = KubernetesList<Gateway>
