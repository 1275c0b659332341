/// Why TLS settings for the API server could not be used, naming the piece that was wrong.
public enum KubernetesTLSError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The pieces of TLS material, as a kubeconfig names them.
    public enum Material: String, Hashable, Sendable {
        case certificateAuthority = "certificate-authority"
        case clientCertificate = "client-certificate"
        case clientKey = "client-key"
    }

    /// The bytes were not PEM of the expected kind.
    case unreadablePEM(Material, reason: String)
    /// A client certificate needs its key and a key needs its certificate.
    case incompleteClientIdentity(missing: Material)
    /// NIOSSL refused the combination (a key that does not match the certificate, say).
    case contextRejected(reason: String)

    public var description: String {
        switch self {
        case .unreadablePEM(let material, let reason):
            "\(material.rawValue) is not a readable PEM \(material == .clientKey ? "private key" : "certificate") (\(reason)); check the file or the base64 -data value"
        case .incompleteClientIdentity(let missing):
            "\(missing.rawValue) is missing; client-certificate authentication needs both client-certificate and client-key"
        case .contextRejected(let reason):
            "the TLS settings cannot be used together (\(reason)); check that client-key belongs to client-certificate"
        }
    }
}
