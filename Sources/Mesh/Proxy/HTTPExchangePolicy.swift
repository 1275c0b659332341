import NIOCore

/// How the request-level proxy carries one request besides where it goes: how long it may take,
/// when it is tried again, and what is changed in the response on its way to the client.
public struct HTTPExchangePolicy: Hashable, Sendable {
    /// From the request's end until the response's end; when it passes before the response
    /// began the client gets a 504, after, the connection is closed. nil: no limit.
    public var timeout: TimeAmount?
    public var retry: HTTPRetryPolicy
    public var responseEdits: [HTTPHeaderEdit]
    /// Where a copy of the request goes too (a gateway route's `mirror`); its answer is thrown away.
    public var mirror: ProxyRoute?

    public init(timeout: TimeAmount? = nil, retry: HTTPRetryPolicy = .none, responseEdits: [HTTPHeaderEdit] = [], mirror: ProxyRoute? = nil) {
        self.mirror = mirror
        self.timeout = timeout
        self.retry = retry
        self.responseEdits = responseEdits
    }

    /// Intercepted traffic: as the client asked, nothing added.
    public static let none = HTTPExchangePolicy()
}
