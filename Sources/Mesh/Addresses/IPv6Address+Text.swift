extension IPv6Address {
    /// Parses RFC 4291 §2.2 text ("fd00::10", "2001:db8:0:0:0:0:0:1", "::ffff:10.0.0.1"), as
    /// Kubernetes writes IPv6 cluster and pod IPs; `nil` for anything else (zones included).
    public init?(_ text: some StringProtocol) {
        let string = String(text)
        guard !string.isEmpty, string.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        let halves = IPv6Address.splitAtDoubleColons(string)
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, allowIPv4: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var result: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                // An embedded dotted IPv4 address may end the text.
                if allowIPv4, index == fields.count - 1, field.contains("."), let v4 = IPv4Address(field) {
                    result.append(UInt16(truncatingIfNeeded: v4.value >> 16))
                    result.append(UInt16(truncatingIfNeeded: v4.value))
                    continue
                }
                guard (1...4).contains(field.count), let value = UInt16(field, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        if halves.count == 2 {
            guard let first = groups(halves[0], allowIPv4: false), let second = groups(halves[1], allowIPv4: true),
                  first.count + second.count <= 7 else { return nil }
            head = first
            tail = second
        } else {
            guard let all = groups(halves[0], allowIPv4: true), all.count == 8 else { return nil }
            head = all
        }
        let all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        var high: UInt64 = 0
        var low: UInt64 = 0
        for (index, group) in all.enumerated() {
            if index < 4 { high = high << 16 | UInt64(group) } else { low = low << 16 | UInt64(group) }
        }
        self.init(high: high, low: low)
    }

    /// The text split at every "::" (without Foundation, which Mesh does not import).
    private static func splitAtDoubleColons(_ string: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var previousWasColon = false
        for character in string {
            if character == ":" && previousWasColon {
                current.removeLast()
                parts.append(current)
                current = ""
                previousWasColon = false
                continue
            }
            previousWasColon = character == ":"
            current.append(character)
        }
        parts.append(current)
        return parts
    }
}
