import NIOSSL

/// How the client speaks TLS to an https API server: which certificate authorities it trusts,
/// which certificate (if any) proves who it is, and the name the server's certificate must carry.
///
/// Certificates and keys arrive as PEM bytes, never as paths: `Mesh` reads no files. The Linux
/// side (kubeconfig, service-account files) reads them and hands the bytes in. They are parsed
/// here, at once, so a bad bundle is reported when the agent starts rather than on the first
/// connection.
public struct KubernetesTLSConfiguration: Sendable {
    /// Whom to trust for the server's certificate.
    public enum Trust: Sendable {
        /// The operating system's bundle (what an https client does when given nothing).
        case systemDefault
        /// Only these authorities (a kubeconfig's `certificate-authority`, the service-account `ca.crt`).
        case authorities([NIOSSLCertificate])
        /// No verification at all (a kubeconfig's `insecure-skip-tls-verify: true`). The connection
        /// is encrypted but anyone on the path can impersonate the server.
        case anyone
    }

    public var trust: Trust
    /// The client certificate chain (leaf first) and its key, for client-certificate authentication.
    public var clientIdentity: (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey)?
    /// The name to send in SNI and to check the server's certificate against, when it differs
    /// from the endpoint's host (a kubeconfig's `tls-server-name`). An IP address endpoint without
    /// one is checked against the certificate's IP subject alternative names.
    public var serverName: String?

    public init(
        trust: Trust = .systemDefault, clientIdentity: (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey)? = nil,
        serverName: String? = nil
    ) {
        self.trust = trust
        self.clientIdentity = clientIdentity
        self.serverName = serverName
    }

    /// Parses PEM inputs: a CA bundle (nil: the system's), and a client certificate chain with
    /// its key (both or neither).
    public init(
        certificateAuthorityPEM: [UInt8]?, clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil,
        serverName: String? = nil, skipsVerification: Bool = false
    ) throws(KubernetesTLSError) {
        if skipsVerification {
            trust = .anyone
        } else if let certificateAuthorityPEM {
            trust = .authorities(try Self.certificates(certificateAuthorityPEM, role: .certificateAuthority))
        } else {
            trust = .systemDefault
        }
        switch (clientCertificatePEM, clientKeyPEM) {
        case (nil, nil):
            clientIdentity = nil
        case (let certificate?, let key?):
            let chain = try Self.certificates(certificate, role: .clientCertificate)
            let privateKey: NIOSSLPrivateKey
            do { privateKey = try NIOSSLPrivateKey(bytes: key, format: .pem) } catch {
                throw .unreadablePEM(.clientKey, reason: "\(error)")
            }
            clientIdentity = (chain, privateKey)
        case (.some, nil):
            throw .incompleteClientIdentity(missing: .clientKey)
        case (nil, .some):
            throw .incompleteClientIdentity(missing: .clientCertificate)
        }
        self.serverName = serverName?.isEmpty == true ? nil : serverName
    }

    /// The NIOSSL context for connections to `endpoint` (TLS 1.2 or newer, hostname checked
    /// unless trust is `.anyone`).
    public func makeContext() throws(KubernetesTLSError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch trust {
        case .systemDefault:
            configuration.trustRoots = .default
        case .authorities(let certificates):
            configuration.trustRoots = .certificates(certificates)
        case .anyone:
            configuration.certificateVerification = .none
        }
        if let clientIdentity {
            configuration.certificateChain = clientIdentity.chain.map { .certificate($0) }
            configuration.privateKey = .privateKey(clientIdentity.key)
        }
        do { return try NIOSSLContext(configuration: configuration) } catch {
            throw .contextRejected(reason: "\(error)")
        }
    }

    private static func certificates(_ pem: [UInt8], role: KubernetesTLSError.Material) throws(KubernetesTLSError) -> [NIOSSLCertificate] {
        let certificates: [NIOSSLCertificate]
        do { certificates = try NIOSSLCertificate.fromPEMBytes(pem) } catch {
            throw .unreadablePEM(role, reason: "\(error)")
        }
        guard !certificates.isEmpty else { throw .unreadablePEM(role, reason: "no CERTIFICATE block") }
        return certificates
    }
}
