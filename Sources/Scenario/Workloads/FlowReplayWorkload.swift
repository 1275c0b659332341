import Mesh
import NIOCore

/// Plays flows from a field capture again on a host, at their original pace: each flow opens
/// its own connection (or socket), sends the client's bytes at the times they were captured,
/// and counts as answered when the server sends something back, if the captured server did.
///
/// Servers answer differently in a simulation (other pod names, other times), so the replay
/// checks that answers come, not what they say. The outcome is decided as soon as as many
/// datagrams (UDP) or bytes (TCP) came back as in the capture, else when the server closes, else
/// `timeout` after the flow's last send.
public struct FlowReplayWorkload: Sendable {
    public var flows: [ReplayFlow]
    public var startAt: NIODeadline
    public var timeout: TimeAmount
    /// Where a flow goes in this run (the captured destination, or the node's agent for DNS, say).
    public var target: @Sendable (ReplayFlow) -> SocketAddress

    public init(
        flows: [ReplayFlow], startAt: NIODeadline, timeout: TimeAmount,
        target: @escaping @Sendable (ReplayFlow) -> SocketAddress = { $0.destination.socketAddress(port: $0.port) }
    ) {
        self.flows = flows
        self.startAt = startAt
        self.timeout = timeout
        self.target = target
    }

    /// Schedules the flows still ahead on `host`.
    public func start(on host: any Host, log: RequestLog) {
        let now = host.now
        for flow in flows {
            let due = startAt + flow.start
            guard due >= now else { continue }
            host.eventLoop.scheduleTask(deadline: due) { replay(flow, on: host, log: log) }
        }
    }

    private func replay(_ flow: ReplayFlow, on host: any Host, log: RequestLog) {
        let started = host.now
        let lastSend = flow.sends.last?.offset ?? .zero
        let deadline = started + max(lastSend, flow.clientClosedAt ?? .zero) + timeout
        let outcome = host.eventLoop.makePromise(of: Int.self)
        let opened: EventLoopFuture<Channel>
        let decide: () -> Void
        let destination = target(flow)
        switch flow.transport {
        case .tcp:
            let collector = ReplayAnswerCollector<ByteBuffer>(expected: flow.answeredBytes, outcome: outcome) { $0.readableBytes }
            decide = collector.decide
            opened = host.connectStream(StreamConnectOptions(remote: destination, allowRemoteHalfClosure: true)) { channel in
                channel.pipeline.addHandler(collector)
            }
        case .udp:
            let collector = ReplayAnswerCollector<AddressedEnvelope<ByteBuffer>>(expected: flow.answers, outcome: outcome) { _ in 1 }
            decide = collector.decide
            opened = host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 0))) { channel in
                channel.pipeline.addHandler(collector)
            }
        }
        opened.whenFailure { outcome.fail($0) }
        opened.whenSuccess { channel in
            for send in flow.sends {
                // Not before the connection is up: a send due earlier goes at once, in order.
                host.eventLoop.scheduleTask(deadline: max(started + send.offset, host.now)) {
                    let bytes = ByteBuffer(bytes: send.bytes)
                    switch flow.transport {
                    case .tcp: channel.writeAndFlush(bytes, promise: nil)
                    case .udp: channel.writeAndFlush(AddressedEnvelope(remoteAddress: destination, data: bytes), promise: nil)
                    }
                }
            }
            if let closedAt = flow.clientClosedAt, flow.transport == .tcp {
                host.eventLoop.scheduleTask(deadline: max(started + closedAt, host.now)) {
                    channel.close(mode: .output, promise: nil)
                }
            }
            host.eventLoop.scheduleTask(deadline: deadline) { decide() }
            outcome.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        outcome.futureResult.whenComplete { result in
            let latency = host.now - started
            switch result {
            case .success:
                log.record(RequestOutcome(startedAt: started, latency: latency, succeeded: true, backend: flow.target))
            case .failure(let error):
                host.logger.debug("replayed flow \(flow.client) -> \(flow.target) failed: \(error)")
                log.record(RequestOutcome(startedAt: started, latency: latency, succeeded: false, failure: "\(flow.target): \(error)"))
            }
        }
    }
}

/// Counts what comes back on a replayed flow (in `size` units: bytes, or datagrams) and decides
/// its outcome: answered once `expected` units came, or with anything at all when the server
/// closes or the time is up; with nothing expected, any end is a success.
final class ReplayAnswerCollector<Message>: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = Message

    private let expected: Int
    private let outcome: EventLoopPromise<Int>
    private let size: (Message) -> Int
    private var received = 0

    init(expected: Int, outcome: EventLoopPromise<Int>, size: @escaping (Message) -> Int) {
        self.expected = expected
        self.outcome = outcome
        self.size = size
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += size(unwrapInboundIn(data))
        if expected > 0 && received >= expected { outcome.succeed(received) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event { decide() }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        decide()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        outcome.fail(error)
        context.close(promise: nil)
    }

    /// Completes the flow with what has arrived so far (later calls change nothing).
    func decide() {
        if received > 0 || expected == 0 {
            outcome.succeed(received)
        } else {
            outcome.fail(ExchangeError("no answer"))
        }
    }
}
