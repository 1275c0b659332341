import Mesh
import NIOSSL

extension ExchangeError {
    /// A TLS failure in words, for the summary table: NIOSSL's own descriptions carry BoringSSL's
    /// numeric error stack and source paths, which say little to someone reading a run.
    static func tls(_ error: any Error) -> ExchangeError? {
        if let error = error as? NIOSSLExtraError, error == .failedToValidateHostname {
            return ExchangeError("TLS: the server's certificate is not valid for the name asked for (\(error))")
        }
        guard let error = error as? NIOSSLError else { return nil }
        switch error {
        case .handshakeFailed(.sslError(let stack)), .handshakeFailed(.unknownError(let stack)):
            let reasons = stack.map { Self.reason(in: "\($0)") }
            if reasons.contains("CERTIFICATE_VERIFY_FAILED") {
                return ExchangeError("TLS: the server's certificate did not verify against the trusted authorities (CERTIFICATE_VERIFY_FAILED)")
            }
            return ExchangeError("TLS handshake failed: \(reasons.joined(separator: ", "))")
        case .uncleanShutdown:
            return ExchangeError("TLS: the connection ended without a TLS close")
        default:
            return ExchangeError("TLS: \(error)")
        }
    }

    /// `CERTIFICATE_VERIFY_FAILED` out of `Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED at /path:320`.
    private static func reason(in description: String) -> String {
        let beforeLocation = description.split(separator: " at ", maxSplits: 1).first.map(String.init) ?? description
        return beforeLocation.split(separator: ":").last.map(String.init) ?? beforeLocation
    }
}
