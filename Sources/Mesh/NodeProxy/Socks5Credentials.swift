/// The one username and password the SOCKS5 node proxy accepts (RFC 1929), when set.
public struct Socks5Credentials: Sendable, Hashable {
    public var username: [UInt8]
    public var password: [UInt8]

    public init(username: String, password: String) {
        self.username = Array(username.utf8)
        self.password = Array(password.utf8)
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
