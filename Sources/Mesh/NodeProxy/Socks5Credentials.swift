import Foundation

/// The one username and password the SOCKS5 node proxy accepts (RFC 1929), when set.
public struct Socks5Credentials: Sendable, Hashable {
    public var username: [UInt8]
    public var password: [UInt8]

    public init(username: String, password: String) {
        self.username = Array(username.utf8)
        self.password = Array(password.utf8)
    }

    /// Reads `username:password` (a credentials file's one line, surrounding whitespace
    /// ignored); nil unless each part is 1-255 bytes, as RFC 1929 carries them.
    public init?(usernameColonPassword text: String) {
        let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let colon = line.firstIndex(of: ":") else { return nil }
        let username = line[..<colon], password = line[line.index(after: colon)...]
        guard (1...255).contains(username.utf8.count), (1...255).contains(password.utf8.count) else { return nil }
        self.init(username: String(username), password: String(password))
    }

    /// Compares in time that depends on the lengths only, so a wrong guess does not tell how
    /// much of it was right.
    func accepts(username: [UInt8], password: [UInt8]) -> Bool {
        // Both compared, whatever the first gives.
        let usernameMatches = Self.equal(username, self.username)
        let passwordMatches = Self.equal(password, self.password)
        return usernameMatches && passwordMatches
    }

    private static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
