import Mesh
import NIOCore

/// What the three simulated channel kinds share: the pipeline, options, the read model
/// (`autoRead` / `read()` with back-pressure) and the close sequence.
///
/// Like every NIO channel, it is confined to its event loop; `@unchecked Sendable` records
/// that the simulator's single thread is that confinement.
class SimChannel: Channel, ChannelCore, @unchecked Sendable {
    let simLoop: SimEventLoop
    unowned(unsafe) let kernel: SimKernel  // the node keeps its kernel for the whole run
    let allocator = ByteBufferAllocator()
    private var _pipeline: ChannelPipeline!
    let closePromise: EventLoopPromise<Void>
    let parent: Channel?

    var autoRead = true
    var allowRemoteHalfClosure = false
    var maxMessagesPerRead = 16
    var writeBufferWaterMark = ChannelOptions.Types.WriteBufferWaterMark(low: 32 * 1024, high: 64 * 1024)
    /// A read was asked for and not yet served.
    var readPending = false
    /// Set while `serveRead` hands input to the pipeline, so a read asked for meanwhile does
    /// not re-enter it.
    private var isServingRead = false
    private(set) var isRegistered = false
    var isOpen = true
    var local: Endpoint?
    var remote: Endpoint?

    init(kernel: SimKernel, parent: Channel?) {
        self.kernel = kernel
        self.simLoop = kernel.node.loop
        self.parent = parent
        self.closePromise = simLoop.makePromise()
        self._pipeline = ChannelPipeline(channel: self)
    }

    // MARK: Channel

    var eventLoop: EventLoop { simLoop }
    var pipeline: ChannelPipeline { _pipeline }
    var closeFuture: EventLoopFuture<Void> { closePromise.futureResult }
    var _channelCore: ChannelCore { self }
    var localAddress: SocketAddress? { local?.socketAddress }
    var remoteAddress: SocketAddress? { remote?.socketAddress }
    var isWritable: Bool { true }
    var isActive: Bool { false }

    var syncOptions: NIOSynchronousChannelOptions? { SimSyncOptions(channel: self) }

    func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) -> EventLoopFuture<Void> {
        do {
            try setOption0(option, value: value)
            return eventLoop.makeSucceededVoidFuture()
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    func getOption<Option: ChannelOption>(_ option: Option) -> EventLoopFuture<Option.Value> {
        do {
            return eventLoop.makeSucceededFuture(try getOption0(option))
        } catch {
            return eventLoop.makeFailedFuture(error)
        }
    }

    func setOption0<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
        switch option {
        case let option as ChannelOptions.Types.AutoReadOption:
            autoRead = value as! ChannelOptions.Types.AutoReadOption.Value
            if autoRead && !readPending { readIfNeeded() }
            _ = option
        case is ChannelOptions.Types.AllowRemoteHalfClosureOption:
            allowRemoteHalfClosure = value as! Bool
        case is ChannelOptions.Types.MaxMessagesPerReadOption:
            maxMessagesPerRead = Int(value as! UInt)
        case is ChannelOptions.Types.WriteBufferWaterMarkOption:
            writeBufferWaterMark = value as! ChannelOptions.Types.WriteBufferWaterMark
        case is ChannelOptions.Types.SocketOption, is ChannelOptions.Types.RecvAllocatorOption,
            is ChannelOptions.Types.ConnectTimeoutOption, is ChannelOptions.Types.BacklogOption,
            is ChannelOptions.Types.DatagramVectorReadMessageCountOption:
            // Socket-level knobs a simulated socket has no use for.
            break
        default:
            throw ChannelError.operationUnsupported
        }
    }

    func getOption0<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
        switch option {
        case is ChannelOptions.Types.AutoReadOption: return autoRead as! Option.Value
        case is ChannelOptions.Types.AllowRemoteHalfClosureOption: return allowRemoteHalfClosure as! Option.Value
        case is ChannelOptions.Types.MaxMessagesPerReadOption: return UInt(maxMessagesPerRead) as! Option.Value
        case is ChannelOptions.Types.WriteBufferWaterMarkOption: return writeBufferWaterMark as! Option.Value
        default: throw ChannelError.operationUnsupported
        }
    }

    // MARK: ChannelCore

    func localAddress0() throws -> SocketAddress {
        guard let local else { throw ChannelError.inappropriateOperationForState }
        return local.socketAddress
    }

    func remoteAddress0() throws -> SocketAddress {
        guard let remote else { throw ChannelError.inappropriateOperationForState }
        return remote.socketAddress
    }

    func register0(promise: EventLoopPromise<Void>?) {
        guard !isRegistered else {
            promise?.succeed()
            return
        }
        isRegistered = true
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
        promise?.fail(ChannelError.operationUnsupported)
    }

    func flush0() {}

    func read0() {
        readPending = true
        // A read asked for while input is being handed out is served by the next pass.
        if !isServingRead { deliverPendingReads() }
    }

    /// Auto-read's next read goes through the pipeline, as NIO's socket channels send it, so an
    /// outbound handler can hold it back (back-pressure: read only when the far side can write).
    final func readIfNeeded() {
        guard autoRead, isOpen, !readPending else { return }
        pipeline.syncOperations.read()
    }

    func close0(error: Error, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else {
            promise?.fail(ChannelError.operationUnsupported)
            return
        }
        closeCompletely(error: error, promise: promise)
    }

    func triggerUserOutboundEvent0(_ event: Any, promise: EventLoopPromise<Void>?) {
        promise?.fail(ChannelError.operationUnsupported)
    }

    func channelRead0(_ data: NIOAny) {
        // Reached the tail of the pipeline unhandled: nothing to do, as on a socket channel.
    }

    func errorCaught0(error: Error) {}

    // MARK: Subclass hooks

    /// Hands buffered input to the pipeline if a read is pending; subclasses override.
    func deliverPendingReads() {}

    /// Releases the socket (subclasses), then runs the common close sequence.
    func releaseSocket(error: Error) {}

    /// The close sequence every channel goes through: inactive, unregistered, handlers removed,
    /// close future fulfilled.
    final func closeCompletely(error: Error, promise: EventLoopPromise<Void>?) {
        guard isOpen else {
            promise?.fail(ChannelError.alreadyClosed)
            return
        }
        let wasActive = isActive
        isOpen = false
        releaseSocket(error: error)
        promise?.succeed()
        if wasActive { pipeline.fireChannelInactive() }
        simLoop.execute {
            if self.isRegistered { self.pipeline.fireChannelUnregistered() }
            self.removeHandlers(pipeline: self.pipeline)
            self.closePromise.succeed()
        }
    }

    /// Serves one pending read: fires up to `maxMessagesPerRead` messages taken from `next`,
    /// then `channelReadComplete`; with auto-read the next read is pending at once (NIO's
    /// contract). Returns whether anything was delivered. If input is left over, another pass
    /// runs as a separate loop task, as a socket's next readiness event would.
    @discardableResult
    final func serveRead(next: () -> NIOAny?, hasMore: () -> Bool) -> Bool {
        guard readPending, isOpen, !isServingRead else { return false }
        isServingRead = true
        var delivered = 0
        while delivered < maxMessagesPerRead, isOpen, let message = next() {
            if delivered == 0 { readPending = false }
            delivered += 1
            pipeline.syncOperations.fireChannelRead(message)
        }
        guard delivered > 0 else {
            isServingRead = false
            return false
        }
        pipeline.fireChannelReadComplete()
        readIfNeeded()
        isServingRead = false
        if readPending && hasMore() {
            simLoop.execute { self.deliverPendingReads() }
        }
        return true
    }
}

/// Synchronous option access for handlers that use `channel.syncOptions`.
struct SimSyncOptions: NIOSynchronousChannelOptions {
    let channel: SimChannel

    func setOption<Option: ChannelOption>(_ option: Option, value: Option.Value) throws {
        try channel.setOption0(option, value: value)
    }

    func getOption<Option: ChannelOption>(_ option: Option) throws -> Option.Value {
        try channel.getOption0(option)
    }
}
