import NIOCore

/// The far agent's half of a stream: dials the stream's target through the host (a TCP
/// connection, or a UDP socket for a UDP target) and joins it to the stream.
final class TunnelTargetDialer: Sendable {
    let host: any Host
    let connectTimeout: TimeAmount
    /// Datagrams the UDP bridges dropped for full streams.
    let datagramDrops = TunnelDatagramDrops()

    init(host: any Host, configuration: TunnelConfiguration) {
        self.host = host
        self.connectTimeout = configuration.targetConnectTimeout
    }

    /// Succeeds once the target is reached and joined to `stream`; fails with the host's error.
    func connect(_ stream: TunnelStreamChannel, to target: TunnelTarget) -> EventLoopFuture<Void> {
        let remote = target.address.socketAddress(port: target.port)
        switch target.transport {
        case .tcp:
            let splice = ChannelSpliceHandler()
            let options = StreamConnectOptions(remote: remote, allowRemoteHalfClosure: true, connectTimeout: connectTimeout)
            return host.connectStream(options) { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(splice) }
            }.flatMap { targetChannel in
                // The peer may have reset the stream while the target was being dialed.
                guard stream.isOpen else {
                    targetChannel.close(promise: nil)
                    return stream.eventLoop.makeFailedFuture(ChannelError.ioOnClosedChannel)
                }
                return stream.setOption(ChannelOptions.allowRemoteHalfClosure, value: true).flatMapThrowing {
                    try stream.pipeline.syncOperations.addHandler(splice)
                    splice.startReading()
                }.flatMapError { error in
                    targetChannel.close(promise: nil)
                    return stream.eventLoop.makeFailedFuture(error)
                }
            }
        case .udp:
            let bridge = TunnelDatagramBridge(target: remote, eventLoop: host.eventLoop, drops: datagramDrops)
            return host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))) { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(bridge.socketHandler) }
            }.flatMapThrowing { socket in
                guard stream.isOpen else {
                    socket.close(promise: nil)
                    throw ChannelError.ioOnClosedChannel
                }
                try stream.pipeline.syncOperations.addHandler(bridge.streamHandler)
                bridge.join(socket: socket, stream: stream)
            }
        }
    }
}
