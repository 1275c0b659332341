import NIOSSL

/// The server contexts of the gateway's HTTPS ports, built from the Secrets their servers name
/// (`tls.credentialName`, in the Gateway's namespace): each presents the certificate of the
/// first server whose hosts match the name the client asked for (SNI), else the port's first
/// usable server's.
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
}
