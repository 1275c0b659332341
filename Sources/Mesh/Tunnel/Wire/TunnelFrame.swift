import NIOCore

/// One message of the multiplexing protocol, as it travels (encrypted) inside a tunnel record.
///
///     type (1) | stream id (4, big-endian) | body
///
/// Stream ids are odd when the dialing side of the connection opened the stream and even when
/// the answering side did, so both ends can open streams without coordinating. Ping and pong
/// use stream id 0.
public enum TunnelFrame: Equatable, Sendable {
    /// Asks the far agent to dial `target`; `window` is how many bytes the opener will accept
    /// before it sends a window update.
    case open(stream: UInt32, target: TunnelTarget, window: UInt32)
    /// The far agent reached the target; `window` is its receive window for this stream.
    case accepted(stream: UInt32, window: UInt32)
    /// The far agent could not reach the target.
    case refused(stream: UInt32, TunnelStreamFailure)
    /// Bytes of a TCP stream, or exactly one datagram of a UDP stream.
    case data(stream: UInt32, ByteBuffer)
    /// The reader consumed `increment` more bytes: the sender may send that much more.
    case windowUpdate(stream: UInt32, increment: UInt32)
    /// The sender will send nothing more on this stream (TCP half-close).
    case finish(stream: UInt32)
    /// The stream is over in both directions, abruptly.
    case reset(stream: UInt32, TunnelStreamFailure)
    case ping(nonce: UInt64)
    case pong(nonce: UInt64)
    /// One IPv4 packet of the pod network (the edge CNI), on no stream: packets are not flow
    /// controlled, a peer that cannot take one drops it as a router does.
    case packet(ByteBuffer)
    /// The sender's datagram session on this connection: the index its datagrams must carry to
    /// reach it, and the UDP endpoints it may be reached at (at most `maximumCandidates`).
    case datagramOffer(index: UInt32, candidates: [TunnelEndpointAddress])

    /// The most UDP endpoints an offer names: what a peer can make this node probe.
    public static let maximumCandidates = 8

    enum Kind: UInt8 {
        case open = 1, accepted, refused, data, windowUpdate, finish, reset, ping, pong, packet, datagramOffer
    }

    /// The stream a frame belongs to (0 for ping, pong and packets).
    public var stream: UInt32 {
        switch self {
        case .open(let stream, _, _), .accepted(let stream, _), .refused(let stream, _), .data(let stream, _),
            .windowUpdate(let stream, _), .finish(let stream), .reset(let stream, _):
            stream
        case .ping, .pong, .packet, .datagramOffer:
            0
        }
    }

    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .open(let stream, let target, let window):
            buffer.writeHeader(.open, stream)
            buffer.writeInteger(target.transport == .udp ? UInt8(1) : UInt8(0))
            buffer.writeInteger(target.address.value)
            buffer.writeInteger(target.port)
            buffer.writeInteger(window)
            let name = Array(target.node.utf8.prefix(Int(UInt8.max)))
            buffer.writeInteger(UInt8(name.count))
            buffer.writeBytes(name)
        case .accepted(let stream, let window):
            buffer.writeHeader(.accepted, stream)
            buffer.writeInteger(window)
        case .refused(let stream, let failure):
            buffer.writeHeader(.refused, stream)
            failure.encode(into: &buffer)
        case .data(let stream, let payload):
            buffer.writeHeader(.data, stream)
            buffer.writeImmutableBuffer(payload)
        case .windowUpdate(let stream, let increment):
            buffer.writeHeader(.windowUpdate, stream)
            buffer.writeInteger(increment)
        case .finish(let stream):
            buffer.writeHeader(.finish, stream)
        case .reset(let stream, let failure):
            buffer.writeHeader(.reset, stream)
            failure.encode(into: &buffer)
        case .ping(let nonce):
            buffer.writeHeader(.ping, 0)
            buffer.writeInteger(nonce)
        case .pong(let nonce):
            buffer.writeHeader(.pong, 0)
            buffer.writeInteger(nonce)
        case .packet(let packet):
            buffer.writeHeader(.packet, 0)
            buffer.writeImmutableBuffer(packet)
        case .datagramOffer(let index, let candidates):
            buffer.writeHeader(.datagramOffer, 0)
            buffer.writeInteger(index)
            let named = candidates.prefix(Self.maximumCandidates)
            buffer.writeInteger(UInt8(named.count))
            for candidate in named {
                buffer.writeInteger(candidate.address.value)
                buffer.writeInteger(candidate.port)
            }
        }
    }

    /// Decodes one frame that fills `buffer` exactly.
    public static func decode(_ buffer: ByteBuffer) throws(TunnelProtocolError) -> TunnelFrame {
        var buffer = buffer
        guard let rawKind: UInt8 = buffer.readInteger(), let stream: UInt32 = buffer.readInteger() else {
            throw .malformedFrame("a frame of \(buffer.readableBytes) bytes is shorter than its 5-byte header")
        }
        guard let kind = Kind(rawValue: rawKind) else { throw .malformedFrame("unknown frame type \(rawKind)") }
        let frame: TunnelFrame
        switch kind {
        case .open:
            guard let transport: UInt8 = buffer.readInteger(), transport <= 1,
                let address: UInt32 = buffer.readInteger(), let port: UInt16 = buffer.readInteger(),
                let window: UInt32 = buffer.readInteger(), let nameLength: UInt8 = buffer.readInteger(),
                let nameBytes = buffer.readBytes(length: Int(nameLength)), !nameBytes.isEmpty
            else { throw .malformedFrame("stream \(stream): open frame is truncated or names no node") }
            // Strictly UTF-8: decoding with replacement characters would make another, longer name.
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                throw .malformedFrame("stream \(stream): open frame names a node in bytes that are not UTF-8")
            }
            let target = TunnelTarget(node: name, address: IPv4Address(address), port: port,
                                      transport: transport == 1 ? .udp : .tcp)
            frame = .open(stream: stream, target: target, window: window)
        case .accepted:
            guard let window: UInt32 = buffer.readInteger() else {
                throw .malformedFrame("stream \(stream): accepted frame lacks its window")
            }
            frame = .accepted(stream: stream, window: window)
        case .refused:
            frame = .refused(stream: stream, try TunnelStreamFailure.decode(from: &buffer, stream: stream))
        case .data:
            return .data(stream: stream, buffer)
        case .packet:
            guard stream == 0, buffer.readableBytes > 0 else {
                throw .malformedFrame("a packet frame must be on stream 0 and carry a packet")
            }
            return .packet(buffer)
        case .datagramOffer:
            guard stream == 0, let index: UInt32 = buffer.readInteger(), let count: UInt8 = buffer.readInteger(),
                Int(count) <= Self.maximumCandidates, buffer.readableBytes == Int(count) * 6
            else { throw .malformedFrame("a datagram offer must be on stream 0 and name at most \(Self.maximumCandidates) endpoints") }
            var candidates: [TunnelEndpointAddress] = []
            for _ in 0..<count {
                let address: UInt32 = buffer.readInteger()!
                let port: UInt16 = buffer.readInteger()!
                candidates.append(TunnelEndpointAddress(IPv4Address(address), port))
            }
            frame = .datagramOffer(index: index, candidates: candidates)
        case .windowUpdate:
            guard let increment: UInt32 = buffer.readInteger(), increment > 0 else {
                throw .malformedFrame("stream \(stream): window update lacks a positive increment")
            }
            frame = .windowUpdate(stream: stream, increment: increment)
        case .finish:
            frame = .finish(stream: stream)
        case .reset:
            frame = .reset(stream: stream, try TunnelStreamFailure.decode(from: &buffer, stream: stream))
        case .ping, .pong:
            guard let nonce: UInt64 = buffer.readInteger() else {
                throw .malformedFrame("\(kind) frame lacks its 8-byte nonce")
            }
            frame = kind == .ping ? .ping(nonce: nonce) : .pong(nonce: nonce)
        }
        guard buffer.readableBytes == 0 else {
            throw .malformedFrame("stream \(stream): \(buffer.readableBytes) stray bytes after a \(kind) frame")
        }
        return frame
    }
}

extension ByteBuffer {
    fileprivate mutating func writeHeader(_ kind: TunnelFrame.Kind, _ stream: UInt32) {
        writeInteger(kind.rawValue)
        writeInteger(stream)
    }
}
