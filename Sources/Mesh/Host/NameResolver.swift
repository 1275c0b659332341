/// Turns a host name into an IPv4 address, or `nil` when it has none: how Mesh code that is
/// handed a name (a Kubernetes API server's host, a relay) finds the address to dial without
/// knowing where names come from (literals and `localhost` by default, node names in the
/// simulator, the system resolver or the mesh's own DNS on Linux).
public typealias NameResolver = @Sendable (String) -> IPv4Address?
