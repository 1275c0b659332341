import Mesh
import NIOSSL

/// TLS for simulated pods, built from PEM bytes as a `kubernetes.io/tls` Secret holds them: the
/// server side of an HTTPS pod, and the authorities an HTTPS client trusts.
///
/// The proxy never sees into these connections: an HTTPS request reaching the right pod with a
/// verified certificate shows that TLS passed through the mesh untouched.
public enum WorkloadTLS {
    /// A server context presenting `certificateChainPEM` (leaf first) with `privateKeyPEM`.
    public static func serverContext(
        certificateChainPEM: [UInt8], privateKeyPEM: [UInt8]
    ) throws(TLSCredentialError) -> NIOSSLContext {
        let credential = try TLSCredential(certificateChainPEM: certificateChainPEM, privateKeyPEM: privateKeyPEM)
        return try context(credential.serverConfiguration, field: "tls.crt")
    }

    /// A client context that trusts only the authorities in `trustedPEM` and checks the server's
    /// name, as a pod with a mounted CA bundle does.
    public static func clientContext(trustedPEM: [UInt8], field: String = "ca.crt") throws(TLSCredentialError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.trustRoots = .certificates(try TLSCredential.certificates(fromPEM: trustedPEM, field: field))
        configuration.certificateVerification = .fullVerification
        return try context(configuration, field: field)
    }

    private static func context(_ configuration: TLSConfiguration, field: String) throws(TLSCredentialError) -> NIOSSLContext {
        do { return try NIOSSLContext(configuration: configuration) } catch {
            throw TLSCredentialError(field: field, problem: "was refused by the TLS library (\(error))")
        }
    }
}
