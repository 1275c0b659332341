import NIOCore

/// Cuts the raw byte stream between two agents into records:
///
///     length (2, big-endian) | record type (1) | body (length - 1 bytes)
///
/// A length of zero, or one past `maxRecordLength`, cannot come from a genuine peer; the
/// decoder throws instead of buffering without bound.
struct TunnelRecordDecoder: ByteToMessageDecoder {
    typealias InboundOut = TunnelRecord

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) else { return .needMoreData }
        guard length >= 1 else { throw TunnelProtocolError.unexpectedRecord("empty record") }
        guard buffer.readableBytes >= 2 + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        let rawType: UInt8 = buffer.readInteger()!
        let body = buffer.readSlice(length: Int(length) - 1)!
        guard let type = TunnelRecord.RecordType(rawValue: rawType) else {
            throw TunnelProtocolError.unexpectedRecord("unknown record type \(rawType)")
        }
        context.fireChannelRead(Self.wrapInboundOut(TunnelRecord(type: type, body: body)))
        return .continue
    }
}

/// One record of the tunnel's outer framing: a handshake message or an encrypted frame.
struct TunnelRecord: Sendable {
    enum RecordType: UInt8, Sendable {
        /// Handshake message 1, with the timestamp and the PSK-keyed MAC that gate it.
        case initiation = 1
        /// Handshake message 2.
        case response = 2
        /// Handshake message 3, carrying the initiator's node name.
        case confirmation = 3
        /// A Noise transport frame holding one `TunnelFrame`.
        case transport = 4
    }

    /// The largest record (type and body) the 2-byte length can describe.
    static let maxLength = Int(UInt16.max)

    var type: RecordType
    var body: ByteBuffer

    func encode(allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 3 + body.readableBytes)
        buffer.writeInteger(UInt16(1 + body.readableBytes))
        buffer.writeInteger(type.rawValue)
        buffer.writeImmutableBuffer(body)
        return buffer
    }
}
