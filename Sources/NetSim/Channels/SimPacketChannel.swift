import Mesh
import NIOCore

/// The channel of a simulated packet interface: reads and writes `ByteBuffer`s, one IPv4
/// packet each, as a TUN device's file descriptor does.
final class SimPacketChannel: SimChannel, @unchecked Sendable {
    /// Packets the device queues for a reader that does not read; later ones are dropped, as a
    /// TUN device's transmit queue (500 packets by default on Linux) drops them.
    static let receiveQueueLimit = 500

    weak var device: SimPacketDevice?
    private var inbound = CircularBuffer<ByteBuffer>()
    private var pendingWrites = CircularBuffer<(packet: ByteBuffer, promise: EventLoopPromise<Void>?)>()
    private(set) var droppedPackets = 0

    override var isActive: Bool { isOpen }

    func start() {
        register0(promise: nil)
        pipeline.fireChannelActive()
        readIfNeeded()
    }

    /// A packet the node routed into the device.
    func receive(_ packet: ByteBuffer) {
        guard inbound.count < Self.receiveQueueLimit else {
            droppedPackets += 1
            return
        }
        inbound.append(packet)
        deliverPendingReads()
    }

    override func deliverPendingReads() {
        serveRead(next: { self.inbound.popFirst().map { NIOAny($0) } }, hasMore: { !self.inbound.isEmpty })
    }

    override func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard isOpen else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard let packet = tryUnwrapData(data, as: ByteBuffer.self) else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        pendingWrites.append((packet, promise))
    }

    override func flush0() {
        while let write = pendingWrites.popFirst() {
            device?.send(write.packet)
            write.promise?.succeed()
        }
    }

    override func releaseSocket(error: Error) {
        device?.remove()
        while let write = pendingWrites.popFirst() { write.promise?.fail(ChannelError.ioOnClosedChannel) }
    }
}
