import NIOCore

/// A client that sends requests on a schedule and logs each outcome: the scenario's way of
/// asking "does traffic get through, how fast, and to whom".
///
/// Request `i` goes to `targets[i % targets.count]` at `firstRequestAt + i × interval`. Every
/// request uses a new connection (or socket), so connection set-up and NAT traversal are
/// measured each time. Requests whose time has passed when the workload (re)starts, after a
/// crash of its node say, are not sent.
public struct ClientWorkload: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case http, tcp, udp, websocket
    }

    public var kind: Kind
    public var targets: [HostPort]
    public var firstRequestAt: NIODeadline
    public var interval: TimeAmount
    public var count: Int
    public var timeout: TimeAmount
    public var payloadSize: Int

    public init(
        kind: Kind, targets: [HostPort], firstRequestAt: NIODeadline, interval: TimeAmount, count: Int,
        timeout: TimeAmount, payloadSize: Int
    ) {
        self.kind = kind
        self.targets = targets
        self.firstRequestAt = firstRequestAt
        self.interval = interval
        self.count = count
        self.timeout = timeout
        self.payloadSize = payloadSize
    }

    /// Schedules the requests still ahead on `host`.
    public func start(on host: any Host, resolver: @escaping NameResolver, log: RequestLog) {
        precondition(!targets.isEmpty, "a client needs at least one target")
        let now = host.now
        for index in 0..<count {
            let due = firstRequestAt + interval * Int64(index)
            guard due >= now else { continue }
            host.eventLoop.scheduleTask(deadline: due) {
                self.sendRequest(index, on: host, resolver: resolver, log: log)
            }
        }
    }

    private func sendRequest(_ index: Int, on host: any Host, resolver: NameResolver, log: RequestLog) {
        let target = targets[index % targets.count]
        let started = host.now
        guard let address = resolver(target.host) else {
            log.record(RequestOutcome(startedAt: started, latency: .zero, succeeded: false, failure: "cannot resolve \(target.host)"))
            return
        }
        exchange(index, with: address, target: target, on: host)
            .withTimeout(timeout)
            .whenComplete { result in
                let latency = host.now - started
                switch result {
                case .success(let backend):
                    log.record(RequestOutcome(startedAt: started, latency: latency, succeeded: true, backend: backend))
                case .failure(let error):
                    host.logger.debug("request \(index) to \(target) failed: \(error)")
                    log.record(RequestOutcome(startedAt: started, latency: latency, succeeded: false, failure: "\(error)"))
                }
            }
    }

    /// Runs one request; succeeds with the name of who answered.
    private func exchange(_ index: Int, with address: IPv4Address, target: HostPort, on host: any Host) -> EventLoopFuture<String> {
        switch kind {
        case .http:
            return HTTPExchange.get(on: host, address: address, port: target.port, authority: target.description)
        case .tcp:
            return StreamEchoExchange.echo(on: host, address: address, port: target.port, payload: payload(index))
                .map { target.description }
        case .udp:
            return DatagramEchoExchange.echo(on: host, address: address, port: target.port, payload: payload(index))
                .map { target.description }
        case .websocket:
            return WebSocketEchoExchange.echo(
                on: host, address: address, port: target.port, authority: target.description,
                message: "request \(index) " + String(repeating: "x", count: max(0, payloadSize - 16))
            ).map { target.description }
        }
    }

    /// A payload that differs per request, so a stale echo is never mistaken for the right one.
    private func payload(_ index: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(payloadSize)
        for offset in 0..<max(payloadSize, 1) {
            buffer.writeInteger(UInt8(truncatingIfNeeded: index &* 31 &+ offset))
        }
        return buffer
    }
}
