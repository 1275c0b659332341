import Mesh

/// The parts of resolv.conf(5) the agent uses: where the node's own resolvers are, to forward
/// names outside the cluster when no upstream is configured.
///
/// Lines other than `nameserver`, `search` and `domain` are ignored, as are IPv6 and malformed
/// nameserver entries (the forwarder speaks IPv4). Order is kept: the first server is tried first.
public struct ResolvConf: Hashable, Sendable {
    public static let defaultPath = "/etc/resolv.conf"

    public var nameservers: [IPv4Address]
    public var searchDomains: [String]

    public init(nameservers: [IPv4Address] = [], searchDomains: [String] = []) {
        self.nameservers = nameservers
        self.searchDomains = searchDomains
    }

    public init(parsing text: String) {
        var nameservers: [IPv4Address] = []
        var searchDomains: [String] = []
        for rawLine in text.split(whereSeparator: \.isNewline) {
            // Comments start with '#' or ';' anywhere on the line.
            let line = rawLine.prefix { $0 != "#" && $0 != ";" }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let keyword = words.first else { continue }
            switch keyword {
            case "nameserver":
                if words.count >= 2, let address = IPv4Address(words[1]), !nameservers.contains(address) { nameservers.append(address) }
            case "search", "domain":
                // The last search/domain line wins (resolv.conf(5)).
                searchDomains = Array(words.dropFirst())
            default:
                continue
            }
        }
        self.nameservers = nameservers
        self.searchDomains = searchDomains
    }

    /// The nameservers as upstreams on port 53, leaving out `excluded` (the agent's own listen
    /// address: a node whose resolv.conf points at the agent must not forward to itself) and
    /// the unspecified address.
    public func upstreams(excluding excluded: [IPv4Address]) -> [IPv4Address] {
        nameservers.filter { !excluded.contains($0) && $0 != .any }
    }
}
