/// Why a request to the API server failed, in words for the status output and logs.
public enum KubernetesAPIError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The TLS settings (CA bundle, client certificate or key) cannot be used.
    case tlsConfiguration(KubernetesTLSError)
    /// The TLS handshake failed: an untrusted or misnamed server certificate, or the server
    /// refused the client's certificate.
    case tlsHandshake(reason: String)
    /// The endpoint's host name did not resolve to an IPv4 address.
    case unresolvableHost(String)
    /// The server answered with an error status (its Status object when it sent one).
    case status(code: Int, KubernetesStatus?)
    /// The connection ended before the response (or the watch stream) was complete.
    case connectionClosed
    /// Nothing arrived for this long.
    case idleTimeout(seconds: Int64)
    /// A watch line grew past the limit without a newline.
    case lineTooLong(bytes: Int)
    /// A list, patch or error body grew past the limit.
    case bodyTooLarge(bytes: Int)
    /// The response body was not a list of the expected kind.
    case invalidResponse(String)

    /// The server no longer has the requested resource version: list again.
    public var isGone: Bool {
        if case .status(let code, let status) = self { return code == 410 || (status?.isGone ?? false) }
        return false
    }

    public var description: String {
        switch self {
        case .tlsConfiguration(let error): "TLS settings for the API server: \(error)"
        case .tlsHandshake(let reason): "TLS handshake with the API server failed (\(reason)); check the CA bundle, the server name and the client certificate"
        case .unresolvableHost(let host): "cannot resolve API server host \"\(host)\"; use an IPv4 address"
        case .status(let code, let status): "API server answered \(code)\(status.map { ": \($0.reason ?? "") \($0.message ?? "")" } ?? "")"
        case .connectionClosed: "connection to the API server closed before the response was complete"
        case .idleTimeout(let seconds): "API server sent nothing for \(seconds) s"
        case .lineTooLong(let bytes): "watch event longer than \(bytes) bytes without a newline"
        case .bodyTooLarge(let bytes): "response body larger than \(bytes) bytes"
        case .invalidResponse(let reason): "unreadable API response: \(reason)"
        }
    }
}
