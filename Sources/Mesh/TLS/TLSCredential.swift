import NIOSSL

/// A certificate chain (leaf first) and its private key, read from PEM as a `kubernetes.io/tls`
/// Secret holds them (`tls.crt`, `tls.key`): what a TLS server presents.
public struct TLSCredential: Sendable {
    public var certificateChain: [NIOSSLCertificate]
    public var privateKey: NIOSSLPrivateKey

    public init(certificateChainPEM: [UInt8], privateKeyPEM: [UInt8]) throws(TLSCredentialError) {
        certificateChain = try Self.certificates(fromPEM: certificateChainPEM, field: "tls.crt")
        do { privateKey = try NIOSSLPrivateKey(bytes: privateKeyPEM, format: .pem) } catch {
            throw TLSCredentialError(field: "tls.key", problem: "is not a PEM private key (\(error))")
        }
    }

    /// The credential of a `kubernetes.io/tls` Secret.
    public init(secret: Secret) throws(TLSCredentialError) {
        guard let chain = secret.value(forKey: "tls.crt"), let key = secret.value(forKey: "tls.key") else {
            throw TLSCredentialError(
                field: secret.value(forKey: "tls.crt") == nil ? "tls.crt" : "tls.key",
                problem: "is missing (a \(Secret.tlsType) Secret holds tls.crt and tls.key)")
        }
        try self.init(certificateChainPEM: chain, privateKeyPEM: key)
    }

    /// A TLS 1.2+ server configuration presenting this credential.
    public var serverConfiguration: TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) }, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }

    /// The certificates of a PEM bundle; `field` names the Secret key they came from in errors.
    public static func certificates(fromPEM pem: [UInt8], field: String) throws(TLSCredentialError) -> [NIOSSLCertificate] {
        let parsed: [NIOSSLCertificate]
        do { parsed = try NIOSSLCertificate.fromPEMBytes(pem) } catch {
            throw TLSCredentialError(field: field, problem: "is not a PEM certificate bundle (\(error))")
        }
        guard !parsed.isEmpty else { throw TLSCredentialError(field: field, problem: "holds no certificate") }
        return parsed
    }
}
