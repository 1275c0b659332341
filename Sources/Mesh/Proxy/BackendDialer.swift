import NIOCore

/// Opens the connection to one backend: through the tunnel when the backend runs on another
/// node and this agent has a tunnel, else straight to the backend's address.
struct BackendDialer: Sendable {
    let host: any Host
    let tunnel: (any Tunnel)?
    let connectTimeout: TimeAmount

    /// Whether traffic to `backend` goes through the tunnel.
    func usesTunnel(_ backend: ServiceBackend) -> Bool {
        guard tunnel != nil, let node = backend.nodeName else { return false }
        return node != host.name
    }

    /// A stream to `backend` whose reads wait for the proxy to ask (`autoRead` off), so nothing
    /// the backend sends first (a server greeting) is read before the splice is in place.
    func dialStream(_ backend: ServiceBackend) -> EventLoopFuture<Channel> {
        if let tunnel, usesTunnel(backend), let node = backend.nodeName {
            let target = TunnelTarget(node: node, address: backend.address, port: backend.port, transport: .tcp)
            return tunnel.openStream(to: target, on: host.eventLoop).flatMap { channel in
                channel.turnAutoReadOff().map { channel }
            }
        }
        let options = StreamConnectOptions(
            remote: backend.address.socketAddress(port: backend.port), allowRemoteHalfClosure: true,
            connectTimeout: connectTimeout)
        return host.connectStream(options) { channel in
            channel.turnAutoReadOff()
        }
    }
}
