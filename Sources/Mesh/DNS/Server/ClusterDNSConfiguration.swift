/// How the cluster zone is answered.
public struct ClusterDNSConfiguration: Sendable {
    /// The cluster domain; every name the resolver owns lies below it.
    public var domain: DNSName
    /// TTL of positive answers (Kubernetes DNS uses 30 s by default).
    public var ttl: UInt32
    /// TTL of the SOA in NXDOMAIN/NODATA answers, and its MINIMUM field (RFC 2308 §5).
    public var negativeTTL: UInt32
    /// Also answer names that stop short of the cluster domain: `web.default.svc`,
    /// `web.default`, and (for a client that is a known pod) plain `web` in the pod's namespace.
    ///
    /// Off by default: clients expand short names through the `search` line in their
    /// resolv.conf, so such queries normally arrive fully qualified. Stub resolvers without a
    /// search list (some edge images, `dig` without `+search`) send them bare, and EdgeMesh's
    /// CoreDNS, which runs without `autopath`, would forward them upstream and fail. When on, the
    /// answer is a CNAME from the asked name to the qualified one, followed by that name's
    /// records, so the client learns the canonical name. A bare name is only taken when the
    /// service it would mean exists, so `example.com` is still forwarded unless a service
    /// `example` lives in a namespace `com`.
    public var resolvesNamesRelativeToClientNamespace: Bool

    public init(
        domain: DNSName = ClusterDNSConfiguration.defaultDomain, ttl: UInt32 = 30, negativeTTL: UInt32 = 30,
        resolvesNamesRelativeToClientNamespace: Bool = false
    ) {
        self.domain = domain
        self.ttl = ttl
        self.negativeTTL = negativeTTL
        self.resolvesNamesRelativeToClientNamespace = resolvesNamesRelativeToClientNamespace
    }

    // A literal that always satisfies the name limits.
    public static let defaultDomain = try! DNSName("cluster.local")
}
