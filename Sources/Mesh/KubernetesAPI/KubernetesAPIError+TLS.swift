import NIOSSL

extension KubernetesAPIError {
    /// NIOSSL's errors as `tlsHandshake`, so logs and the reflector's status say "TLS" and what
    /// BoringSSL objected to; any other error is returned unchanged. A TCP close without TLS's
    /// close_notify is the network cutting the stream, not a TLS problem: `connectionClosed`.
    static func describingTLS(_ error: any Error) -> any Error {
        switch error {
        case NIOSSLError.uncleanShutdown: KubernetesAPIError.connectionClosed
        case let error as NIOSSLError: KubernetesAPIError.tlsHandshake(reason: "\(error)")
        case let error as NIOSSLExtraError: KubernetesAPIError.tlsHandshake(reason: "\(error)")
        case let error as BoringSSLError: KubernetesAPIError.tlsHandshake(reason: "\(error)")
        default: error
        }
    }
}
