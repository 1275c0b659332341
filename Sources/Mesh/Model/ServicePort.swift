/// One entry of a Service's `spec.ports`.
public struct ServicePort: Decodable, Hashable, Sendable {
    /// Required by Kubernetes only when a service has more than one port.
    public var name: String?
    public var declaredProtocol: PortProtocol?
    public var port: Int
    public var declaredTargetPort: IntOrString?
    public var nodePort: Int?
    /// The application protocol (`grpc`, `http2`, `kubernetes.io/h2c`, ...), which says how the
    /// proxy speaks to the port's backends.
    public var appProtocol: String?

    public init(
        name: String? = nil, protocol: PortProtocol? = nil, port: Int,
        targetPort: IntOrString? = nil, nodePort: Int? = nil, appProtocol: String? = nil
    ) {
        self.appProtocol = appProtocol
        self.name = name
        self.declaredProtocol = `protocol`
        self.port = port
        self.declaredTargetPort = targetPort
        self.nodePort = nodePort
    }

    public var `protocol`: PortProtocol { declaredProtocol ?? .tcp }
    /// Kubernetes defaults the target port to the service port.
    public var targetPort: IntOrString { declaredTargetPort ?? .number(port) }

    /// Whether the port's backends speak HTTP/2 in clear text, as Istio reads a port: by its
    /// `appProtocol` (`grpc`, `grpc-web`, `http2`, `h2c`, `kubernetes.io/h2c`) or, without one, by
    /// its name's prefix (`grpc`, `grpc-...`, `http2`, `http2-...`, `h2c`).
    public var speaksHTTP2: Bool {
        if let appProtocol {
            return ["grpc", "grpc-web", "http2", "h2c", "kubernetes.io/h2c"].contains(appProtocol.lowercased())
        }
        let prefix = (name ?? "").lowercased().split(separator: "-", maxSplits: 1).first.map(String.init) ?? ""
        return ["grpc", "http2", "h2c"].contains(prefix)
    }

    enum CodingKeys: String, CodingKey {
        case name, port, nodePort, appProtocol
        case declaredProtocol = "protocol"
        case declaredTargetPort = "targetPort"
    }
}
