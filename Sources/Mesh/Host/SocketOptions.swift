import NIOCore

/// How to listen for stream connections.
public struct StreamListenOptions: Sendable {
    /// The local address to bind; port 0 picks a free port.
    public var address: SocketAddress
    /// Allow several sockets on the same address and port (SO_REUSEADDR + SO_REUSEPORT), as hole
    /// punching needs: the listener and outgoing connections share one local port.
    public var reuseAddress: Bool
    /// Accepted connections stay half-open when the peer shuts down its side (`ChannelEvent.inputClosed`).
    public var allowRemoteHalfClosure: Bool
    public var backlog: Int

    public init(
        address: SocketAddress,
        reuseAddress: Bool = false,
        allowRemoteHalfClosure: Bool = false,
        backlog: Int = 256
    ) {
        self.address = address
        self.reuseAddress = reuseAddress
        self.allowRemoteHalfClosure = allowRemoteHalfClosure
        self.backlog = backlog
    }
}

/// How to open a stream connection.
public struct StreamConnectOptions: Sendable {
    public var remote: SocketAddress
    /// Bind this local address first (hole punching dials from the port it listens on).
    public var local: SocketAddress?
    public var reuseAddress: Bool
    public var allowRemoteHalfClosure: Bool
    public var connectTimeout: TimeAmount

    public init(
        remote: SocketAddress,
        local: SocketAddress? = nil,
        reuseAddress: Bool = false,
        allowRemoteHalfClosure: Bool = false,
        connectTimeout: TimeAmount = .seconds(10)
    ) {
        self.remote = remote
        self.local = local
        self.reuseAddress = reuseAddress
        self.allowRemoteHalfClosure = allowRemoteHalfClosure
        self.connectTimeout = connectTimeout
    }
}

/// How to bind a datagram socket.
public struct DatagramBindOptions: Sendable {
    /// The local address to bind; port 0 picks a free port.
    public var address: SocketAddress
    public var reuseAddress: Bool

    public init(address: SocketAddress, reuseAddress: Bool = false) {
        self.address = address
        self.reuseAddress = reuseAddress
    }
}
