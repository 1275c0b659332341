import NIOCore

/// "Where do you see my UDP port from?": a node asks a relay on the relay's port over UDP, and
/// the relay answers with the source it saw (the node's server-reflexive endpoint, as a STUN
/// binding gives). A node behind an endpoint-independent NAT offers that endpoint to its peers,
/// so the datagram path can punch through both NATs even while the stream connection is relayed.
///
///     request: type 5 | nonce (8) | zero padding (15)       24 bytes
///     answer:  type 6 | nonce (8) | IPv4 address (4) | port (2)   15 bytes
///
/// The answer is smaller than the request, so a spoofed source gets less than was sent:
/// the relay cannot amplify traffic toward a victim. The nonce ties an answer to a request the
/// node sent, so a stranger cannot plant an endpoint by sending unasked answers.
public enum EndpointReflection {
    public static let requestType: UInt8 = 5
    public static let answerType: UInt8 = 6
    public static let requestLength = 24
    public static let answerLength = 15

    public static func request(nonce: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(requestLength)
        buffer.writeInteger(requestType)
        buffer.writeInteger(nonce)
        buffer.writeRepeatingByte(0, count: requestLength - 9)
        return buffer
    }

    /// The nonce of a well-formed request; nil for anything else.
    public static func decodeRequest(_ buffer: ByteBuffer) -> UInt64? {
        guard buffer.readableBytes == requestLength, buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) == requestType else {
            return nil
        }
        return buffer.getInteger(at: buffer.readerIndex + 1, as: UInt64.self)
    }

    public static func answer(nonce: UInt64, observed: NodeEndpoint) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(answerLength)
        buffer.writeInteger(answerType)
        buffer.writeInteger(nonce)
        buffer.writeInteger(observed.address.value)
        buffer.writeInteger(observed.port)
        return buffer
    }

    /// The nonce and endpoint of a well-formed answer; nil for anything else.
    public static func decodeAnswer(_ buffer: ByteBuffer) -> (nonce: UInt64, observed: NodeEndpoint)? {
        let start = buffer.readerIndex
        guard buffer.readableBytes == answerLength, buffer.getInteger(at: start, as: UInt8.self) == answerType,
            let nonce = buffer.getInteger(at: start + 1, as: UInt64.self),
            let address = buffer.getInteger(at: start + 9, as: UInt32.self),
            let port = buffer.getInteger(at: start + 13, as: UInt16.self)
        else { return nil }
        return (nonce, NodeEndpoint(address: IPv4Address(address), port: port))
    }
}
