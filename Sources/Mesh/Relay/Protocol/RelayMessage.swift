import NIOCore

/// One message on a relay control connection, after the Noise handshake (each is sealed in one
/// transport frame). The relay is a switchboard: it answers reservations and circuit requests
/// itself and passes `signal` payloads between nodes without reading them.
public enum RelayMessage: Hashable, Sendable {
    /// Relay → node, first message: the reservation holds; `observed` is where the relay saw the
    /// control connection come from.
    case reservationAccepted(observed: NodeEndpoint, maxCircuits: Int)
    /// Relay → node: no reservation; the relay closes the connection after this.
    case reservationRefused(RelayRefusal)
    /// Either way: keepalive; the other side answers with `pong` carrying the same value.
    case ping(UInt64)
    case pong(UInt64)
    /// Node → relay: splice me to `node`.
    case openCircuit(request: UInt32, node: String)
    /// Relay → node: open a data connection presenting `token` to take the circuit.
    case circuitOffer(request: UInt32, token: RelayToken)
    case circuitRefused(request: UInt32, RelayRefusal)
    /// Relay → node: `node` wants a circuit to you; open a data connection presenting `token`.
    case incomingCircuit(token: RelayToken, from: String)
    /// Node → relay: pass `payload` to `node`. Relay → node: `payload` from `node`.
    case signal(request: UInt32, node: String, payload: [UInt8])
    /// Relay → node: the signal could not be passed on.
    case signalRefused(request: UInt32, RelayRefusal)

    /// Node names are Kubernetes names (at most 253 bytes); one length byte suffices.
    public static let maxNameLength = 253
    /// Signal payloads are small (addresses, a nonce).
    public static let maxSignalLength = 1024

    public func encode(into buffer: inout ByteBuffer) {
        switch self {
        case .reservationAccepted(let observed, let maxCircuits):
            buffer.writeInteger(Kind.reservationAccepted.rawValue)
            buffer.writeEndpoint(observed)
            buffer.writeInteger(UInt32(clamping: maxCircuits))
        case .reservationRefused(let refusal):
            buffer.writeInteger(Kind.reservationRefused.rawValue)
            buffer.writeRefusal(refusal)
        case .ping(let value):
            buffer.writeInteger(Kind.ping.rawValue)
            buffer.writeInteger(value)
        case .pong(let value):
            buffer.writeInteger(Kind.pong.rawValue)
            buffer.writeInteger(value)
        case .openCircuit(let request, let node):
            buffer.writeInteger(Kind.openCircuit.rawValue)
            buffer.writeInteger(request)
            buffer.writeShortString(node)
        case .circuitOffer(let request, let token):
            buffer.writeInteger(Kind.circuitOffer.rawValue)
            buffer.writeInteger(request)
            buffer.writeBytes(token.bytes)
        case .circuitRefused(let request, let refusal):
            buffer.writeInteger(Kind.circuitRefused.rawValue)
            buffer.writeInteger(request)
            buffer.writeRefusal(refusal)
        case .incomingCircuit(let token, let node):
            buffer.writeInteger(Kind.incomingCircuit.rawValue)
            buffer.writeBytes(token.bytes)
            buffer.writeShortString(node)
        case .signal(let request, let node, let payload):
            buffer.writeInteger(Kind.signal.rawValue)
            buffer.writeInteger(request)
            buffer.writeShortString(node)
            // Longer payloads are cut to the limit (callers stay far below it), length included.
            let kept = payload.prefix(Self.maxSignalLength)
            buffer.writeInteger(UInt16(kept.count))
            buffer.writeBytes(kept)
        case .signalRefused(let request, let refusal):
            buffer.writeInteger(Kind.signalRefused.rawValue)
            buffer.writeInteger(request)
            buffer.writeRefusal(refusal)
        }
    }

    public var encoded: [UInt8] {
        var buffer = ByteBuffer()
        encode(into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// Decodes one whole message; anything short, long or unknown is a `RelayProtocolError`.
    public init(decoding bytes: [UInt8]) throws(RelayProtocolError) {
        var buffer = ByteBuffer(bytes: bytes)
        guard let raw = buffer.readInteger(as: UInt8.self) else { throw .malformed("empty message") }
        guard let kind = Kind(rawValue: raw) else { throw .malformed("unknown message type \(raw)") }
        switch kind {
        case .reservationAccepted:
            let observed = try buffer.readEndpoint()
            self = .reservationAccepted(observed: observed, maxCircuits: Int(try buffer.read(UInt32.self, "limit")))
        case .reservationRefused:
            self = .reservationRefused(try buffer.readRefusal())
        case .ping:
            self = .ping(try buffer.read(UInt64.self, "ping value"))
        case .pong:
            self = .pong(try buffer.read(UInt64.self, "pong value"))
        case .openCircuit:
            let request = try buffer.read(UInt32.self, "request id")
            self = .openCircuit(request: request, node: try buffer.readShortString())
        case .circuitOffer:
            let request = try buffer.read(UInt32.self, "request id")
            self = .circuitOffer(request: request, token: try buffer.readToken())
        case .circuitRefused:
            let request = try buffer.read(UInt32.self, "request id")
            self = .circuitRefused(request: request, try buffer.readRefusal())
        case .incomingCircuit:
            let token = try buffer.readToken()
            self = .incomingCircuit(token: token, from: try buffer.readShortString())
        case .signal:
            let request = try buffer.read(UInt32.self, "request id")
            let node = try buffer.readShortString()
            let length = Int(try buffer.read(UInt16.self, "signal length"))
            guard length <= Self.maxSignalLength, let payload = buffer.readBytes(length: length) else {
                throw .malformed("signal payload of \(length) bytes is too long or truncated")
            }
            self = .signal(request: request, node: node, payload: payload)
        case .signalRefused:
            let request = try buffer.read(UInt32.self, "request id")
            self = .signalRefused(request: request, try buffer.readRefusal())
        }
        guard buffer.readableBytes == 0 else {
            throw .malformed("\(buffer.readableBytes) stray bytes after a \(kind) message")
        }
    }

    private enum Kind: UInt8 {
        case reservationAccepted = 1, reservationRefused, ping, pong, openCircuit, circuitOffer, circuitRefused,
            incomingCircuit, signal, signalRefused
    }
}

extension ByteBuffer {
    fileprivate mutating func read<T: FixedWidthInteger>(_ type: T.Type, _ what: String) throws(RelayProtocolError) -> T {
        guard let value = readInteger(as: T.self) else { throw .malformed("truncated \(what)") }
        return value
    }

    fileprivate mutating func writeShortString(_ text: String) {
        let bytes = Array(text.utf8.prefix(RelayMessage.maxNameLength))
        writeInteger(UInt8(bytes.count))
        writeBytes(bytes)
    }

    fileprivate mutating func readShortString() throws(RelayProtocolError) -> String {
        let length = Int(try read(UInt8.self, "name length"))
        guard let bytes = readBytes(length: length) else { throw .malformed("truncated name") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .malformed("a name is not UTF-8") }
        return text
    }

    fileprivate mutating func writeEndpoint(_ endpoint: NodeEndpoint) {
        writeInteger(endpoint.address.value)
        writeInteger(endpoint.port)
    }

    fileprivate mutating func readEndpoint() throws(RelayProtocolError) -> NodeEndpoint {
        let address = try read(UInt32.self, "address")
        return NodeEndpoint(address: IPv4Address(address), port: try read(UInt16.self, "port"))
    }

    fileprivate mutating func readToken() throws(RelayProtocolError) -> RelayToken {
        guard let bytes = readBytes(length: RelayToken.length), let token = RelayToken(bytes: bytes) else {
            throw .malformed("truncated circuit token")
        }
        return token
    }

    fileprivate mutating func writeRefusal(_ refusal: RelayRefusal) {
        let (code, node, limit): (UInt8, String, Int) =
            switch refusal {
            case .noReservation(let node): (1, node, 0)
            case .circuitLimitReached(let node, let limit): (2, node, limit)
            case .relayOverloaded(let limit): (3, "", limit)
            case .reservationsFull(let limit): (4, "", limit)
            case .peerDidNotAnswer(let node): (5, node, 0)
            case .nameBoundToAnotherKey(let node): (6, node, 0)
            case .targetIsSelf(let node): (7, node, 0)
            case .keyBoundToAnotherNode(let node): (8, node, 0)
            case .nodeUnknownToCluster(let node): (9, node, 0)
            case .addressReservationsFull(let limit): (10, "", limit)
            }
        writeInteger(code)
        writeShortString(node)
        writeInteger(UInt32(clamping: limit))
    }

    fileprivate mutating func readRefusal() throws(RelayProtocolError) -> RelayRefusal {
        let code = try read(UInt8.self, "refusal code")
        let node = try readShortString()
        let limit = Int(try read(UInt32.self, "refusal limit"))
        switch code {
        case 1: return .noReservation(node: node)
        case 2: return .circuitLimitReached(node: node, limit: limit)
        case 3: return .relayOverloaded(limit: limit)
        case 4: return .reservationsFull(limit: limit)
        case 5: return .peerDidNotAnswer(node: node)
        case 6: return .nameBoundToAnotherKey(node: node)
        case 7: return .targetIsSelf(node: node)
        case 8: return .keyBoundToAnotherNode(node: node)
        case 9: return .nodeUnknownToCluster(node: node)
        case 10: return .addressReservationsFull(limit: limit)
        default: throw .malformed("unknown refusal code \(code)")
        }
    }
}
