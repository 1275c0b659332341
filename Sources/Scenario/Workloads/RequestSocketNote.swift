import NIOCore

/// Where one request's exchange notes the local port it left from, once its socket is open.
public final class RequestSocketNote: @unchecked Sendable {
    public private(set) var localPort: UInt16?

    public init() {}

    /// Notes the local port of `channel` (a connection or a bound datagram socket).
    public func note(_ channel: Channel) {
        localPort = channel.localAddress?.port.map(UInt16.init)
    }
}
