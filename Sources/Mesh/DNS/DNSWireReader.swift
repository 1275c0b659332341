import NIOCore

/// Bounds-checked reads over one DNS message. Offsets are relative to the message start, which is
/// what compression pointers count from; every read checks the remaining length first and throws
/// rather than trapping, so hostile packets cannot crash the decoder.
struct DNSWireReader {
    /// A valid name has at most 127 labels, so it never needs more jumps than that.
    static let maximumPointerJumps = 127

    private let buffer: ByteBuffer
    private let base: Int
    let length: Int
    private(set) var offset: Int = 0

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
        self.base = buffer.readerIndex
        self.length = buffer.readableBytes
    }

    var remaining: Int { length - offset }

    private func require(_ count: Int, at position: Int, field: String) throws(DNSDecodingError) {
        if position < 0 || count > length - position {
            throw .truncated(field: field, offset: position, needed: count, remaining: max(0, length - position))
        }
    }

    private func byte(at position: Int) -> UInt8 {
        // Callers have checked `position < length`.
        buffer.getInteger(at: base + position, as: UInt8.self)!
    }

    mutating func readUInt8(_ field: String) throws(DNSDecodingError) -> UInt8 {
        try require(1, at: offset, field: field)
        defer { offset += 1 }
        return byte(at: offset)
    }

    mutating func readUInt16(_ field: String) throws(DNSDecodingError) -> UInt16 {
        try require(2, at: offset, field: field)
        defer { offset += 2 }
        return buffer.getInteger(at: base + offset, as: UInt16.self)!
    }

    mutating func readUInt32(_ field: String) throws(DNSDecodingError) -> UInt32 {
        try require(4, at: offset, field: field)
        defer { offset += 4 }
        return buffer.getInteger(at: base + offset, as: UInt32.self)!
    }

    mutating func readBytes(_ count: Int, _ field: String) throws(DNSDecodingError) -> [UInt8] {
        try require(count, at: offset, field: field)
        defer { offset += count }
        return buffer.getBytes(at: base + offset, length: count)!
    }

    mutating func skip(_ count: Int, _ field: String) throws(DNSDecodingError) {
        try require(count, at: offset, field: field)
        offset += count
    }

    /// Reads a possibly compressed name. Each pointer must point before the start of the label run
    /// that contains it, so the sequence of jump targets strictly decreases and must end; the jump
    /// limit and the 255-octet limit bound the work further.
    mutating func readName() throws(DNSDecodingError) -> DNSName {
        let nameOffset = offset
        var labels: [[UInt8]] = []
        var wireLength = 1
        var position = offset
        var runStart = offset
        var jumps = 0
        var resumeOffset: Int? = nil
        while true {
            try require(1, at: position, field: "name label length")
            let octet = byte(at: position)
            switch octet & 0xC0 {
            case 0x00:
                let count = Int(octet)
                if count == 0 {
                    offset = resumeOffset ?? position + 1
                    return DNSName(uncheckedLabels: labels)
                }
                wireLength += 1 + count
                if wireLength > DNSName.maximumWireLength { throw .nameTooLong(nameOffset: nameOffset) }
                try require(count, at: position + 1, field: "name label")
                labels.append(buffer.getBytes(at: base + position + 1, length: count)!)
                position += 1 + count
            case 0xC0:
                try require(2, at: position, field: "name pointer")
                let target = Int(buffer.getInteger(at: base + position, as: UInt16.self)! & 0x3FFF)
                if target >= runStart { throw .pointerNotBackwards(offset: position, target: target) }
                jumps += 1
                if jumps > DNSWireReader.maximumPointerJumps {
                    throw .tooManyPointers(nameOffset: nameOffset, limit: DNSWireReader.maximumPointerJumps)
                }
                if resumeOffset == nil { resumeOffset = position + 2 }
                position = target
                runStart = target
            default:
                throw .unsupportedLabelType(offset: position, octet: octet)
            }
        }
    }
}
