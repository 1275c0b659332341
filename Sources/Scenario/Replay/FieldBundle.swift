/// What `edgemesh capture` takes from a node for a field issue, in one file a scenario can
/// load: a tar archive (ustar; `tar -tf` lists it) of
///
/// - `capture.pcap`: the node's packets as their senders wrote them (raw IPv4, before the
///   agent's redirect), for a `replay` workload's `pcap:`;
/// - `table.json`: the agent's service table as a Kubernetes List, for `manifests:`;
/// - `status.json`: the agent's status at the end of the capture;
/// - `bundle.json`: where and when it was taken.
///
/// A scenario names the bundle where it would name a capture or a manifest file; the reader
/// takes the member it needs.
public struct FieldBundle: Sendable {
    public static let captureMember = "capture.pcap"
    public static let tableMember = "table.json"
    public static let statusMember = "status.json"
    public static let infoMember = "bundle.json"

    public var members: [(name: String, bytes: [UInt8])]

    public init(members: [(name: String, bytes: [UInt8])]) {
        self.members = members
    }

    /// Whether `bytes` are a tar archive (the ustar magic at offset 257).
    public static func isBundle(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 512 && Array(bytes[257..<262]) == Array("ustar".utf8)
    }

    /// Reads an archive; throws `FieldBundleError` for one that is cut short or whose header
    /// checksums do not add up. Only regular files are kept.
    public init(reading bytes: [UInt8]) throws(FieldBundleError) {
        var members: [(String, [UInt8])] = []
        var offset = 0
        while offset + 512 <= bytes.count {
            let header = Array(bytes[offset..<(offset + 512)])
            if header.allSatisfy({ $0 == 0 }) { break }
            let stored = Self.octal(header[148..<156])
            var sum = header.enumerated().reduce(0) { $0 + Int(148..<156 ~= $1.offset ? 0x20 : $1.element) }
            sum &= 0x3FFFF
            guard stored == sum else { throw .corrupt("header \(members.count + 1) has checksum \(stored ?? -1), its bytes add up to \(sum)") }
            let name = Self.text(header[0..<100])
            guard let size = Self.octal(header[124..<136]) else { throw .corrupt("\(name): no size") }
            let start = offset + 512
            guard start + size <= bytes.count else { throw .corrupt("\(name): \(size) bytes, the archive ends first") }
            if header[156] == UInt8(ascii: "0") || header[156] == 0 { members.append((name, Array(bytes[start..<(start + size)]))) }
            offset = start + (size + 511) / 512 * 512
        }
        self.members = members
    }

    /// The member called `name`.
    public func member(_ name: String) -> [UInt8]? {
        members.first { $0.name == name }?.bytes
    }

    /// What a scenario reads from a file it names: the file itself, or, for a bundle, its
    /// member `name`. Throws for a bundle without that member or one that cannot be read.
    public static func contents(of bytes: [UInt8], member name: String) throws(FieldBundleError) -> [UInt8] {
        guard isBundle(bytes) else { return bytes }
        guard let member = try FieldBundle(reading: bytes).member(name) else {
            throw FieldBundleError(description: "a field bundle without \(name)")
        }
        return member
    }

    /// The archive: a 512-byte header and the padded contents per member, then two empty blocks.
    public func encoded(modificationTime: Int = 0) -> [UInt8] {
        var archive: [UInt8] = []
        for (name, bytes) in members {
            var header = [UInt8](repeating: 0, count: 512)
            func put(_ text: String, at offset: Int) { header.replaceSubrange(offset..<(offset + text.utf8.count), with: Array(text.utf8)) }
            put(String(name.prefix(99)), at: 0)
            put("0000644", at: 100)
            put("0000000", at: 108)
            put("0000000", at: 116)
            put(Self.octalField(bytes.count, width: 11), at: 124)
            put(Self.octalField(modificationTime, width: 11), at: 136)
            header[156] = UInt8(ascii: "0")
            put("ustar", at: 257)
            put("00", at: 263)
            put("        ", at: 148)
            let sum = header.reduce(0) { $0 + Int($1) }
            put(Self.octalField(sum, width: 6), at: 148)
            header[154] = 0
            header[155] = 0x20
            archive += header + bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512)
        }
        return archive + [UInt8](repeating: 0, count: 1024)
    }

    private static func octalField(_ value: Int, width: Int) -> String {
        let digits = String(value, radix: 8)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    private static func octal(_ field: ArraySlice<UInt8>) -> Int? {
        let digits = field.drop { $0 == 0x20 }.prefix { $0 != 0 && $0 != 0x20 }
        return Int(String(decoding: digits, as: UTF8.self), radix: 8)
    }

    private static func text(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// Why a field bundle could not be read.
public struct FieldBundleError: Error, Hashable, Sendable, CustomStringConvertible {
    public var description: String

    public static func corrupt(_ reason: String) -> FieldBundleError { FieldBundleError(description: "not a readable field bundle: \(reason)") }
}
