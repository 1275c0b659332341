import NIOCore

/// Answers DNS queries for the cluster zone from a `ServiceTable`, as Kubernetes DNS does
/// (https://github.com/kubernetes/dns/blob/master/docs/specification.md):
///
/// - `svc.ns.svc.<domain>`: A/AAAA of the cluster IPs; of every endpoint for a headless service;
///   a CNAME to `externalName` for an ExternalName service;
/// - `host.svc.ns.svc.<domain>`: a headless service's endpoint, by its hostname, or by its
///   dashed IP when it has none;
/// - `_port._proto.svc.ns.svc.<domain>`: SRV for named ports, targets' addresses as additionals;
/// - `a-b-c-d.ns.pod.<domain>`: pod A (AAAA for dashed IPv6) records, only for pods the table
///   holds in that namespace ("pods verified": an edge node must not vouch for made-up IPs);
/// - `d.c.b.a.in-addr.arpa.` and `ip6.arpa.`: PTR for cluster IPs and pod IPs.
///
/// Names that do not exist get NXDOMAIN, names that exist without the asked type NODATA; both
/// carry the zone's SOA in the authority section (RFC 2308). Every answer is a pure function of
/// the table and the query: lists are sorted, never in hash order.
///
/// Confined to the table's event loop, like the table.
public struct ClusterDNSResolver {
    public let table: ServiceTable
    public let configuration: ClusterDNSConfiguration

    public init(table: ServiceTable, configuration: ClusterDNSConfiguration = ClusterDNSConfiguration()) {
        self.table = table
        self.configuration = configuration
    }

    private static let inAddrArpa = try! DNSName("in-addr.arpa")
    private static let ip6Arpa = try! DNSName("ip6.arpa")

    /// The response to `query`, or `nil` when its name is not the cluster's (the caller forwards
    /// it, or answers REFUSED). `clientAddress` is the asking host's IP, used only to find the
    /// namespace of a pod asking a bare name when that option is on.
    ///
    /// Queries with another opcode get NOTIMP; ones without exactly one question FORMERR; ones
    /// with an EDNS version above 0 BADVERS (RFC 6891 §6.1.3). The caller must not pass
    /// responses (QR set): a server answering responses can be made to loop.
    public func respond(to query: DNSMessage, clientAddress: String? = nil) -> DNSMessage? {
        guard query.header.opcode == .query else {
            return query.makeResponse(responseCode: .notImplemented, isAuthoritative: false)
        }
        guard query.questions.count == 1 else {
            return query.makeResponse(responseCode: .formatError, isAuthoritative: false)
        }
        if let edns = query.edns, edns.version > 0 {
            return query.makeResponse(responseCode: .badVersion, isAuthoritative: false)
        }
        let question = query.questions[0]
        // Only class IN is a Kubernetes zone; CHAOS queries and the like belong upstream.
        guard question.class == .internet || question.class == .any else { return nil }

        if question.name.isSubdomain(of: configuration.domain) {
            return response(to: query, lookup(question.name, type: question.type))
        }
        if question.name.isSubdomain(of: Self.inAddrArpa) || question.name.isSubdomain(of: Self.ip6Arpa) {
            return reverseLookup(question, query: query)
        }
        if configuration.resolvesNamesRelativeToClientNamespace {
            return relativeLookup(question, query: query, clientAddress: clientAddress)
        }
        return nil
    }

    /// Whether the answer to `question` may depend on who asks: with relative names on, a bare
    /// name is looked up in the asking pod's namespace. Such answers must not be reused for others.
    public func answerDependsOnClient(_ question: DNSQuestion) -> Bool {
        configuration.resolvesNamesRelativeToClientNamespace && question.name.labels.count == 1
    }

    /// The FORMERR response for bytes that did not decode, when at least the ID could be read
    /// (RFC 1035 §4.1.1 leaves what to send open; echoing the ID lets the client fail fast).
    /// `nil` when the bytes are too short for a header or are themselves a response.
    public static func formatErrorResponse(toUndecodable bytes: ByteBuffer) -> DNSMessage? {
        guard let id = bytes.getInteger(at: bytes.readerIndex, as: UInt16.self),
              let flags = bytes.getInteger(at: bytes.readerIndex + 2, as: UInt16.self),
              flags & 0x8000 == 0
        else { return nil }
        return DNSMessage(header: DNSHeader(
            id: id, isResponse: true, opcode: DNSOpcode(rawValue: UInt8(flags >> 11 & 0x0F)),
            isRecursionDesired: flags & 0x0100 != 0, responseCode: .formatError))
    }

    /// The zone's SOA: the serial follows the table's revision so secondaries could see changes.
    public var soaRecord: DNSResourceRecord {
        let domain = configuration.domain
        return DNSResourceRecord(
            name: domain, ttl: configuration.negativeTTL,
            data: .soa(
                mname: Self.name(["ns", "dns"], in: domain), rname: Self.name(["hostmaster"], in: domain),
                serial: UInt32(truncatingIfNeeded: table.revision), refresh: 7200, retry: 1800, expire: 86400,
                minimum: configuration.negativeTTL))
    }

    // MARK: Lookup

    /// What the zone holds for one name and type.
    enum Lookup {
        case records(answers: [DNSResourceRecord], additionals: [DNSResourceRecord])
        case noData
        case nameError
    }

    private func response(to query: DNSMessage, _ lookup: Lookup) -> DNSMessage {
        switch lookup {
        case .records(let answers, let additionals):
            var response = query.makeResponse()
            response.answers = answers
            response.additionals = additionals
            return response
        case .noData:
            var response = query.makeResponse()
            response.authorities = [soaRecord]
            return response
        case .nameError:
            var response = query.makeResponse(responseCode: .nameError)
            response.authorities = [soaRecord]
            return response
        }
    }

    /// `name` lies in the cluster domain; answers keep its spelling (RFC 4343).
    func lookup(_ name: DNSName, type: DNSRecordType) -> Lookup {
        let domain = configuration.domain
        let relative = name.labels.dropLast(domain.labels.count).map(Self.lowercasedText)
        guard let kind = relative.last else {
            if type == .soa || type == .any {
                var apex = soaRecord
                apex.ttl = configuration.ttl
                return .records(answers: [apex], additionals: [])
            }
            return .noData
        }
        switch (kind, relative.count) {
        case ("svc", 1), ("pod", 1):
            return .noData
        case ("svc", 2):
            return table.services.contains { $0.key.namespace == relative[0] } ? .noData : .nameError
        case ("svc", 3):
            return serviceLookup(name, service: ObjectKey(namespace: relative[1], name: relative[0]), type: type)
        case ("svc", 4):
            let key = ObjectKey(namespace: relative[2], name: relative[1])
            if relative[0].hasPrefix("_") {
                // `_proto.svc.ns.svc` is an empty non-terminal when a port of that protocol is named.
                let hasPort = table.service(key)?.spec.ports.contains {
                    $0.name != nil && "_" + $0.protocol.rawValue.lowercased() == relative[0]
                } ?? false
                return hasPort ? .noData : .nameError
            }
            return endpointLookup(name, service: key, label: relative[0], type: type)
        case ("svc", 5):
            return srvLookup(
                name, service: ObjectKey(namespace: relative[3], name: relative[2]), port: relative[0],
                protocol: relative[1], type: type)
        case ("pod", 2):
            return table.pods.contains { $0.key.namespace == relative[0] } ? .noData : .nameError
        case ("pod", 3):
            return podLookup(name, dashed: relative[0], namespace: relative[1], type: type)
        default:
            return .nameError
        }
    }

    private func serviceLookup(_ name: DNSName, service key: ObjectKey, type: DNSRecordType) -> Lookup {
        guard let service = table.service(key) else { return .nameError }
        if service.spec.type == .externalName {
            // A CNAME answers every type; the client chases the target itself (it is not ours).
            guard let external = service.spec.externalName, let target = try? DNSName(external) else {
                return .noData
            }
            return .records(answers: [record(name, .cname(target))], additionals: [])
        }
        let addresses = service.spec.isHeadless
            ? table.endpoints(of: key).map(\.ip) : service.spec.allocatedClusterIPs
        return addressLookup(name, addresses: addresses, type: type)
    }

    private func endpointLookup(_ name: DNSName, service key: ObjectKey, label: String, type: DNSRecordType) -> Lookup {
        guard let service = table.service(key), service.spec.isHeadless else { return .nameError }
        let matching = table.endpoints(of: key).filter { Self.endpointLabel($0) == label }
        guard !matching.isEmpty else { return .nameError }
        return addressLookup(name, addresses: matching.map(\.ip), type: type)
    }

    private func srvLookup(
        _ name: DNSName, service key: ObjectKey, port portLabel: String, protocol protocolLabel: String,
        type: DNSRecordType
    ) -> Lookup {
        guard let service = table.service(key), service.spec.type != .externalName,
              portLabel.hasPrefix("_"), protocolLabel.hasPrefix("_"),
              let port = service.spec.ports.first(where: { port in
                  port.name.map { "_" + $0.lowercased() } == portLabel
                      && "_" + port.protocol.rawValue.lowercased() == protocolLabel
              }),
              let portName = port.name
        else { return .nameError }
        guard type == .srv || type == .any else { return .noData }
        let serviceName = Self.name([key.name, key.namespace, "svc"], in: configuration.domain)
        if !service.spec.isHeadless {
            let answer = record(name, .srv(priority: 0, weight: 100, port: UInt16(clamping: port.port), target: serviceName))
            let additionals = addressRecords(serviceName, addresses: service.spec.allocatedClusterIPs, types: [.a, .aaaa])
            return .records(answers: [answer], additionals: additionals)
        }
        // Headless: one SRV per endpoint serving the port, its target the endpoint's own name.
        var answers: [DNSResourceRecord] = []
        var additionals: [DNSResourceRecord] = []
        // The table sorts endpoints by IP text ("10.0.0.20" before "10.0.0.3"); answers go in
        // address order, ties kept in the table's order.
        let endpoints = table.endpoints(of: key).filter { $0.port(named: portName) != nil }.enumerated()
            .sorted { left, right in
                let (l, r) = (Self.addressOrder(left.element.ip), Self.addressOrder(right.element.ip))
                return (l.0, l.1, l.2, left.offset) < (r.0, r.1, r.2, right.offset)
            }
            .map(\.element)
        let weight = UInt16(max(1, 100 / max(1, endpoints.count)))
        for endpoint in endpoints {
            guard let target = try? DNSName(labels: [Array(Self.endpointLabel(endpoint).utf8)] + serviceName.labels)
            else { continue }
            let targetPort = UInt16(clamping: endpoint.port(named: portName) ?? 0)
            answers.append(record(name, .srv(priority: 0, weight: weight, port: targetPort, target: target)))
            additionals += addressRecords(target, addresses: [endpoint.ip], types: [.a, .aaaa])
        }
        return answers.isEmpty ? .noData : .records(answers: answers, additionals: additionals)
    }

    private func podLookup(_ name: DNSName, dashed: String, namespace: String, type: DNSRecordType) -> Lookup {
        guard let ip = Self.address(fromDashed: dashed),
              let pod = table.pod(ip: ip), pod.key.namespace == namespace
        else { return .nameError }
        return addressLookup(name, addresses: [ip], type: type)
    }

    /// A/AAAA for `addresses` (deduplicated, in address order); NODATA when the type asked for
    /// has none, since the name itself exists.
    private func addressLookup(_ name: DNSName, addresses: [String], type: DNSRecordType) -> Lookup {
        let types: [DNSRecordType] = type == .any ? [.a, .aaaa] : [type]
        let answers = addressRecords(name, addresses: addresses, types: types)
        return answers.isEmpty ? .noData : .records(answers: answers, additionals: [])
    }

    private func addressRecords(_ name: DNSName, addresses: [String], types: [DNSRecordType]) -> [DNSResourceRecord] {
        var records: [DNSResourceRecord] = []
        if types.contains(.a) {
            let v4 = Set(addresses.compactMap { IPv4Address($0) }).sorted()
            records += v4.map { record(name, .a($0)) }
        }
        if types.contains(.aaaa) {
            let v6 = Set(addresses.filter { IPv4Address($0) == nil }.compactMap { IPv6Address($0) }).sorted()
            records += v6.map { record(name, .aaaa($0)) }
        }
        return records
    }

    // MARK: Reverse and relative names

    private func reverseLookup(_ question: DNSQuestion, query: DNSMessage) -> DNSMessage? {
        guard question.type == .ptr || question.type == .any, let ip = Self.address(fromReverse: question.name)
        else { return nil }
        let target: DNSName
        if let service = table.service(clusterIP: ip) {
            target = Self.name([service.key.name, service.key.namespace, "svc"], in: configuration.domain)
        } else if let pod = table.pod(ip: ip), let dashed = Self.dashed(ip) {
            target = Self.name([dashed, pod.key.namespace, "pod"], in: configuration.domain)
        } else {
            // Not one of ours: the upstream (or REFUSED) decides, we are not authoritative here.
            return nil
        }
        var response = query.makeResponse()
        response.answers = [record(question.name, .ptr(target))]
        return response
    }

    private func relativeLookup(_ question: DNSQuestion, query: DNSMessage, clientAddress: String?) -> DNSMessage? {
        let labels = question.name.labels.map(Self.lowercasedText)
        let domain = configuration.domain
        var qualified: DNSName?
        switch labels.count {
        case 3 where labels[2] == "svc":
            qualified = try? question.name.appending(domain)
        case 2 where table.service(ObjectKey(namespace: labels[1], name: labels[0])) != nil:
            qualified = try? question.name.appending(Self.name(["svc"], in: domain))
        case 1:
            if let clientAddress, let namespace = table.pod(ip: clientAddress)?.key.namespace,
               table.service(ObjectKey(namespace: namespace, name: labels[0])) != nil {
                qualified = try? question.name.appending(Self.name([namespace, "svc"], in: domain))
            }
        default:
            break
        }
        guard let qualified else { return nil }
        let alias = record(question.name, .cname(qualified))
        switch lookup(qualified, type: question.type) {
        case .nameError:
            return nil
        case .noData:
            var response = query.makeResponse()
            response.answers = [alias]
            response.authorities = [soaRecord]
            return response
        case .records(let answers, let additionals):
            var response = query.makeResponse()
            response.answers = [alias] + answers
            response.additionals = additionals
            return response
        }
    }

    // MARK: Names and addresses

    private func record(_ name: DNSName, _ data: DNSRecordData) -> DNSResourceRecord {
        DNSResourceRecord(name: name, ttl: configuration.ttl, data: data)
    }

    /// `labels` followed by `domain`. Callers pass Kubernetes names (DNS labels) or literals,
    /// which always fit; anything that would not is a bug in the table's validation.
    private static func name(_ labels: [String], in domain: DNSName) -> DNSName {
        (try? DNSName(labels: labels.map { Array($0.utf8) } + domain.labels)) ?? domain
    }

    private static func lowercasedText(_ label: [UInt8]) -> String {
        String(decoding: label, as: UTF8.self).lowercased()
    }

    /// An endpoint's first label: its hostname, else its IP with dashes (as CoreDNS names them).
    private static func endpointLabel(_ endpoint: ServiceEndpoint) -> String {
        endpoint.hostname?.lowercased() ?? dashed(endpoint.ip) ?? endpoint.ip
    }

    /// A sort key putting IPv4 addresses first in numeric order, then IPv6, then anything else.
    private static func addressOrder(_ ip: String) -> (Int, UInt64, UInt64) {
        if let v4 = IPv4Address(ip) { return (0, UInt64(v4.value), 0) }
        if let v6 = IPv6Address(ip) { return (1, v6.high, v6.low) }
        return (2, 0, 0)
    }

    /// "10.1.2.3" → "10-1-2-3", "fd00::1" → "fd00--1".
    static func dashed(_ ip: String) -> String? {
        if let v4 = IPv4Address(ip) { return v4.description.replacing(".", with: "-") }
        if let v6 = IPv6Address(ip) { return v6.description.replacing(":", with: "-") }
        return nil
    }

    /// The inverse of `dashed`, in the text form the table indexes (canonical).
    static func address(fromDashed dashed: String) -> String? {
        if let v4 = IPv4Address(dashed.replacing("-", with: ".")) { return v4.description }
        if let v6 = IPv6Address(dashed.replacing("-", with: ":")) { return v6.description }
        return nil
    }

    /// The address a reverse name stands for: four decimal labels before `in-addr.arpa`, or 32
    /// nibbles before `ip6.arpa`; `nil` for partial names.
    static func address(fromReverse name: DNSName) -> String? {
        let labels = name.labels.map(lowercasedText)
        if labels.count == 6 {
            let octets = labels.prefix(4).reversed().compactMap { UInt8($0) }
            guard octets.count == 4, labels.prefix(4).allSatisfy({ $0.count <= 3 }) else { return nil }
            return IPv4Address(octets[0], octets[1], octets[2], octets[3]).description
        }
        if labels.count == 34 {
            var bytes: [UInt8] = []
            let nibbles = labels.prefix(32).reversed().compactMap { $0.count == 1 ? UInt8($0, radix: 16) : nil }
            guard nibbles.count == 32 else { return nil }
            for index in stride(from: 0, to: 32, by: 2) { bytes.append(nibbles[index] << 4 | nibbles[index + 1]) }
            return IPv6Address(bytes: bytes)?.description
        }
        return nil
    }
}
