import Mesh
import NIOCore

/// One client conversation taken from a packet capture: where the client went, what it sent
/// and when, and whether the server answered. Replayed by `FlowReplayWorkload`.
public struct ReplayFlow: Hashable, Sendable {
    public enum Transport: String, Hashable, Sendable {
        case tcp, udp
    }

    /// Bytes the client sent (a TCP segment's new bytes, or one datagram), `offset` after the
    /// flow's start.
    public struct Send: Hashable, Sendable {
        public var offset: TimeAmount
        public var bytes: [UInt8]

        public init(offset: TimeAmount, bytes: [UInt8]) {
            self.offset = offset
            self.bytes = bytes
        }
    }

    public var transport: Transport
    /// The client as captured (`ip:port`), for the log.
    public var client: String
    public var destination: IPv4Address
    public var port: UInt16
    /// When the flow began, after the capture's first packet.
    public var start: TimeAmount
    public var sends: [Send]
    /// When the client closed its side (TCP FIN), after the flow's start; nil if it did not in
    /// the capture.
    public var clientClosedAt: TimeAmount?
    /// Bytes the server sent back in the capture; the replay expects an answer when there were any.
    public var answeredBytes: Int
    /// Datagrams (UDP) or segments with data (TCP) the server sent back in the capture.
    public var answers: Int

    public init(
        transport: Transport, client: String, destination: IPv4Address, port: UInt16, start: TimeAmount,
        sends: [Send], clientClosedAt: TimeAmount? = nil, answeredBytes: Int = 0, answers: Int = 0
    ) {
        self.answers = answers
        self.transport = transport
        self.client = client
        self.destination = destination
        self.port = port
        self.start = start
        self.sends = sends
        self.clientClosedAt = clientClosedAt
        self.answeredBytes = answeredBytes
    }

    /// `tcp 10.96.0.10:80`.
    public var target: String { "\(transport.rawValue) \(destination):\(port)" }
}
