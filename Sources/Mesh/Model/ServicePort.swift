/// One entry of a Service's `spec.ports`.
public struct ServicePort: Decodable, Hashable, Sendable {
    /// Required by Kubernetes only when a service has more than one port.
    public var name: String?
    public var declaredProtocol: PortProtocol?
    public var port: Int
    public var declaredTargetPort: IntOrString?
    public var nodePort: Int?

    public init(
        name: String? = nil, protocol: PortProtocol? = nil, port: Int,
        targetPort: IntOrString? = nil, nodePort: Int? = nil
    ) {
        self.name = name
        self.declaredProtocol = `protocol`
        self.port = port
        self.declaredTargetPort = targetPort
        self.nodePort = nodePort
    }

    public var `protocol`: PortProtocol { declaredProtocol ?? .tcp }
    /// Kubernetes defaults the target port to the service port.
    public var targetPort: IntOrString { declaredTargetPort ?? .number(port) }

    enum CodingKeys: String, CodingKey {
        case name, port, nodePort
        case declaredProtocol = "protocol"
        case declaredTargetPort = "targetPort"
    }
}
