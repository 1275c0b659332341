import NIOCore

/// Why the far agent could not reach a stream's target, or why a stream was reset: carried in
/// `refused` and `reset` frames and surfaced to the near side's caller as `TunnelError`.
public struct TunnelStreamFailure: Equatable, Sendable, CustomStringConvertible {
    public enum Reason: UInt8, Sendable, CaseIterable {
        /// Nothing listens at the target (its TCP stack answered with a reset).
        case refused = 1
        /// The far agent has no route to the target.
        case unreachable
        /// The target did not answer in time.
        case timeout
        /// The far agent's policy forbids the target (not on that node, or not a workload).
        case notAllowed
        /// The target's connection reset, or the stream was cancelled by one end.
        case reset
        /// The far agent has too many streams open, or some other local failure.
        case internalError
    }

    public var reason: Reason
    /// Details in words, from the far agent (for example "connection to 10.0.0.9:80 timed out").
    public var detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String {
        let what = switch reason {
        case .refused: "the target refused the connection"
        case .unreachable: "the target is unreachable from its node"
        case .timeout: "the target did not answer in time"
        case .notAllowed: "the far agent does not allow this target"
        case .reset: "the stream was reset"
        case .internalError: "the far agent failed"
        }
        return detail.isEmpty ? what : "\(what) (\(detail))"
    }

    /// The failure a host error means when the far agent dials a target.
    public init(dialing error: any Error) {
        switch error {
        case HostError.connectionRefused: self.init(.refused, "\(error)")
        case HostError.connectTimeout: self.init(.timeout, "\(error)")
        case HostError.networkUnreachable, HostError.addressNotAvailable: self.init(.unreachable, "\(error)")
        case HostError.connectionReset: self.init(.reset, "\(error)")
        default: self.init(.internalError, "\(error)")
        }
    }

    /// Details are cut to this many bytes on the wire.
    static let maxDetailBytes = 512

    func encode(into buffer: inout ByteBuffer) {
        buffer.writeInteger(reason.rawValue)
        // Cut on a character, never inside one: the peer accepts only whole UTF-8.
        var detail: [UInt8] = []
        for scalar in self.detail.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            guard detail.count + encoded.count <= Self.maxDetailBytes else { break }
            detail += encoded
        }
        buffer.writeInteger(UInt16(detail.count))
        buffer.writeBytes(detail)
    }

    static func decode(from buffer: inout ByteBuffer, stream: UInt32) throws(TunnelProtocolError) -> TunnelStreamFailure {
        guard let raw: UInt8 = buffer.readInteger(), let length: UInt16 = buffer.readInteger(),
            let bytes = buffer.readBytes(length: Int(length))
        else { throw .malformedFrame("stream \(stream): failure reason is truncated") }
        guard bytes.count <= maxDetailBytes, let detail = String(validating: bytes, as: UTF8.self) else {
            throw .malformedFrame("stream \(stream): failure detail is over \(maxDetailBytes) bytes or not UTF-8")
        }
        // An unknown reason from a newer peer is still a failure; keep its words.
        return TunnelStreamFailure(Reason(rawValue: raw) ?? .internalError, detail)
    }
}
