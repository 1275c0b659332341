/// Which of a host's addresses a listener takes, by EdgeMesh's multi-NIC keys: the gateway's
/// `nic`, `includeIP` and `excludeIP`, and the tunnel's `listenInterfaces` and
/// `extraFilteredInterfaces`. Applied to the interfaces the host has now, so the answer changes
/// as addresses come and go; each address left out says why (`edgemesh status`).
public struct InterfaceAddressFilter: Hashable, Sendable {
    /// An address or a network, as `includeIP` and `excludeIP` list them.
    public enum AddressPattern: Hashable, Sendable, CustomStringConvertible {
        case address(IPv4Address)
        case network(IPv4Prefix)

        public init?(_ text: some StringProtocol) {
            if let address = IPv4Address(text) {
                self = .address(address)
            } else if let prefix = IPv4Prefix(text) {
                self = .network(prefix)
            } else {
                return nil
            }
        }

        func matches(_ candidate: IPv4Address) -> Bool {
            switch self {
            case .address(let address): candidate == address
            case .network(let prefix): prefix.contains(candidate)
            }
        }

        public var description: String {
            switch self {
            case .address(let address): "\(address)"
            case .network(let prefix): "\(prefix)"
            }
        }
    }

    /// One address of the host and whether it is listened on.
    public struct Choice: Hashable, Sendable, CustomStringConvertible {
        public var address: IPv4Address
        public var interface: String
        /// Why it is left out; nil when it is chosen.
        public var leftOutBecause: String?

        public var description: String {
            "\(address) (\(interface))" + (leftOutBecause.map { ": left out, \($0)" } ?? "")
        }
    }

    /// The interfaces listened on, by name; nil for every one (`*` or empty).
    public var interfaces: [String]?
    /// Interfaces whose name starts with one of these are left out.
    public var filteredInterfacePrefixes: [String]
    /// Only addresses one of these matches are taken; nil for all (`*` or empty).
    public var included: [AddressPattern]?
    /// Addresses one of these matches are left out.
    public var excluded: [AddressPattern]

    public init(
        interfaces: [String]? = nil, filteredInterfacePrefixes: [String] = [], included: [AddressPattern]? = nil,
        excluded: [AddressPattern] = []
    ) {
        self.interfaces = interfaces
        self.filteredInterfacePrefixes = filteredInterfacePrefixes
        self.included = included
        self.excluded = excluded
    }

    /// Every address of every interface: the filter of a listener bound to `0.0.0.0`.
    public static let everything = InterfaceAddressFilter()

    /// Whether nothing is left out whatever the interfaces: a listener may then bind `0.0.0.0`
    /// and need not follow address changes.
    public var takesEverything: Bool {
        interfaces == nil && filteredInterfacePrefixes.isEmpty && included == nil && excluded.isEmpty
    }

    /// The interfaces EdgeMesh's tunnel never listens on: containers, bridges, CNI and its own
    /// tunnel devices ("listening to them is meaningless").
    public static let containerInterfacePrefixes = ["docker", "edgemesh", "tunl", "flannel", "cni", "br", "kube-ipvs"]

    /// The gateway's filter from EdgeMesh's `nic`, `includeIP` and `excludeIP` (comma lists; `*`
    /// or empty means all for `nic` and `includeIP`, and none for `excludeIP`, as EdgeMesh reads it).
    public static func gateway(nic: String, includeIP: String, excludeIP: String) throws(InterfaceAddressFilterError) -> Self {
        InterfaceAddressFilter(
            interfaces: names(nic), included: try patterns(includeIP, field: "includeIP"),
            excluded: try patterns(excludeIP, field: "excludeIP") ?? [])
    }

    /// The tunnel's filter from EdgeMesh's `listenInterfaces` and `extraFilteredInterfaces`:
    /// container and CNI interfaces are always left out.
    public static func tunnel(listenInterfaces: String, extraFilteredInterfaces: String) -> Self {
        InterfaceAddressFilter(
            interfaces: names(listenInterfaces),
            filteredInterfacePrefixes: containerInterfacePrefixes + (names(extraFilteredInterfaces) ?? []))
    }

    /// The filter in EdgeMesh's words, for `--print-config` and logs.
    public var summary: String {
        guard !takesEverything else { return "every address" }
        var parts: [String] = []
        let filtered = filteredInterfacePrefixes.map { $0 + "*" }.joined(separator: ",")
        switch (interfaces, filteredInterfacePrefixes.isEmpty) {
        case (let listed?, true): parts.append("interfaces \(listed.joined(separator: ","))")
        case (let listed?, false): parts.append("interfaces \(listed.joined(separator: ",")) but \(filtered)")
        case (nil, false): parts.append("every interface but \(filtered)")
        case (nil, true): break
        }
        if let included { parts.append("includeIP \(included.map(\.description).joined(separator: ","))") }
        if !excluded.isEmpty { parts.append("excludeIP \(excluded.map(\.description).joined(separator: ","))") }
        return parts.joined(separator: "; ")
    }

    /// Each address of `interfaces`, in order, with whether it is taken and why not.
    public func choose(from interfaces: [NetworkInterface]) -> [Choice] {
        interfaces.flatMap { interface in
            interface.ipv4Addresses.map { address in
                Choice(address: address, interface: interface.name, leftOutBecause: reason(toLeaveOut: address, on: interface.name))
            }
        }
    }

    /// The addresses taken from `interfaces`.
    public func addresses(from interfaces: [NetworkInterface]) -> [IPv4Address] {
        choose(from: interfaces).filter { $0.leftOutBecause == nil }.map(\.address)
    }

    private func reason(toLeaveOut address: IPv4Address, on interface: String) -> String? {
        if let interfaces, !interfaces.contains(interface) {
            return "interface \(interface) is not listed (\(interfaces.joined(separator: ",")))"
        }
        if let prefix = filteredInterfacePrefixes.first(where: { interface.hasPrefix($0) }) {
            return "interface \(interface) is filtered (\(prefix)*)"
        }
        if let included, !included.contains(where: { $0.matches(address) }) {
            return "not in includeIP"
        }
        if let pattern = excluded.first(where: { $0.matches(address) }) {
            return "excludeIP \(pattern)"
        }
        return nil
    }

    private static func names(_ list: String) -> [String]? {
        let items = list.split(separator: ",").map { $0.filter { $0 != " " } }.filter { !$0.isEmpty }
        return items.isEmpty || items.contains("*") ? nil : items
    }

    private static func patterns(_ list: String, field: String) throws(InterfaceAddressFilterError) -> [AddressPattern]? {
        guard let items = names(list) else { return nil }
        var patterns: [AddressPattern] = []
        for item in items {
            guard let pattern = AddressPattern(item) else { throw InterfaceAddressFilterError(field: field, item: item) }
            patterns.append(pattern)
        }
        return patterns
    }
}

/// An `includeIP` or `excludeIP` item that is neither an IPv4 address nor a network.
public struct InterfaceAddressFilterError: Error, Hashable, Sendable, CustomStringConvertible {
    public var field: String
    public var item: String

    public var description: String { "\(field): \"\(item)\" is not an IPv4 address or network (a.b.c.d or a.b.c.d/n)" }
}
