import NIOCore

/// Writes names with RFC 1035 §4.1.4 compression for one message. The compression table maps each
/// name suffix already written (folded to lower case) to its offset from the message start; it
/// belongs to the writer so that it lives exactly as long as the message being encoded.
struct DNSWireWriter {
    /// Pointers carry 14 bits of offset; suffixes written later than this cannot be targets.
    static let maximumPointerTarget = 0x3FFF

    let base: Int
    private var compressionTable: [[[UInt8]]: Int] = [:]

    init(messageStart: Int) {
        self.base = messageStart
    }

    /// Bytes written since the message start.
    func size(of buffer: ByteBuffer) -> Int { buffer.writerIndex - base }

    /// Writes `name`, ending in a pointer at the longest suffix already in the message when
    /// `compress` is true; records the new suffixes either way so later names can point at them.
    mutating func write(_ name: DNSName, compress: Bool, into buffer: inout ByteBuffer) {
        let folded = name.lowercasedLabels
        for index in name.labels.indices {
            let suffix = Array(folded[index...])
            if compress, let target = compressionTable[suffix] {
                buffer.writeInteger(UInt16(0xC000 | target))
                return
            }
            let offset = size(of: buffer)
            if offset <= DNSWireWriter.maximumPointerTarget, compressionTable[suffix] == nil {
                compressionTable[suffix] = offset
            }
            buffer.writeInteger(UInt8(name.labels[index].count))
            buffer.writeBytes(name.labels[index])
        }
        buffer.writeInteger(UInt8(0))
    }

    /// Forgets suffixes recorded at or after `offset`, for when the bytes there are rolled back.
    mutating func forgetSuffixes(from offset: Int) {
        compressionTable = compressionTable.filter { $0.value < offset }
    }
}
