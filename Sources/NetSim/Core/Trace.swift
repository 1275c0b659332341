import Crypto
import Mesh
import NetworkTopology

/// The ordered record of everything the network did in a run: each packet delivered or
/// dropped (with the reason) and each fault. Its SHA-256 is the run's fingerprint: the same
/// (scenario, seed, build) gives the same hash, in one process or in two.
///
/// Records are hashed in a fixed binary layout (little-endian integers, no text), which keeps
/// hashing cheap at a million packets per second. A text rendering of the same records is
/// written only when a trace file is asked for.
public final class Trace {
    public enum Event: UInt8, Sendable {
        case delivered = 1
        case dropped = 2
        case fault = 3
        case forwarded = 4
    }

    private var hasher = SHA256()
    public private(set) var recordCount: UInt64 = 0
    /// Receives one line per record when set (the `--trace FILE` option).
    public var textSink: ((String) -> Void)?

    public init() {}

    /// The fixed binary layout of a packet record: eight little-endian 64-bit words.
    private struct PacketRecord {
        var event: UInt64
        var time: UInt64
        var node: UInt64
        var packet: UInt64
        var source: UInt64
        var destination: UInt64
        var protocolAndFlags: UInt64
        var length: UInt64
    }

    /// A packet arrived at `node` (`delivered` to a host, `forwarded` by a router) or was dropped there.
    func recordPacket(_ event: Event, at time: UInt64, node: NodeID, packet: Packet, reason: String? = nil) {
        var record = PacketRecord(
            event: UInt64(event.rawValue).littleEndian, time: time.littleEndian,
            node: UInt64(UInt32(bitPattern: node.index)).littleEndian, packet: packet.id.littleEndian,
            source: (UInt64(packet.source.address.value) << 16 | UInt64(packet.source.port)).littleEndian,
            destination: (UInt64(packet.destination.address.value) << 16 | UInt64(packet.destination.port)).littleEndian,
            protocolAndFlags: (UInt64(packet.transport == .tcp ? 6 : 17) << 8 | UInt64(packet.tcp?.flags.rawValue ?? 0)).littleEndian,
            length: UInt64(packet.payload.readableBytes).littleEndian)
        withUnsafeBytes(of: &record) { hasher.update(bufferPointer: $0) }
        if let reason { hasher.update(data: Array(reason.utf8)) }
        recordCount &+= 1
        if let textSink {
            var line = "\(Nanoseconds.format(time)) \(event) node=\(node.index) id=\(packet.id) "
            line += "\(packet.transport) \(packet.source) > \(packet.destination)"
            if let tcp = packet.tcp { line += " [\(tcp.flags)] seq=\(tcp.sequence) ack=\(tcp.acknowledgment)" }
            line += " len=\(packet.payload.readableBytes)"
            if let reason { line += " reason=\(reason)" }
            textSink(line)
        }
    }

    /// A fault began or ended (`what` says which, in words).
    func recordFault(at time: UInt64, _ what: String) {
        var header = (UInt64(Event.fault.rawValue).littleEndian, time.littleEndian)
        withUnsafeBytes(of: &header) { hasher.update(bufferPointer: $0) }
        hasher.update(data: Array(what.utf8))
        recordCount &+= 1
        textSink?("\(Nanoseconds.format(time)) fault \(what)")
    }

    /// The hex SHA-256 of every record so far (the run continues to be hashable afterwards).
    public var digest: String {
        hasher.finalize().map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
