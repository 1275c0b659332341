import Mesh
import NIOCore

/// A simulated TCP connection as a NIO channel: what `ClientBootstrap` or an accepting
/// `ServerBootstrap` would hand out on Linux, so HTTP, WebSocket and TLS handlers run on it
/// unchanged.
///
/// Writes complete when the simulated kernel takes the bytes into its send buffer; when that
/// buffer is full the channel queues them and turns unwritable past the high water mark. Reads
/// follow `autoRead`/`read()`; unread input keeps the TCP receive window closed, which is how
/// a slow reader pushes back on the sender.
final class SimStreamChannel: SimChannel, TCPConnectionDelegate, @unchecked Sendable {
    private(set) var connection: TCPConnection?
    private var active = false
    private var writable = true
    private var pendingWrites = CircularBuffer<(data: ByteBuffer, promise: EventLoopPromise<Void>?)>()
    private var flushedWrites = 0
    private var pendingBytes = 0
    private var inbound = CircularBuffer<ByteBuffer>()
    private var endOfInput = false
    private var inputClosed = false
    private var outputClosed = false
    private var outputShutdownSent = false
    private var connectPromise: EventLoopPromise<Void>?
    private var connectTimeout: Scheduled<Void>?
    /// For an intercepted connection: the service endpoint the client dialled.
    var originalDestination: Endpoint?

    override var isActive: Bool { active }
    override var isWritable: Bool { writable }

    /// A channel for an accepted connection (the listener activates it once initialised).
    init(kernel: SimKernel, parent: Channel, accepted connection: TCPConnection) {
        super.init(kernel: kernel, parent: parent)
        self.connection = connection
        self.local = connection.key.local
        self.remote = connection.key.remote
    }

    /// A channel that will connect out.
    init(kernel: SimKernel) {
        super.init(kernel: kernel, parent: nil)
    }

    // MARK: Opening

    func activateAccepted() {
        guard isOpen, let connection else { return }
        connection.delegate = self
        becomeActive()
    }

    func connect(from local: Endpoint, to remote: Endpoint, timeout: TimeAmount) -> EventLoopFuture<Void> {
        let promise = simLoop.makePromise(of: Void.self)
        do {
            let connection = try kernel.connect(from: local, to: remote)
            self.connection = connection
            self.local = connection.key.local
            self.remote = remote
            connectPromise = promise
            connection.delegate = self
            connectTimeout = simLoop.scheduleTask(in: timeout) { [weak self] in
                guard let self, self.connectPromise != nil else { return }
                self.connection?.abort()
                self.failConnect(HostError.connectTimeout(remote.socketAddress))
            }
        } catch {
            promise.fail(error)
        }
        return promise.futureResult
    }

    private func becomeActive() {
        active = true
        pipeline.fireChannelActive()
        readIfNeeded()
    }

    private func failConnect(_ error: Error) {
        let promise = connectPromise
        connectPromise = nil
        promise?.fail(error)
        closeCompletely(error: error, promise: nil)
    }

    // MARK: TCPConnectionDelegate

    func connectionEstablished(_ connection: TCPConnection) {
        connectTimeout?.cancel()
        connectTimeout = nil
        let promise = connectPromise
        connectPromise = nil
        becomeActive()
        promise?.succeed()
        pumpWrites()
    }

    func connection(_ connection: TCPConnection, received data: ByteBuffer) {
        guard !inputClosed else {
            connection.consumed(data.readableBytes)
            return
        }
        inbound.append(data)
        deliverPendingReads()
    }

    func connectionReceivedEndOfStream(_ connection: TCPConnection) {
        endOfInput = true
        deliverPendingReads()
    }

    func connection(_ connection: TCPConnection, failed error: HostError) {
        self.connection = nil
        if connectPromise != nil {
            failConnect(error)
            return
        }
        guard isOpen else { return }
        pipeline.fireErrorCaught(error)
        closeCompletely(error: error, promise: nil)
    }

    func connectionCanSend(_ connection: TCPConnection) {
        pumpWrites()
    }

    // MARK: Reading

    override func deliverPendingReads() {
        guard active else { return }
        var consumed = 0
        serveRead(
            next: {
                guard let chunk = self.inbound.popFirst() else { return nil }
                consumed += chunk.readableBytes
                return NIOAny(chunk)
            },
            hasMore: { !self.inbound.isEmpty })
        if consumed > 0 { connection?.consumed(consumed) }
        if inbound.isEmpty && endOfInput && !inputClosed && readPending && isOpen {
            inputClosed = true
            if allowRemoteHalfClosure {
                pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                if outputClosed { closeCompletely(error: ChannelError.eof, promise: nil) }
            } else {
                closeCompletely(error: ChannelError.eof, promise: nil)
            }
        }
    }

    // MARK: Writing

    override func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard isOpen else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        guard !outputClosed else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        guard let buffer = tryUnwrapData(data, as: ByteBuffer.self) else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        pendingWrites.append((buffer, promise))
        pendingBytes += buffer.readableBytes
        updateWritability()
    }

    override func flush0() {
        flushedWrites = pendingWrites.count
        pumpWrites()
    }

    /// Moves flushed writes into the kernel's send buffer as far as it has room.
    private func pumpWrites() {
        guard active, let connection else { return }
        while flushedWrites > 0, connection.sendSpace > 0 {
            var (data, promise) = pendingWrites.first!
            let count = min(connection.sendSpace, data.readableBytes)
            connection.enqueue(data.readSlice(length: count)!)
            pendingBytes -= count
            if data.readableBytes == 0 {
                pendingWrites.removeFirst()
                flushedWrites -= 1
                promise?.succeed()
            } else {
                pendingWrites[pendingWrites.startIndex] = (data, promise)
            }
        }
        updateWritability()
        if outputClosed && flushedWrites == 0 && !outputShutdownSent {
            outputShutdownSent = true
            connection.shutdownOutput()
        }
    }

    private func updateWritability() {
        if writable && pendingBytes > writeBufferWaterMark.high {
            writable = false
            pipeline.fireChannelWritabilityChanged()
        } else if !writable && pendingBytes < writeBufferWaterMark.low {
            writable = true
            pipeline.fireChannelWritabilityChanged()
        }
    }

    // MARK: Closing

    override func close0(error: Error, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        switch mode {
        case .all:
            closeCompletely(error: error, promise: promise)
        case .output:
            guard isOpen, active else {
                promise?.fail(ChannelError.inappropriateOperationForState)
                return
            }
            guard !outputClosed else {
                promise?.fail(ChannelError.outputClosed)
                return
            }
            outputClosed = true
            // Unflushed writes never reach the wire, as with shutdown(SHUT_WR).
            while pendingWrites.count > flushedWrites {
                let write = pendingWrites.removeLast()
                pendingBytes -= write.data.readableBytes
                write.promise?.fail(ChannelError.outputClosed)
            }
            pumpWrites()
            promise?.succeed()
            pipeline.fireUserInboundEventTriggered(ChannelEvent.outputClosed)
            if inputClosed { closeCompletely(error: ChannelError.eof, promise: nil) }
        case .input:
            guard isOpen else {
                promise?.fail(ChannelError.alreadyClosed)
                return
            }
            inputClosed = true
            inbound.removeAll()
            promise?.succeed()
            pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        }
    }

    /// Closes with an RST: the connection is torn down at once, whatever is queued is dropped.
    func reset() {
        if let connection {
            connection.delegate = nil
            connection.abort()
            self.connection = nil
        }
        closeCompletely(error: ChannelError.ioOnClosedChannel, promise: nil)
    }

    override func releaseSocket(error: Error) {
        connectTimeout?.cancel()
        connectTimeout = nil
        if let promise = connectPromise {
            connectPromise = nil
            promise.fail(error)
        }
        active = false
        let writes = pendingWrites
        pendingWrites.removeAll()
        flushedWrites = 0
        pendingBytes = 0
        for write in writes { write.promise?.fail(ChannelError.ioOnClosedChannel) }
        if let connection {
            connection.delegate = nil
            connection.close()
            self.connection = nil
        }
    }
}
