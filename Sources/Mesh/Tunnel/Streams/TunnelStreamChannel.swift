import NIOCore

/// One multiplexed tunnel stream as a NIO `Channel`, so the code above it (the proxy, NIO's
/// HTTP handlers) cannot tell it from a socket — the way swift-nio-http2 makes each HTTP/2
/// stream a child channel of its connection.
///
/// - Writes become `data` frames while the peer's window allows; the rest waits here, and past
///   the write-buffer high-water mark the channel turns unwritable. A TCP stream's bytes are cut
///   into frames freely; a UDP stream's every write is one datagram, sent whole.
/// - Reads follow `autoRead`/`read()`. Only bytes handed to the pipeline return window to the
///   peer, so a slow reader holds back its own stream and no other.
/// - `close(mode: .output)` half-closes (a `finish` frame); the peer's half-close arrives as
///   `ChannelEvent.inputClosed` (with `allowRemoteHalfClosure`) or closes the channel.
/// - `close()` while the peer may still send resets the stream, as closing a socket with unread
///   input does.
///
/// Confined to the connection's event loop.
final class TunnelStreamChannel: Channel, ChannelCore, @unchecked Sendable {
    let id: UInt32
    let target: TunnelTarget
    /// Weak: a stream outliving its connection (closed, but still referenced by the app) must
    /// not keep the connection's state alive.
    private weak var multiplexer: TunnelStreamMultiplexer?
    let parent: Channel?
    /// The path of the connection carrying the stream (what `GET /flows` reports).
    let pathKind: PeerPathKind
    let allocator = ByteBufferAllocator()
    let eventLoop: EventLoop
    private var _pipeline: ChannelPipeline!
    private let closePromise: EventLoopPromise<Void>
    /// Set on the opening side until the far agent answers.
    var openPromise: EventLoopPromise<Channel>?

    private(set) var isOpen = true
    private var active = false
    private var registered = false
    private var autoRead = true
    private var allowRemoteHalfClosure = false
    private var maxMessagesPerRead = 16
    private var waterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 32 * 1024, high: 64 * 1024)

    // Sending
    private var sendWindow = 0
    private var pendingWrites = CircularBuffer<(data: ByteBuffer, promise: EventLoopPromise<Void>?)>()
    /// How many of `pendingWrites` (from the front) were flushed and may go out.
    private var flushedWrites = 0
    private var pendingBytes = 0
    private var writable = true
    private var outputCloseRequested: EventLoopPromise<Void>??
    private var outputClosed = false

    // Receiving
    /// This stream's share of the node's receive budget.
    let receiveWindow: Int
    private var receiveCredit: Int
    private var consumedSinceUpdate = 0
    private var inbound = CircularBuffer<ByteBuffer>()
    private var remoteFinished = false
    private var inputClosed = false
    private var readPending = false
    private var delivering = false

    init(id: UInt32, target: TunnelTarget, multiplexer: TunnelStreamMultiplexer, parent: Channel, receiveWindow: UInt32) {
        self.id = id
        self.target = target
        self.multiplexer = multiplexer
        self.parent = parent
        self.pathKind = multiplexer.connection.pathKind
        self.eventLoop = parent.eventLoop
        self.closePromise = parent.eventLoop.makePromise()
        self.receiveWindow = Int(receiveWindow)
        self.receiveCredit = Int(receiveWindow)
        self._pipeline = ChannelPipeline(channel: self)
    }

    private var isUDP: Bool { target.transport == .udp }

    /// The largest datagram a UDP stream carries (one frame).
    static let maxDatagram = TunnelConnection.maxFramePlaintext - 5
    /// TCP bytes go in frames of at most this size, so streams interleave fairly.
    static let maxChunk = 16 * 1024

    // MARK: Channel

    var pipeline: ChannelPipeline { _pipeline }
    var closeFuture: EventLoopFuture<Void> { closePromise.futureResult }
    var _channelCore: ChannelCore { self }
    var localAddress: SocketAddress? { nil }
    var remoteAddress: SocketAddress? { target.address.socketAddress(port: target.port) }
    var isWritable: Bool { writable }
    var isActive: Bool { active }

    /// Options set and read at once on the loop, as NIOPosix channels allow: handlers that
    /// configure a channel in place (`BackendHTTP2Session` turns `autoRead` back on after
    /// putting HTTP/2 on a stream) would otherwise silently do nothing here.
    var syncOptions: NIOSynchronousChannelOptions? { SynchronousOptions(channel: self) }

    private struct SynchronousOptions: NIOSynchronousChannelOptions {
        let channel: TunnelStreamChannel

        func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
            channel.eventLoop.preconditionInEventLoop()
            try channel.setOption0(option, value: value)
        }

        func getOption<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
            channel.eventLoop.preconditionInEventLoop()
            return try channel.getOption0(option)
        }
    }

    func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> EventLoopFuture<Void> {
        if eventLoop.inEventLoop {
            return eventLoop.makeCompletedFuture { try setOption0(option, value: value) }
        }
        return eventLoop.submit { try self.setOption0(option, value: value) }
    }

    func getOption<Option: ChannelOption>(_ option: Option) -> EventLoopFuture<Option.Value> {
        if eventLoop.inEventLoop {
            return eventLoop.makeCompletedFuture { try getOption0(option) }
        }
        return eventLoop.submit { try self.getOption0(option) }
    }

    private func setOption0<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
        switch option {
        case is ChannelOptions.Types.AutoReadOption:
            autoRead = value as! Bool
            if autoRead { pipeline.read() }
        case is ChannelOptions.Types.AllowRemoteHalfClosureOption:
            allowRemoteHalfClosure = value as! Bool
        case is ChannelOptions.Types.MaxMessagesPerReadOption:
            maxMessagesPerRead = max(1, Int(value as! UInt))
        case is ChannelOptions.Types.WriteBufferWaterMarkOption:
            waterMark = value as! ChannelOptions.Types.WriteBufferWaterMark
        case is ChannelOptions.Types.SocketOption, is ChannelOptions.Types.RecvAllocatorOption,
            is ChannelOptions.Types.ConnectTimeoutOption:
            // Socket knobs: the stream has no socket of its own.
            break
        default:
            throw ChannelError.operationUnsupported
        }
    }

    private func getOption0<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
        switch option {
        case is ChannelOptions.Types.AutoReadOption: return autoRead as! Option.Value
        case is ChannelOptions.Types.AllowRemoteHalfClosureOption: return allowRemoteHalfClosure as! Option.Value
        case is ChannelOptions.Types.MaxMessagesPerReadOption: return UInt(maxMessagesPerRead) as! Option.Value
        case is ChannelOptions.Types.WriteBufferWaterMarkOption: return waterMark as! Option.Value
        default: throw ChannelError.operationUnsupported
        }
    }

    // MARK: Lifecycle driven by the multiplexer

    func register() {
        register0(promise: nil)
    }

    func becomeActive() {
        guard isOpen, !active else { return }
        active = true
        pipeline.fireChannelActive()
        if autoRead { pipeline.read() }
        pumpWrites()
    }

    func grantInitialSendWindow(_ window: UInt32) {
        sendWindow = Int(window)
    }

    func receiveAccepted(sendWindow window: UInt32) throws {
        guard let promise = openPromise else {
            throw TunnelProtocolError.streamViolation("stream \(id) was accepted twice, or by the side that opened it")
        }
        openPromise = nil
        sendWindow = Int(window)
        becomeActive()
        promise.succeed(self)
    }

    func receiveRefused(_ failure: TunnelStreamFailure) {
        let promise = openPromise
        openPromise = nil
        promise?.fail(TunnelError.targetUnreachable(target, failure))
        closeCompletely(error: TunnelError.targetUnreachable(target, failure), promise: nil)
    }

    func receiveData(_ data: ByteBuffer) throws {
        guard !remoteFinished else {
            throw TunnelProtocolError.streamViolation("stream \(id) received data after the peer finished it")
        }
        guard data.readableBytes <= receiveCredit else {
            throw TunnelProtocolError.streamViolation("stream \(id) received \(data.readableBytes) bytes with only \(receiveCredit) of window left")
        }
        receiveCredit -= data.readableBytes
        guard !inputClosed else { return }
        inbound.append(data)
        deliverPendingReads()
    }

    func receiveWindowUpdate(_ increment: UInt32) throws {
        let (sum, overflow) = sendWindow.addingReportingOverflow(Int(increment))
        guard !overflow, sum <= Int(UInt32.max) else {
            throw TunnelProtocolError.streamViolation("stream \(id) window grew past 2^32 bytes")
        }
        sendWindow = sum
        pumpWrites()
    }

    func receiveFinish() {
        remoteFinished = true
        deliverPendingReads()
    }

    func receiveReset(_ failure: TunnelStreamFailure) {
        let error = TunnelError.streamReset(failure)
        if let promise = openPromise {
            openPromise = nil
            promise.fail(error)
        } else if isOpen {
            pipeline.fireErrorCaught(error)
        }
        closeCompletely(error: error, promise: nil)
    }

    /// The connection died: the stream fails with `error`.
    func fail(_ error: TunnelError) {
        if let promise = openPromise {
            openPromise = nil
            promise.fail(error)
        } else if isOpen {
            pipeline.fireErrorCaught(error)
        }
        closeCompletely(error: error, promise: nil)
    }

    /// Closes without telling the peer (it was told already, e.g. by a `refused` frame).
    func closeSilently() {
        closeCompletely(error: ChannelError.eof, promise: nil)
    }

    // MARK: ChannelCore

    func localAddress0() throws -> SocketAddress { throw ChannelError.operationUnsupported }
    func remoteAddress0() throws -> SocketAddress { target.address.socketAddress(port: target.port) }

    func register0(promise: EventLoopPromise<Void>?) {
        guard !registered else {
            promise?.succeed()
            return
        }
        registered = true
        promise?.succeed()
        pipeline.fireChannelRegistered()
    }

    func registerAlreadyConfigured0(promise: EventLoopPromise<Void>?) {
        register0(promise: promise)
    }

    func bind0(to address: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func connect0(to address: SocketAddress, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func write0(_ data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard isOpen, !outputClosed, outputCloseRequested == nil else {
            promise?.fail(isOpen ? ChannelError.outputClosed : ChannelError.ioOnClosedChannel)
            return
        }
        let buffer = unwrapData(data, as: ByteBuffer.self)
        if isUDP && buffer.readableBytes > Self.maxDatagram {
            promise?.fail(ChannelError.writeMessageTooLarge)
            return
        }
        pendingWrites.append((buffer, promise))
        pendingBytes += buffer.readableBytes
        if writable && pendingBytes > waterMark.high {
            writable = false
            pipeline.fireChannelWritabilityChanged()
        }
    }

    func flush0() {
        flushedWrites = pendingWrites.count
        pumpWrites()
    }

    func read0() {
        readPending = true
        deliverPendingReads()
    }

    func close0(error: Error, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard isOpen else {
            promise?.fail(ChannelError.alreadyClosed)
            return
        }
        switch mode {
        case .output:
            guard active else {
                promise?.fail(ChannelError.inappropriateOperationForState)
                return
            }
            guard !outputClosed, outputCloseRequested == nil else {
                promise?.fail(ChannelError.outputClosed)
                return
            }
            outputCloseRequested = .some(promise)
            flushedWrites = pendingWrites.count
            pumpWrites()
        case .input:
            promise?.fail(ChannelError.operationUnsupported)
        case .all:
            if active || openPromise != nil {
                if !remoteFinished {
                    multiplexer?.send(.reset(stream: id, TunnelStreamFailure(.reset, "the application closed the stream before the end of its input")))
                } else if !outputClosed {
                    multiplexer?.send(.finish(stream: id))
                }
            }
            if let open = openPromise {
                openPromise = nil
                open.fail(ChannelError.ioOnClosedChannel)
            }
            closeCompletely(error: error, promise: promise)
        }
    }

    func triggerUserOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func channelRead0(_ data: NIOAny) {}
    func errorCaught0(error: Error) {}

    // MARK: Moving bytes

    private func pumpWrites() {
        guard active, isOpen else { return }
        var sent = false
        while flushedWrites > 0, sendWindow > 0 {
            var head = pendingWrites[pendingWrites.startIndex]
            let size: Int
            if isUDP {
                // A datagram goes whole or waits for window.
                guard head.data.readableBytes <= sendWindow else { break }
                size = head.data.readableBytes
            } else {
                size = min(head.data.readableBytes, sendWindow, Self.maxChunk)
            }
            let chunk = head.data.readSlice(length: size)!
            if size > 0 || isUDP {
                multiplexer?.send(.data(stream: id, chunk), flush: false)
                sent = true
            }
            sendWindow -= size
            pendingBytes -= size
            if head.data.readableBytes == 0 || isUDP {
                pendingWrites.removeFirst()
                flushedWrites -= 1
                head.promise?.succeed()
            } else {
                pendingWrites[pendingWrites.startIndex] = head
            }
        }
        if flushedWrites == 0, let request = outputCloseRequested, !outputClosed {
            outputClosed = true
            outputCloseRequested = nil
            multiplexer?.send(.finish(stream: id), flush: false)
            sent = true
            request?.succeed()
            pipeline.fireUserInboundEventTriggered(ChannelEvent.outputClosed)
        }
        if sent { multiplexer?.connection.flush() }
        if !writable && pendingBytes < waterMark.low {
            writable = true
            pipeline.fireChannelWritabilityChanged()
        }
        if outputClosed && inputClosed { closeCompletely(error: ChannelError.eof, promise: nil) }
    }

    private func deliverPendingReads() {
        guard active, isOpen, !delivering else { return }
        delivering = true
        defer { delivering = false }
        while readPending, isOpen, !inbound.isEmpty {
            readPending = false
            var delivered = 0
            while delivered < maxMessagesPerRead, isOpen, let chunk = inbound.popFirst() {
                delivered += 1
                consumedSinceUpdate += chunk.readableBytes
                pipeline.fireChannelRead(chunk)
            }
            pipeline.fireChannelReadComplete()
            // As a socket channel does: the next read goes through the pipeline, so handlers
            // that hold reads back (for back-pressure) see it.
            if autoRead { pipeline.read() }
        }
        returnWindow()
        if isOpen, inbound.isEmpty, remoteFinished, !inputClosed {
            inputClosed = true
            if allowRemoteHalfClosure {
                pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
                if outputClosed { closeCompletely(error: ChannelError.eof, promise: nil) }
            } else {
                close0(error: ChannelError.eof, mode: .all, promise: nil)
            }
        }
    }

    /// Gives the peer back the window of what the pipeline consumed, once it is worth a frame.
    private func returnWindow() {
        guard isOpen, !remoteFinished, consumedSinceUpdate > 0,
            consumedSinceUpdate >= receiveWindow / 4 || receiveCredit < receiveWindow / 2
        else { return }
        multiplexer?.send(.windowUpdate(stream: id, increment: UInt32(consumedSinceUpdate)))
        receiveCredit += consumedSinceUpdate
        consumedSinceUpdate = 0
    }

    private func closeCompletely(error: Error, promise: EventLoopPromise<Void>?) {
        guard isOpen else {
            promise?.fail(ChannelError.alreadyClosed)
            return
        }
        isOpen = false
        let wasActive = active
        active = false
        multiplexer?.remove(id)
        let failed = pendingWrites
        pendingWrites.removeAll()
        flushedWrites = 0
        pendingBytes = 0
        for write in failed { write.promise?.fail(ChannelError.ioOnClosedChannel) }
        if case .some(let request) = outputCloseRequested { request?.fail(ChannelError.ioOnClosedChannel) }
        outputCloseRequested = nil
        promise?.succeed()
        if wasActive { pipeline.fireChannelInactive() }
        eventLoop.execute {
            if self.registered { self.pipeline.fireChannelUnregistered() }
            self.removeHandlers(pipeline: self.pipeline)
            self.closePromise.succeed()
        }
    }
}
