import NIOCore
import NIOHTTP1

/// Where an `HTTPRequestBalancer` sends the requests of one client connection.
///
/// Used on its connection's event loop only (the gateway's closure holds the gateway weakly).
enum HTTPRequestRouting: @unchecked Sendable {
    /// Every request to one service port: an intercepted connection, whose destination chose it.
    case service(ProxyRoute)
    /// Each request where `decide` says, from its head and the client's address: the gateway,
    /// routing by host and path. `decide` may add headers to the request it forwards.
    /// `description` names the connection's listener in logs.
    case perRequest(description: String, decide: (inout HTTPRequestHead, SocketAddress?) -> HTTPRequestTarget)

    func target(for request: inout HTTPRequestHead, client: SocketAddress?) -> HTTPRequestTarget {
        switch self {
        case .service(let route): .route(route, .none)
        case .perRequest(_, let decide): decide(&request, client)
        }
    }
}

extension HTTPRequestRouting: CustomStringConvertible {
    var description: String {
        switch self {
        case .service(let route): "\(route)"
        case .perRequest(let description, _): description
        }
    }
}

/// What becomes of one request: forwarded to a backend of a service port under a policy, or
/// answered by the proxy itself (a gateway's 404, 503 or redirect), after which the connection
/// closes.
enum HTTPRequestTarget {
    case route(ProxyRoute, HTTPExchangePolicy)
    case answer(LocalReply)
}
