import NIOCore

@testable import NetSim

/// Notes when each datagram reached the application, and its first byte.
final class ArrivalRecorder: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let simulator: Simulator
    var arrivals: [(at: UInt64, sequence: UInt8)] = []
    init(simulator: Simulator) { self.simulator = simulator }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        arrivals.append((simulator.now, envelope.data.getInteger(at: envelope.data.readerIndex) ?? 0))
    }
}
