import NIOCore

/// When the request-level proxy tries a request again on another backend, as Envoy does for an
/// Istio route's `retries`: after a response whose status the policy names, a backend that
/// closed before answering, or a try that outlived `perTryTimeout`, while attempts are left.
///
/// A try is abandoned only before any of its response reached the client. The request is
/// replayed from a copy kept while it stays under `maximumReplayBytes`; a longer body is not
/// retried (Envoy's buffer limit does the same). Each retry prefers a backend not tried yet
/// (Istio's `previous_hosts` predicate) and falls back to any when all were.
///
/// Failing to connect is retried by the proxy's own dialling (`maximumDialAttempts`) whatever
/// the policy says: nothing was sent, so nothing can be done twice.
public struct HTTPRetryPolicy: Hashable, Sendable {
    /// Tries after the first.
    public var attempts: Int
    /// How long one try may wait for its response to begin; nil: only the route's timeout.
    public var perTryTimeout: TimeAmount?
    /// Envoy's `retry_on` conditions, lower-cased.
    public var conditions: Set<String>
    /// Statuses retried under `retriable-status-codes`.
    public var statusCodes: Set<Int>

    /// The largest request (head excluded) kept to be replayed on another backend.
    public static let maximumReplayBytes = 64 * 1024

    public init(attempts: Int, perTryTimeout: TimeAmount? = nil, retryOn: String) {
        self.attempts = max(0, attempts)
        self.perTryTimeout = perTryTimeout
        var conditions = Set<String>()
        var statusCodes = Set<Int>()
        for item in retryOn.split(separator: ",") {
            let condition = item.filter { $0 != " " && $0 != "\t" }.lowercased()
            if let code = Int(condition) {
                // Istio turns a status in the list into a retriable status code.
                statusCodes.insert(code)
                conditions.insert("retriable-status-codes")
            } else if !condition.isEmpty {
                conditions.insert(condition)
            }
        }
        self.conditions = conditions
        self.statusCodes = statusCodes
    }

    /// Istio's `retryOn` when a route's `retries` leaves it out.
    public static let istioDefaultRetryOn = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"

    /// What Istio gives a route without `retries`: two more tries on a 503.
    public static let istioDefault: HTTPRetryPolicy = {
        var policy = HTTPRetryPolicy(attempts: 2, retryOn: istioDefaultRetryOn)
        policy.statusCodes = [503]
        return policy
    }()

    /// No retries.
    public static let none = HTTPRetryPolicy(attempts: 0, retryOn: "")

    /// Whether a response with `status` is retried.
    public func retries(status: Int) -> Bool {
        guard attempts > 0 else { return false }
        if conditions.contains("5xx"), status >= 500 { return true }
        if conditions.contains("gateway-error"), [502, 503, 504].contains(status) { return true }
        if conditions.contains("retriable-4xx"), status == 409 { return true }
        return conditions.contains("retriable-status-codes") && statusCodes.contains(status)
    }

    /// Whether a backend that closed the connection before its response began is retried.
    public var retriesReset: Bool {
        attempts > 0 && !conditions.isDisjoint(with: ["reset", "5xx"])
    }

    /// Whether a try that outlived `perTryTimeout` is retried (Envoy counts it as a 504).
    public var retriesTimeout: Bool { retries(status: 504) || (attempts > 0 && conditions.contains("reset")) }
}
