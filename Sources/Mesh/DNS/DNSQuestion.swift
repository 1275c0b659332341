import NIOCore

/// One entry of the question section.
public struct DNSQuestion: Hashable, Sendable, CustomStringConvertible {
    public var name: DNSName
    public var type: DNSRecordType
    public var `class`: DNSClass

    public init(name: DNSName, type: DNSRecordType, class: DNSClass = .internet) {
        self.name = name
        self.type = type
        self.class = `class`
    }

    public var description: String { "\(name) \(`class`) \(type)" }

    static func read(from reader: inout DNSWireReader) throws(DNSDecodingError) -> DNSQuestion {
        let name = try reader.readName()
        let type = DNSRecordType(rawValue: try reader.readUInt16("QTYPE"))
        let `class` = DNSClass(rawValue: try reader.readUInt16("QCLASS"))
        return DNSQuestion(name: name, type: type, class: `class`)
    }

    func write(into buffer: inout ByteBuffer, writer: inout DNSWireWriter) {
        writer.write(name, compress: true, into: &buffer)
        buffer.writeInteger(type.rawValue)
        buffer.writeInteger(`class`.rawValue)
    }
}
