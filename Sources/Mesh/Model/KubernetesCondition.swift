/// A status condition (`type` + `status`) as Pods and Nodes report them.
public struct KubernetesCondition: Decodable, Hashable, Sendable {
    public var type: String
    public var status: Status
    public var reason: String?
    public var message: String?

    public init(type: String, status: Status, reason: String? = nil, message: String? = nil) {
        self.type = type
        self.status = status
        self.reason = reason
        self.message = message
    }

    public enum Status: String, Decodable, Hashable, Sendable, CaseIterable {
        case `true` = "True"
        case `false` = "False"
        case unknown = "Unknown"
    }
}

extension Array where Element == KubernetesCondition {
    /// True only when the condition of this type is present and "True".
    public func isTrue(_ type: String) -> Bool {
        first { $0.type == type }?.status == .true
    }
}
