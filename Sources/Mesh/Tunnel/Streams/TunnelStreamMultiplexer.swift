import NIOCore

/// The streams of one tunnel connection: opens them, routes each frame to its stream, and
/// answers peers' open requests by dialing their targets.
///
/// Streams this side opens get odd ids when this side dialed the connection and even ids when it
/// answered, so the two ends never pick the same id. Confined to the connection's event loop.
final class TunnelStreamMultiplexer: @unchecked Sendable {
    unowned let connection: TunnelConnection
    private var streams: [UInt32: TunnelStreamChannel] = [:]
    private var nextStreamID: UInt32
    private(set) var streamsOpened = 0

    init(connection: TunnelConnection, opensOddStreams: Bool) {
        self.connection = connection
        self.nextStreamID = opensOddStreams ? 1 : 2
    }

    var openStreamCount: Int { streams.count }
    private var maximumStreams: Int { connection.endpoint.configuration.maximumStreamsPerConnection }
    private var budget: TunnelReceiveBudget { connection.endpoint.receiveBudget }

    private enum WindowReservation {
        case granted(UInt32)
        case refused(TunnelStreamFailure)
    }

    /// The most a UDP stream's window needs: a burst of datagrams of the largest size; the
    /// bridge drops what does not fit, as a UDP socket would.
    static let datagramStreamWindow = 64 * 1024

    /// A receive window for a new stream to `target` from the node's budget, or why there is none.
    private func reserveWindow(for target: TunnelTarget) -> WindowReservation {
        guard streams.count < maximumStreams else {
            return .refused(TunnelStreamFailure(.internalError, "\(maximumStreams) streams are already open on this connection"))
        }
        let wanted = Int(connection.endpoint.configuration.streamWindow)
        guard let window = budget.reserve(upTo: target.transport == .udp ? min(wanted, Self.datagramStreamWindow) : wanted) else {
            return .refused(TunnelStreamFailure(
                .internalError, "the receive budget of \(connection.endpoint.nodeName) (\(budget.capacity) bytes) is spent by open streams"))
        }
        return .granted(UInt32(window))
    }

    /// Opens a stream to `target`; succeeds once the far agent reached it.
    func openStream(to target: TunnelTarget) -> EventLoopFuture<Channel> {
        let eventLoop = connection.channel.eventLoop
        guard connection.isEstablished else {
            return eventLoop.makeFailedFuture(TunnelError.connectionLost(
                node: target.node, reason: connection.closeReason ?? "the connection is closing"))
        }
        let window: UInt32
        switch reserveWindow(for: target) {
        case .granted(let reserved): window = reserved
        case .refused(let failure): return eventLoop.makeFailedFuture(TunnelError.targetUnreachable(target, failure))
        }
        let id = nextStreamID
        nextStreamID &+= 2
        let promise = eventLoop.makePromise(of: Channel.self)
        let stream = TunnelStreamChannel(
            id: id, target: target, multiplexer: self, parent: connection.channel, receiveWindow: window)
        stream.openPromise = promise
        streams[id] = stream
        streamsOpened += 1
        stream.register()
        connection.send(.open(stream: id, target: target, window: window))
        connection.flush()
        return promise.futureResult
    }

    func receive(_ frame: TunnelFrame) throws {
        switch frame {
        case .ping, .pong:
            connection.receivePing(frame)
        case .packet(let packet):
            connection.receivePacket(packet)
        case .datagramOffer(let index, let candidates):
            connection.receiveDatagramOffer(index: index, candidates: candidates)
        case .open(let id, let target, let peerWindow):
            try receiveOpen(id: id, target: target, peerWindow: peerWindow)
        case .accepted(let id, let peerWindow):
            try streams[id]?.receiveAccepted(sendWindow: peerWindow)
        case .refused(let id, let failure):
            streams[id]?.receiveRefused(failure)
        case .data(let id, let payload):
            // Data for a stream closed here is dropped: the peer learns of the close from our
            // reset and stops.
            try streams[id]?.receiveData(payload)
        case .windowUpdate(let id, let increment):
            try streams[id]?.receiveWindowUpdate(increment)
        case .finish(let id):
            streams[id]?.receiveFinish()
        case .reset(let id, let failure):
            streams[id]?.receiveReset(failure)
        }
    }

    private func receiveOpen(id: UInt32, target: TunnelTarget, peerWindow: UInt32) throws {
        // The peer's ids have the other parity from ours.
        guard id % 2 != nextStreamID % 2, id != 0 else {
            throw TunnelProtocolError.streamViolation("the peer opened stream \(id), an id reserved for this side")
        }
        guard streams[id] == nil else {
            throw TunnelProtocolError.streamViolation("the peer opened stream \(id) twice")
        }
        let localNode = connection.endpoint.nodeName
        if let reason = connection.endpoint.configuration.targetPolicy.refusal(target, localNode) {
            connection.logger.warning("tunnel: refused a stream", metadata: [
                "target": "\(target)", "from": "\(connection.peerNode ?? "?")", "reason": "\(reason)"])
            connection.send(.refused(stream: id, TunnelStreamFailure(.notAllowed, reason)))
            connection.flush()
            return
        }
        let window: UInt32
        switch reserveWindow(for: target) {
        case .granted(let reserved):
            window = reserved
        case .refused(let failure):
            connection.send(.refused(stream: id, failure))
            connection.flush()
            return
        }
        let stream = TunnelStreamChannel(
            id: id, target: target, multiplexer: self, parent: connection.channel, receiveWindow: window)
        stream.grantInitialSendWindow(peerWindow)
        streams[id] = stream
        stream.register()
        connection.endpoint.targetDialer.connect(stream, to: target).whenComplete { result in
            switch result {
            case .success:
                guard stream.isOpen else { return }
                self.connection.send(.accepted(stream: id, window: window))
                stream.becomeActive()
            case .failure(let error):
                let failure = TunnelStreamFailure(dialing: error)
                self.connection.send(.refused(stream: id, failure))
                stream.closeSilently()
            }
            self.connection.flush()
        }
    }

    /// Sends a frame on behalf of a stream.
    func send(_ frame: TunnelFrame, flush: Bool = true) {
        connection.send(frame)
        if flush { connection.flush() }
    }

    /// The stream is closed and forgotten; its window goes back to the budget.
    func remove(_ id: UInt32) {
        guard let stream = streams.removeValue(forKey: id) else { return }
        budget.release(stream.receiveWindow)
    }

    /// The connection is gone: every stream fails with `error`, in id order.
    func connectionLost(_ error: TunnelError) {
        let lost = streams.keys.sorted().compactMap { streams[$0] }
        streams = [:]
        for stream in lost {
            budget.release(stream.receiveWindow)
            stream.fail(error)
        }
    }
}
