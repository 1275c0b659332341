/// A `v1` Status, the API server's error report (carried by watch ERROR events and failed requests).
public struct KubernetesStatus: Decodable, Hashable, Sendable, CustomStringConvertible {
    public var status: String?
    public var message: String?
    public var reason: String?
    public var code: Int?

    public init(status: String? = nil, message: String? = nil, reason: String? = nil, code: Int? = nil) {
        self.status = status
        self.message = message
        self.reason = reason
        self.code = code
    }

    /// The resource version asked for is too old: the client must list again.
    public var isGone: Bool { code == 410 || reason == "Gone" || reason == "Expired" }

    public var description: String {
        "\(code.map(String.init) ?? "no code") \(reason ?? "no reason"): \(message ?? "")"
    }
}
