import NIOCore

/// A resource record of the answer, authority or additional section. Its TYPE is that of `data`.
public struct DNSResourceRecord: Hashable, Sendable {
    public var name: DNSName
    public var `class`: DNSClass
    /// Seconds the record may be cached.
    public var ttl: UInt32
    public var data: DNSRecordData

    public init(name: DNSName, class: DNSClass = .internet, ttl: UInt32, data: DNSRecordData) {
        self.name = name
        self.class = `class`
        self.ttl = ttl
        self.data = data
    }

    public var type: DNSRecordType { data.type }

    /// Writes the whole record, filling in RDLENGTH once the RDATA is written. RDATA longer than
    /// 65,535 octets gets a wrapped length, but then the message is too big to send and the
    /// message encoder drops the record.
    func write(into buffer: inout ByteBuffer, writer: inout DNSWireWriter) {
        writer.write(name, compress: true, into: &buffer)
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(`class`.rawValue)
        buffer.writeInteger(ttl)
        let lengthIndex = buffer.writerIndex
        buffer.writeInteger(UInt16(0))
        data.write(into: &buffer, writer: &writer)
        let length = buffer.writerIndex - lengthIndex - 2
        buffer.setInteger(UInt16(truncatingIfNeeded: length), at: lengthIndex)
    }
}
