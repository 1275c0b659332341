/// Why a DNS message could not be decoded. Offsets count from the first octet of the message,
/// as in a packet dump, so a report can be checked against the bytes.
public enum DNSDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The message ends before a field is complete.
    case truncated(field: String, offset: Int, needed: Int, remaining: Int)
    /// A compression pointer that does not point before the label sequence it continues: pointers
    /// must strictly move backwards, which is what makes loops impossible.
    case pointerNotBackwards(offset: Int, target: Int)
    /// A name that follows more compression pointers than any valid name needs.
    case tooManyPointers(nameOffset: Int, limit: Int)
    /// A label length octet with the reserved top bits 01 or 10 (RFC 6891 §5 retired them).
    case unsupportedLabelType(offset: Int, octet: UInt8)
    /// A name whose expansion exceeds 255 octets.
    case nameTooLong(nameOffset: Int)
    /// A record whose RDLENGTH runs past the end of the message.
    case rdataOverrun(recordOffset: Int, declared: Int, remaining: Int)
    /// RDATA whose content does not fill exactly RDLENGTH octets for its type.
    case rdataLengthMismatch(recordOffset: Int, type: DNSRecordType, declared: Int, used: Int)
    /// A second OPT pseudo-record (RFC 6891 §6.1.1 makes that FORMERR).
    case duplicateOPTRecord(recordOffset: Int)
    /// An OPT pseudo-record in the answer or authority section.
    case misplacedOPTRecord(recordOffset: Int, section: String)
    /// An OPT pseudo-record whose owner is not the root, or whose options overrun its RDATA.
    case malformedOPTRecord(recordOffset: Int, reason: String)

    public var description: String {
        switch self {
        case .truncated(let field, let offset, let needed, let remaining):
            return "message ends while reading \(field) at offset \(offset): needs \(needed) bytes; \(remaining) remain"
        case .pointerNotBackwards(let offset, let target):
            return "name pointer at offset \(offset) points forward (to offset \(target)); pointers must point before the name they continue"
        case .tooManyPointers(let nameOffset, let limit):
            return "name at offset \(nameOffset) follows more than \(limit) compression pointers"
        case .unsupportedLabelType(let offset, let octet):
            let hex = String(octet, radix: 16)
            return "label at offset \(offset) has unsupported type bits (length octet 0x\(hex)); labels are longer than 63 octets or extended"
        case .nameTooLong(let nameOffset):
            return "name at offset \(nameOffset) is longer than 255 octets"
        case .rdataOverrun(let recordOffset, let declared, let remaining):
            return "record at offset \(recordOffset) claims \(declared) bytes of RDATA; \(remaining) remain"
        case .rdataLengthMismatch(let recordOffset, let type, let declared, let used):
            return "\(type) record at offset \(recordOffset) declares \(declared) bytes of RDATA but its content takes \(used)"
        case .duplicateOPTRecord(let recordOffset):
            return "second OPT record at offset \(recordOffset); a message carries at most one"
        case .misplacedOPTRecord(let recordOffset, let section):
            return "OPT record at offset \(recordOffset) is in the \(section) section; it belongs in the additional section"
        case .malformedOPTRecord(let recordOffset, let reason):
            return "OPT record at offset \(recordOffset): \(reason)"
        }
    }
}
