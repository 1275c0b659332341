import Crypto
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer entry point for everything a peer, a client or a file can hand the agent, compiled
/// together with the Mesh sources by `scripts/fuzz` (one instrumented build, one target per run:
/// `EDGEMESH_FUZZ_TARGET`). Each target feeds the input to a decoder; a decoded value must
/// encode back to something that decodes to the same value. A trap is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMesh(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch MeshFuzzTarget.selected {
    case .tunnelFrame: MeshFuzzTarget.tunnelFrame(bytes)
    case .handshake: MeshFuzzTarget.handshake(bytes)
    case .relay: MeshFuzzTarget.relay(bytes)
    case .lanBeacon: MeshFuzzTarget.lanBeacon(bytes)
    case .httpRequest: MeshFuzzTarget.httpRequest(bytes)
    case .manifest: MeshFuzzTarget.manifest(bytes)
    case .dns: MeshFuzzTarget.dns(bytes)
    }
    return 0
}

enum MeshFuzzTarget: String, CaseIterable {
    case tunnelFrame = "tunnel-frame"
    case handshake
    case relay
    case lanBeacon = "lan-beacon"
    case httpRequest = "http-request"
    case manifest
    case dns

    static let selected: MeshFuzzTarget = {
        let name = getenv("EDGEMESH_FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let target = MeshFuzzTarget(rawValue: name) else {
            fatalError("EDGEMESH_FUZZ_TARGET must be one of \(allCases.map(\.rawValue)), not \"\(name)\"")
        }
        return target
    }()

    /// A frame as the tunnel opens it from a record.
    static func tunnelFrame(_ bytes: [UInt8]) {
        guard let frame = try? TunnelFrame.decode(ByteBuffer(bytes: bytes)) else { return }
        var encoded = ByteBuffer()
        frame.encode(into: &encoded)
        guard let again = try? TunnelFrame.decode(encoded), again == frame else {
            fatalError("a decoded tunnel frame does not survive encoding")
        }
    }

    static let presharedKey = TunnelPresharedKey(derivedKey: [UInt8](repeating: 0x42, count: 32))
    static let responderKey = try! NoiseKeyPair(privateKey: [UInt8](repeating: 0x07, count: 32))
    static let ephemeralKey = try! NoiseKeyPair(privateKey: [UInt8](repeating: 0x09, count: 32))

    /// An initiation as a stranger may send it: the PSK gate, the replay filter with the
    /// timestamp and clock the input names (extreme values included), and Noise message 1.
    static func handshake(_ bytes: [UInt8]) {
        let gate = HandshakeInitiationGate(presharedKey: presharedKey, responderStaticKey: responderKey.publicKey)
        _ = try? gate.open(bytes)
        if bytes.count >= 16 {
            var filter = HandshakeReplayFilter(window: 120_000_000_000, capacity: 8)
            let timestamp = bytes.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
            let now = bytes.dropFirst(8).prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
            _ = try? filter.admit(timestamp: timestamp, mac: Array(bytes.suffix(16)), now: now)
        }
        guard var responder = try? NoiseHandshake(
            role: .responder, staticKey: responderKey, ephemeralKey: ephemeralKey, presharedKey: presharedKey.bytes,
            prologue: TunnelEndpoint.prologue, peerKeyValidator: { _ in true })
        else { fatalError("the responder cannot start") }
        _ = try? responder.readMessage(bytes)
    }

    /// Relay control messages and the punch signals and hellos they carry.
    static func relay(_ bytes: [UInt8]) {
        if let message = try? RelayMessage(decoding: bytes), (try? RelayMessage(decoding: message.encoded)) != message {
            fatalError("a decoded relay message does not survive encoding")
        }
        if let signal = PunchSignal(decoding: bytes), PunchSignal(decoding: signal.encoded) != signal {
            fatalError("a decoded punch signal does not survive encoding")
        }
        _ = PunchHello.decode(bytes)
    }

    static let beaconKey = LANBeacon.macKey(presharedKey: presharedKey)

    /// A datagram on the LAN beacon port; a genuine one (rare) must say what was signed.
    static func lanBeacon(_ bytes: [UInt8]) {
        guard let (name, time) = LANBeacon.verify(bytes, macKey: beaconKey) else { return }
        let resigned = LANBeacon.announcement(
            name: Array(name.utf8), key: Array(bytes[(5 + Int(bytes[4]))..<(5 + Int(bytes[4]) + 32)]), time: time, macKey: beaconKey)
        precondition(LANBeacon.verify(resigned, macKey: beaconKey) != nil)
    }

    /// A connection's first bytes under a policy that hashes on request fields: the peek, then
    /// a head's fields as the balancer reads them.
    static func httpRequest(_ bytes: [UInt8]) {
        _ = HTTPRequestHeadPeek.opensWithRequestMethod(ByteBuffer(bytes: bytes))
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let start = lines.first?.split(separator: " ", maxSplits: 2) ?? []
        let headers = lines.dropFirst().compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]))
        }
        let request = HTTPRequestSummary(
            method: start.first.map(String.init) ?? "", target: start.count > 1 ? String(start[1]) : "", headers: headers)
        let attributes = RequestAttributes(clientAddress: IPv4Address(10, 0, 0, 1), httpRequest: request)
        for key in [DestinationRule.HashKey.httpHeaderName("x-user"), .httpCookie(.init(name: "session")),
                    .httpQueryParameterName("user"), .sourceIP] {
            _ = attributes.hashText(for: key).map { StableHash.hash($0) }
        }
    }

    /// A DNS message: rejected with a `DNSDecodingError`, or decoded to a message whose
    /// encoding (full, and truncated to 512 octets) decodes again.
    static func dns(_ bytes: [UInt8]) {
        let message: DNSMessage
        do {
            message = try DNSMessage(decoding: ByteBuffer(bytes: bytes))
        } catch {
            precondition(!error.description.isEmpty)
            return
        }
        var full = ByteBuffer()
        message.encode(into: &full)
        guard let again = try? DNSMessage(decoding: full), again == message else {
            fatalError("re-encoding changed or broke a decoded message")
        }
        var small = ByteBuffer()
        let truncated = message.encode(into: &small, maximumSize: DNSMessage.classicUDPSize)
        guard let shortened = try? DNSMessage(decoding: small) else { fatalError("a truncated encoding does not decode") }
        precondition(shortened.header.isTruncated == (truncated || message.header.isTruncated))
        precondition(shortened.questions == message.questions)
    }

    /// A manifest file as the agent reads it, then the same file changed (a NUL splits the two).
    static func manifest(_ bytes: [UInt8]) {
        let parts = bytes.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let first = ManifestSet(files: ["fuzz.yaml": String(decoding: parts[0], as: UTF8.self)])
        _ = first.changes
        if parts.count > 1 {
            let second = ManifestSet(files: ["fuzz.yaml": String(decoding: parts[1], as: UTF8.self)], previous: first)
            _ = second.changes
        }
    }
}
