/// One destination of a gateway route: the service a VirtualService's `destination.host` names,
/// the port asked for, and its share of the route's traffic.
public struct GatewayDestination: Hashable, Sendable, CustomStringConvertible {
    /// As the VirtualService wrote it.
    public var host: String
    /// The cluster service it names; nil when it names none (an outside host).
    public var service: ObjectKey?
    /// `destination.port.number`; nil leaves the choice to a single-port service.
    public var port: Int?
    public var weight: Int

    public init(host: String, service: ObjectKey?, port: Int?, weight: Int) {
        self.host = host
        self.service = service
        self.port = port
        self.weight = weight
    }

    public var description: String { "\(host)\(port.map { ":\($0)" } ?? "")" }

    /// The service `host` names, read as a pod in `namespace` would: `svc` (that namespace),
    /// `svc.ns`, `svc.ns.svc` or `svc.ns.svc.<domain>`; nil for any other name.
    public static func service(named host: String, inNamespace namespace: String, clusterDomain: String) -> ObjectKey? {
        let name = HostPattern.normalized(host)
        let domain = HostPattern.normalized(clusterDomain)
        var labels = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !labels.contains(where: \.isEmpty) else { return nil }
        let domainLabels = domain.split(separator: ".").map(String.init)
        if labels.count == 3 + domainLabels.count, labels.suffix(domainLabels.count) == domainLabels[...] {
            labels.removeLast(domainLabels.count)
        }
        switch labels.count {
        case 1: return ObjectKey(namespace: namespace, name: labels[0])
        case 2: return ObjectKey(namespace: labels[1], name: labels[0])
        case 3 where labels[2] == "svc": return ObjectKey(namespace: labels[1], name: labels[0])
        default: return nil
        }
    }

    /// The index of the destination a request goes to: drawn in proportion to the weights;
    /// nil when no destination has a positive weight.
    public static func pick(weights: [Int], using random: inout some RandomNumberGenerator) -> Int? {
        let weighted = weights.indices.filter { weights[$0] > 0 }
        // One candidate needs no draw (on Linux a draw is a system call).
        guard weighted.count > 1 else { return weighted.first }
        let total = weighted.reduce(0) { $0 + weights[$1] }
        var draw = Int.random(in: 0..<total, using: &random)
        for (index, weight) in weights.enumerated() where weight > 0 {
            if draw < weight { return index }
            draw -= weight
        }
        return nil
    }
}
