#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore

/// What went wrong writing a capture file; every case names the file.
public enum PcapFileWriterError: Error, Hashable, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case closeFailed(path: String, reason: String)
    /// `record` or `flush` after `close()`.
    case alreadyClosed(path: String)
    /// The packet cannot be a frame (see `FrameEncodingError`); the file is unchanged.
    case unencodable(path: String, FrameEncodingError)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason):
            return "cannot create capture file \(path): \(reason); check the directory exists and is writable"
        case .writeFailed(let path, let reason):
            return "cannot write capture file \(path): \(reason)"
        case .closeFailed(let path, let reason):
            return "cannot close capture file \(path): \(reason); its tail may be lost"
        case .alreadyClosed(let path):
            return "capture file \(path) is already closed"
        case .unencodable(let path, let error):
            return "capture file \(path): \(error)"
        }
    }
}

/// Writes simulated packets to a classic pcap file (nanosecond timestamps, Ethernet link
/// type) that tcpdump, Wireshark/tshark and libpcap read.
///
/// Timestamps are the simulator's virtual nanoseconds, so a run's captures are as
/// deterministic as its trace. Byte order is little-endian whatever the machine, so the same
/// run gives the same file everywhere (readers detect the order from the magic number).
///
/// Not thread-safe: one writer belongs to one simulated host, driven from the simulator's loop.
public final class PcapFileWriter {
    public static let magicNanoseconds: UInt32 = 0xA1B2_3C4D
    public static let versionMajor: UInt16 = 2
    public static let versionMinor: UInt16 = 4
    public static let snapshotLength: UInt32 = 65535
    public static let linkTypeEthernet: UInt32 = 1
    public static let fileHeaderLength = 24
    public static let recordHeaderLength = 16
    /// Buffered bytes above which `record` writes them out.
    public static let flushThreshold = 64 * 1024

    public let path: String
    /// Records written (or buffered) so far.
    public private(set) var recordCount = 0
    private var descriptor: Int32
    private var pending: ByteBuffer

    /// Creates (or truncates) the file at `path` and writes the pcap file header.
    public init(path: String) throws(PcapFileWriterError) {
        self.path = path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: PcapFileWriter.errnoText()) }
        descriptor = fd
        pending = ByteBufferAllocator().buffer(capacity: PcapFileWriter.flushThreshold + 2 * 65536)
        pending.writeInteger(PcapFileWriter.magicNanoseconds, endianness: .little)
        pending.writeInteger(PcapFileWriter.versionMajor, endianness: .little)
        pending.writeInteger(PcapFileWriter.versionMinor, endianness: .little)
        pending.writeInteger(Int32(0), endianness: .little)  // thiszone: timestamps are UTC
        pending.writeInteger(UInt32(0), endianness: .little)  // sigfigs, always 0
        pending.writeInteger(PcapFileWriter.snapshotLength, endianness: .little)
        pending.writeInteger(PcapFileWriter.linkTypeEthernet, endianness: .little)
    }

    deinit {
        // Best effort for a writer dropped without close(): keep what was captured.
        if descriptor >= 0 {
            try? flush()
            _ = closeDescriptor(descriptor)
        }
    }

    /// Appends `packet` as one Ethernet frame stamped `nanoseconds` of virtual time.
    /// A frame longer than the snapshot length is stored truncated, with its full length.
    public func record(_ packet: Packet, at nanoseconds: UInt64) throws(PcapFileWriterError) {
        guard descriptor >= 0 else { throw .alreadyClosed(path: path) }
        let headerStart = pending.writerIndex
        pending.writeInteger(UInt32(truncatingIfNeeded: nanoseconds / 1_000_000_000), endianness: .little)
        pending.writeInteger(UInt32(nanoseconds % 1_000_000_000), endianness: .little)
        pending.writeInteger(UInt64(0))  // lengths, set once the frame is encoded
        let frameLength: Int
        do {
            frameLength = try FrameEncoder.encode(packet, into: &pending)
        } catch {
            pending.moveWriterIndex(to: headerStart)
            throw .unencodable(path: path, error)
        }
        let storedLength = min(frameLength, Int(PcapFileWriter.snapshotLength))
        pending.moveWriterIndex(to: pending.writerIndex - (frameLength - storedLength))
        pending.setInteger(UInt32(storedLength), at: headerStart + 8, endianness: .little)
        pending.setInteger(UInt32(frameLength), at: headerStart + 12, endianness: .little)
        recordCount += 1
        if pending.readableBytes > PcapFileWriter.flushThreshold {
            try flush()
        }
    }

    /// Writes buffered records to the file.
    public func flush() throws(PcapFileWriterError) {
        guard descriptor >= 0 else { throw .alreadyClosed(path: path) }
        while pending.readableBytes > 0 {
            let written = pending.withUnsafeReadableBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw .writeFailed(path: path, reason: PcapFileWriter.errnoText())
            }
            pending.moveReaderIndex(forwardBy: written)
        }
        pending.clear()
    }

    /// Flushes and closes the file. Calling it again is harmless.
    public func close() throws(PcapFileWriterError) {
        guard descriptor >= 0 else { return }
        // Close even when the flush fails, so the descriptor never leaks; report the flush.
        var flushError: PcapFileWriterError?
        do { try flush() } catch { flushError = error }
        let result = closeDescriptor(descriptor)
        let closeReason = result == 0 ? nil : PcapFileWriter.errnoText()
        descriptor = -1
        if let flushError { throw flushError }
        if let closeReason { throw .closeFailed(path: path, reason: closeReason) }
    }

    private static func errnoText() -> String {
        let code = errno
        return "\(String(cString: strerror(code))) (errno \(code))"
    }
}

/// The C `close`, which `PcapFileWriter.close()` hides inside the class.
private func closeDescriptor(_ descriptor: Int32) -> Int32 {
    close(descriptor)
}
