import Mesh
import NIOCore

/// A simulated UDP socket as a NIO datagram channel: reads and writes
/// `AddressedEnvelope<ByteBuffer>`, one envelope per datagram, so message boundaries hold.
final class SimDatagramChannel: SimChannel, DatagramReceiver, @unchecked Sendable {
    /// Datagrams a socket queues for a reader that does not read; later ones are dropped,
    /// as with a full socket receive buffer.
    static let receiveQueueLimit = 1024

    private var bound = false
    private var inbound = CircularBuffer<AddressedEnvelope<ByteBuffer>>()
    private var pendingWrites = CircularBuffer<(envelope: AddressedEnvelope<ByteBuffer>, promise: EventLoopPromise<Void>?)>()
    private(set) var droppedDatagrams = 0

    override var isActive: Bool { bound }
    override var isWritable: Bool { true }

    init(kernel: SimKernel, local: Endpoint) {
        super.init(kernel: kernel, parent: nil)
        self.local = local
    }

    func bind() {
        kernel.bindDatagram(self, port: local!.port)
        register0(promise: nil)
        bound = true
        pipeline.fireChannelActive()
        readIfNeeded()
    }

    func receive(_ payload: ByteBuffer, from source: Endpoint, to destination: Endpoint) {
        guard inbound.count < Self.receiveQueueLimit else {
            droppedDatagrams += 1
            return
        }
        inbound.append(AddressedEnvelope(remoteAddress: source.socketAddress, data: payload))
        deliverPendingReads()
    }

    override func deliverPendingReads() {
        guard bound else { return }
        serveRead(next: { self.inbound.popFirst().map { NIOAny($0) } }, hasMore: { !self.inbound.isEmpty })
    }

    override func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard isOpen else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard let envelope = tryUnwrapData(data, as: AddressedEnvelope<ByteBuffer>.self) else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        pendingWrites.append((envelope, promise))
    }

    override func flush0() {
        while let write = pendingWrites.popFirst() {
            guard let destination = Endpoint(write.envelope.remoteAddress) else {
                write.promise?.fail(HostError.unsupported("the simulator carries IPv4 datagrams only"))
                continue
            }
            kernel.sendDatagram(from: local!, to: destination, payload: write.envelope.data)
            write.promise?.succeed()
        }
    }

    override func releaseSocket(error: Error) {
        if bound { kernel.unbindDatagram(self, port: local!.port) }
        bound = false
        while let write = pendingWrites.popFirst() { write.promise?.fail(ChannelError.ioOnClosedChannel) }
    }
}
