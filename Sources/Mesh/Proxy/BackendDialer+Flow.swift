import NIOCore

extension BackendDialer {
    /// The flow record of a connection to `backend` this dialer made, over `channel` (the
    /// backend connection or the tunnel stream), with the path that channel takes.
    func flow(
        to backend: ServiceBackend, over channel: Channel, service: String, transport: ProxiedFlow.Transport, client: SocketAddress?
    ) -> ProxiedFlow {
        let path: PeerPathKind
        let via: SocketAddress?
        let tunnelled = usesTunnel(backend)
        if let stream = channel as? TunnelStreamChannel {
            path = stream.pathKind
            via = stream.parent?.remoteAddress
        } else if backend.nodeName == host.name {
            path = .local
            via = backend.address.socketAddress(port: backend.port)
        } else {
            path = .direct
            via = tunnelled ? nil : backend.address.socketAddress(port: backend.port)
        }
        return ProxiedFlow(
            id: 0, service: service, transport: transport, client: client?.ipPortText, backend: backend.description,
            node: backend.nodeName, path: path, tunnelled: tunnelled, via: via?.ipPortText,
            openedAt: Double(host.now.uptimeNanoseconds) / 1e9)
    }
}
