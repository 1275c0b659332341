import Mesh

/// The four-tuple that names a TCP connection on a host.
struct ConnectionKey: Hashable {
    var local: Endpoint
    var remote: Endpoint
}

/// A flow as conntrack sees it: transport and the client's endpoint.
struct FlowKey: Hashable {
    var transport: TransportProtocol
    var endpoint: Endpoint
}
