import NIOCore

extension Channel {
    /// Turns `autoRead` off, so the channel reads only when asked. Synchronously where the
    /// channel has synchronous options (NIOPosix's and NetSim's do): the proxy does this for
    /// both channels of every connection, and the asynchronous API costs each one a future.
    /// Call it on the channel's event loop.
    func turnAutoReadOff() -> EventLoopFuture<Void> {
        turnAutoReadOffSynchronously() ? eventLoop.makeSucceededVoidFuture()
            : setOption(ChannelOptions.autoRead, value: false)
    }

    /// Turns `autoRead` off if the channel can do it synchronously; `false` when it cannot.
    func turnAutoReadOffSynchronously() -> Bool {
        guard let options = syncOptions else { return false }
        return (try? options.setOption(ChannelOptions.autoRead, value: false)) != nil
    }
}
