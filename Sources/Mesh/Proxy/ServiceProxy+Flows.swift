import NIOCore

extension ServiceProxy {
    /// Notes a flow carried to `backend` over `channel` (the backend connection or tunnel
    /// stream), with the path that channel takes.
    func noteFlow(
        to backend: ServiceBackend, over channel: Channel, route: ProxyRoute, transport: ProxiedFlow.Transport, client: SocketAddress?
    ) {
        let path: PeerPathKind
        let via: SocketAddress?
        let tunnelled = dialer.usesTunnel(backend)
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
        let portName = route.portName.isEmpty ? String(route.address.port) : route.portName
        flowLog.record(ProxiedFlow(
            id: 0, service: "\(route.service):\(portName)", transport: transport, client: client?.ipPortText,
            backend: backend.description, node: backend.nodeName, path: path, tunnelled: tunnelled, via: via?.ipPortText,
            openedAt: Double(host.now.uptimeNanoseconds) / 1e9))
    }

    /// Calls `observer` with every flow from now on (the ring keeps only the recent ones).
    public func observeFlows(_ observer: @escaping (ProxiedFlow) -> Void) {
        flowLog.observe(observer)
    }

    /// The recent flows, oldest first.
    public var recentFlows: [ProxiedFlow] { flowLog.flows }
}
