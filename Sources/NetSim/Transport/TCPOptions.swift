import NetworkTopology

/// Tunables of the simulated TCP, one set per simulation.
public struct TCPOptions: Hashable, Sendable {
    /// Payload bytes per segment.
    public var maximumSegmentSize = 1460
    /// Bytes a receiver buffers before its window closes.
    public var receiveBuffer = 256 * 1024
    /// Bytes a sender accepts from the application before it pushes back.
    public var sendBuffer = 256 * 1024
    /// Initial congestion window, segments (RFC 6928).
    public var initialWindowSegments = 10
    /// Retransmission timeout bounds (RFC 6298 with Linux's 200 ms floor).
    public var minimumRTO: UInt64 = 200 * Nanoseconds.millisecond
    public var maximumRTO: UInt64 = 60 * Nanoseconds.second
    public var initialRTO: UInt64 = 1 * Nanoseconds.second
    /// Unacknowledged data older than this resets the connection (like TCP_USER_TIMEOUT): an
    /// outage longer than this breaks established streams.
    public var userTimeout: UInt64 = 100 * Nanoseconds.second
    /// How long a closed connection waits for the peer's FIN before it is forgotten.
    public var finWaitTimeout: UInt64 = 60 * Nanoseconds.second

    public init() {}
}
