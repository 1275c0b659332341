/// An object a reflector can follow: decodable, and carrying the metadata whose
/// `resourceVersion` a watch resumes from.
public protocol KubernetesAPIObject: Decodable, Hashable, Sendable {
    var metadata: ObjectMeta { get }
}

extension Service: KubernetesAPIObject {}
extension Endpoints: KubernetesAPIObject {}
extension EndpointSlice: KubernetesAPIObject {}
extension Pod: KubernetesAPIObject {}
extension Node: KubernetesAPIObject {}
extension Secret: KubernetesAPIObject {}
extension DestinationRule: KubernetesAPIObject {}
extension VirtualService: KubernetesAPIObject {}
extension Gateway: KubernetesAPIObject {}
