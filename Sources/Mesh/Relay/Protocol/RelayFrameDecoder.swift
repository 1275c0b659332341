import NIOCore

/// Splits a relay control connection into frames: a 2-byte big-endian length, then that many
/// bytes. Sixteen bits bound every frame (a Noise message is at most 65535 bytes), so a peer
/// cannot make us buffer more than one such frame.
struct RelayFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = [UInt8]

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
            buffer.readableBytes >= 2 + Int(length)
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        context.fireChannelRead(wrapInboundOut(buffer.readBytes(length: Int(length))!))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial frame at the end of the stream is dropped with the connection.
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }

    /// Frames `bytes` for the wire.
    static func frame(_ bytes: [UInt8], allocator: ByteBufferAllocator) throws(RelayProtocolError) -> ByteBuffer {
        guard let length = UInt16(exactly: bytes.count) else { throw .frameTooLong(bytes.count) }
        var buffer = allocator.buffer(capacity: 2 + bytes.count)
        buffer.writeInteger(length)
        buffer.writeBytes(bytes)
        return buffer
    }
}
