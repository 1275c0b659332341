import NIOCore

extension ServiceProxy {
    /// Notes a flow carried to `backend` over `channel` (the backend connection or tunnel
    /// stream), with the path that channel takes.
    func noteFlow(
        to backend: ServiceBackend, over channel: Channel, route: ProxyRoute, transport: ProxiedFlow.Transport, client: SocketAddress?
    ) {
        let portName = route.portName.isEmpty ? String(route.address.port) : route.portName
        flowLog.record(dialer.flow(
            to: backend, over: channel, service: "\(route.service):\(portName)", transport: transport, client: client))
    }

    /// Keeps `flow` (carried by another part of the agent: the SOCKS5 node proxy) with the proxy's own.
    func record(_ flow: ProxiedFlow) {
        flowLog.record(flow)
    }

    /// Calls `observer` with every flow from now on (the ring keeps only the recent ones).
    public func observeFlows(_ observer: @escaping (ProxiedFlow) -> Void) {
        flowLog.observe(observer)
    }

    /// The recent flows, oldest first.
    public var recentFlows: [ProxiedFlow] { flowLog.flows }
}
