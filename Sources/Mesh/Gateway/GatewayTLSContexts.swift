import NIOSSL

/// The server contexts of the gateway's HTTPS ports, built from the Secrets their servers name
/// (`tls.credentialName`, in the Gateway's namespace): each presents the certificate of the
/// first server whose hosts match the name the client asked for (SNI), else the port's first
/// usable server's.
///
/// A port with a `MUTUAL` server asks every client for a certificate and accepts only one that
/// chains to a CA in that server's Secret (`ca.crt`, as Istio reads a combined credential) or in
/// the Secret `<credentialName>-cacert` (`ca.crt` or `cacert`);
/// verification is per port in TLS, so `SIMPLE` servers sharing the port require one too (said
/// in the problems) rather than letting a `MUTUAL` host be reached without one.
struct GatewayTLSContexts {
    private(set) var contexts: [UInt16: NIOSSLContext] = [:]
    /// Credentials that cannot be used, in words, sorted.
    private(set) var problems: [String] = []

    init() {}

    init(routes: GatewayRoutes, secret: (ObjectKey) -> Secret?) {
        var problems: [String] = []
        for port in routes.ports {
            guard let listener = routes.listeners[port], listener.protocol == .https else { continue }
            var choices: [(hosts: [HostPattern], credential: TLSCredential)] = []
            for server in listener.servers {
                guard let key = server.credential else { continue }
                let label = "Gateway \(server.gateway) port \(port) credentialName \(key.name)"
                guard let stored = secret(key) else {
                    problems.append("\(label): no Secret \(key); its hosts get the port's other certificates")
                    continue
                }
                do {
                    choices.append((server.hosts.map(\.pattern), try TLSCredential(secret: stored)))
                } catch {
                    problems.append("\(label): Secret \(key) \(error)")
                }
            }
            guard let fallback = choices.first else {
                problems.append("Gateway port \(port): no usable certificate; its connections are closed")
                continue
            }
            var configuration = fallback.credential.serverConfiguration
            // HTTP/2 for clients that offer it (ALPN), HTTP/1.1 for the rest.
            configuration.applicationProtocols = ["h2", "http/1.1"]
            let mutual = listener.servers.filter { $0.tls?.mode == .mutual && $0.credential != nil }
            if !mutual.isEmpty {
                let authorities = mutual.compactMap { server -> [NIOSSLCertificate]? in
                    guard let key = server.credential, secret(key) != nil else { return nil }
                    let label = "Gateway \(server.gateway) port \(port) credentialName \(key.name)"
                    guard let (pem, holder, field) = Self.clientAuthority(of: key, secret: secret) else {
                        problems.append("\(label): MUTUAL needs ca.crt in Secret \(key) or Secret \(key.name)-cacert, the CA clients' certificates must chain to")
                        return nil
                    }
                    do { return try TLSCredential.certificates(fromPEM: pem, field: field) } catch {
                        problems.append("\(label): Secret \(holder) \(error)")
                        return nil
                    }
                }.flatMap { $0 }
                guard !authorities.isEmpty else {
                    problems.append("Gateway port \(port): MUTUAL without a usable ca.crt; its connections are closed")
                    continue
                }
                if mutual.count < listener.servers.count {
                    problems.append("Gateway port \(port): SIMPLE and MUTUAL servers share it; every client there must present a certificate")
                }
                configuration.certificateVerification = .noHostnameVerification
                configuration.trustRoots = .certificates(authorities)
            }
            if choices.count > 1 {
                let candidates = choices
                configuration.sslContextCallback = { hello, promise in
                    let name = hello.serverHostname.map(HostPattern.normalized)
                    guard let name, let chosen = candidates.first(where: { $0.hosts.contains { $0.matches(name) } }) else {
                        promise.succeed(.noChanges)
                        return
                    }
                    var override = NIOSSLContextConfigurationOverride()
                    override.certificateChain = chosen.credential.certificateChain.map { .certificate($0) }
                    override.privateKey = .privateKey(chosen.credential.privateKey)
                    promise.succeed(override)
                }
            }
            do {
                contexts[port] = try NIOSSLContext(configuration: configuration)
            } catch {
                problems.append("Gateway port \(port): the TLS library refused its certificates (\(error))")
            }
        }
        self.problems = problems.sorted()
    }

    /// The CA a MUTUAL server's clients must chain to, where Istio looks for it: `ca.crt` in the
    /// credential's own Secret, else `ca.crt` or `cacert` in the Secret `<credentialName>-cacert`.
    private static func clientAuthority(
        of credential: ObjectKey, secret: (ObjectKey) -> Secret?
    ) -> (pem: [UInt8], secret: ObjectKey, field: String)? {
        if let pem = secret(credential)?.value(forKey: "ca.crt") { return (pem, credential, "ca.crt") }
        let separate = ObjectKey(namespace: credential.namespace, name: credential.name + "-cacert")
        guard let stored = secret(separate) else { return nil }
        for field in ["ca.crt", "cacert"] {
            if let pem = stored.value(forKey: field) { return (pem, separate, field) }
        }
        return nil
    }
}
