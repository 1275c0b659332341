import Mesh
import NIOCore
@testable import Scenario
import Testing

/// What every `Host` backend must do the same way. Written only against `Host` and NIOCore and
/// run on every `TestBedKind`, so the simulator and Linux cannot drift apart unnoticed.
///
/// Host calls are made on the host's loop (`flatSubmit`), as mesh code makes them; channel calls
/// use NIO's thread-safe `Channel` API. Promises a test creates are failed on the way out if
/// nothing completed them, because NIO treats a leaked promise as a bug in debug builds.
@Suite("Host conformance")
struct HostConformanceTests {
    /// Generous for loopback; virtual time in a simulator.
    private let timeout = TimeAmount.seconds(10)

    // MARK: (a) stream echo

    @Test(arguments: TestBedKind.allCases)
    func streamEchoesBytes(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 2) { bed, hosts in
            let (server, client) = (hosts[0], hosts[1])
            let listener = try listenEcho(on: server, in: bed)
            let message = ByteBuffer(string: "hello over a stream")
            let reply = client.eventLoop.makePromise(of: ByteBuffer.self)
            defer { reply.fail(Abandoned()) }

            let channel = try bed.wait(
                for: connect(client, to: try address(of: listener, on: server, in: bed), collectingInto: reply,
                             expectedCount: message.readableBytes),
                timeout: timeout)
            try bed.wait(for: channel.writeAndFlush(message), timeout: timeout)

            #expect(try bed.wait(for: reply.futureResult, timeout: timeout) == message)
            try bed.wait(for: channel.close(), timeout: timeout)
            try bed.wait(for: listener.close(), timeout: timeout)
        }
    }

    // MARK: (b) datagram echo and boundaries

    @Test(arguments: TestBedKind.allCases)
    func datagramsEchoWithBoundariesKept(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 2) { bed, hosts in
            let (server, client) = (hosts[0], hosts[1])
            let serverBind = DatagramBindOptions(address: bed.address(of: server).socketAddress(port: 0))
            let echo = try bed.wait(
                for: server.eventLoop.flatSubmit {
                    server.bindDatagram(serverBind) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(DatagramEchoHandler())
                        }
                    }
                },
                timeout: timeout)
            let echoAddress = bed.address(of: server).socketAddress(port: try #require(port(of: echo)))

            let replies = client.eventLoop.makePromise(of: [AddressedEnvelope<ByteBuffer>].self)
            defer { replies.fail(Abandoned()) }
            let clientBind = DatagramBindOptions(address: bed.address(of: client).socketAddress(port: 0))
            let socket = try bed.wait(
                for: client.eventLoop.flatSubmit {
                    client.bindDatagram(clientBind) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(DatagramCollector(count: 3, promise: replies))
                        }
                    }
                },
                timeout: timeout)

            // Distinct sizes and fill bytes: merged or split datagrams cannot pass for the originals.
            let payloads = [1, 1200, 9000].map { ByteBuffer(repeating: UInt8(truncatingIfNeeded: $0), count: $0) }
            for payload in payloads {
                try bed.wait(
                    for: socket.writeAndFlush(AddressedEnvelope(remoteAddress: echoAddress, data: payload)),
                    timeout: timeout)
            }

            let received = try bed.wait(for: replies.futureResult, timeout: timeout)
            #expect(received.map(\.data).sorted { $0.readableBytes < $1.readableBytes } == payloads)
            for envelope in received {
                #expect(envelope.remoteAddress.ipv4Address == bed.address(of: server))
                #expect(envelope.remoteAddress.port == echoAddress.port)
            }
            try bed.wait(for: socket.close(), timeout: timeout)
            try bed.wait(for: echo.close(), timeout: timeout)
        }
    }

    // MARK: (c) connection refused

    @Test(arguments: TestBedKind.allCases)
    func connectingToAClosedPortIsRefused(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 2) { bed, hosts in
            let (server, client) = (hosts[0], hosts[1])
            // A port that was just free and is free again: nobody listens there.
            let listener = try listenEcho(on: server, in: bed)
            let target = try address(of: listener, on: server, in: bed)
            try bed.wait(for: listener.close(), timeout: timeout)

            let options = StreamConnectOptions(remote: target)
            let error = #expect(throws: HostError.self) {
                try bed.wait(
                    for: client.eventLoop.flatSubmit {
                        client.connectStream(options) { $0.eventLoop.makeSucceededVoidFuture() }
                    },
                    timeout: timeout)
            }
            #expect(error == .connectionRefused(target))
        }
    }

    /// A restarted server takes its port back while connections from its last life are still
    /// open on it (Linux listeners set SO_REUSEADDR), but not while another listener holds it.
    @Test(arguments: TestBedKind.allCases)
    func aListenerTakesAPortItsOldConnectionsStillUseButNotOneAnotherListenerHolds(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 2) { bed, hosts in
            let (server, client) = (hosts[0], hosts[1])
            let first = try listenEcho(on: server, in: bed)
            let target = try address(of: first, on: server, in: bed)
            let held = StreamListenOptions(address: target)
            let refused = #expect(throws: HostError.self) {
                try bed.wait(
                    for: server.eventLoop.flatSubmit { server.listenStream(held) { $0.eventLoop.makeSucceededVoidFuture() } },
                    timeout: timeout)
            }
            #expect(refused == .addressInUse(target))

            let echoed = client.eventLoop.makePromise(of: ByteBuffer.self)
            let connection = try bed.wait(for: connect(client, to: target, collectingInto: echoed, expectedCount: 2), timeout: timeout)
            try bed.wait(for: connection.writeAndFlush(ByteBuffer(string: "hi")), timeout: timeout)
            #expect(try bed.wait(for: echoed.futureResult, timeout: timeout) == ByteBuffer(string: "hi"))
            try bed.wait(for: first.close(), timeout: timeout)

            let second = try bed.wait(
                for: server.eventLoop.flatSubmit { server.listenStream(held) { $0.eventLoop.makeSucceededVoidFuture() } },
                timeout: timeout)
            #expect(connection.isActive, "the old connection is still open on the port")
            try bed.wait(for: second.close(), timeout: timeout)
            try bed.wait(for: connection.close(), timeout: timeout)
        }
    }

    // MARK: (c2) reset

    @Test(arguments: TestBedKind.allCases)
    func aResetStreamReachesItsPeerAsAnErrorNotAnEndOfStream(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 2) { bed, hosts in
            let (server, client) = (hosts[0], hosts[1])
            let listener = try listen(on: server, in: bed) { ResetOnActiveHandler(host: server) }
            let outcome = client.eventLoop.makePromise(of: ByteBuffer.self)
            defer { outcome.fail(Abandoned()) }
            // The reset may beat the connect's completion (Linux then fails the connect itself);
            // either way it fails `outcome`.
            _ = connect(client, to: try address(of: listener, on: server, in: bed), collectingInto: outcome)

            // An orderly close would succeed the collector with no bytes; a reset fails it.
            #expect(throws: (any Error).self) { try bed.wait(for: outcome.futureResult, timeout: timeout) }
            try bed.wait(for: listener.close(), timeout: timeout)
        }
    }

    // MARK: (d) timers

    @Test(arguments: TestBedKind.allCases)
    func timersFireInDeadlineOrder(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 1) { bed, hosts in
            let host = hosts[0]
            let loop = host.eventLoop
            // (delay in ms, time since scheduling when it fired), in firing order.
            let fired = try bed.wait(
                for: loop.flatSubmit { () -> EventLoopFuture<[(Int64, TimeAmount)]> in
                    let start = host.now
                    let log = NIOLoopBoundBox([(Int64, TimeAmount)](), eventLoop: loop)
                    let done = loop.makePromise(of: [(Int64, TimeAmount)].self)
                    for delay: Int64 in [30, 10, 20] {
                        loop.scheduleTask(in: .milliseconds(delay)) {
                            log.value.append((delay, host.now - start))
                            if log.value.count == 3 { done.succeed(log.value) }
                        }
                    }
                    return done.futureResult
                },
                timeout: timeout)

            #expect(fired.map(\.0) == [10, 20, 30])
            for (delay, elapsed) in fired {
                #expect(elapsed >= .milliseconds(delay), "timer of \(delay) ms fired after \(elapsed)")
            }
        }
    }

    // MARK: (e) half-close

    @Test(arguments: TestBedKind.allCases)
    func halfClosedStreamStillCarriesTheReply(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 2) { bed, hosts in
            let (server, client) = (hosts[0], hosts[1])
            let request = ByteBuffer(string: "request, then EOF")
            let replyText = "reply written after the peer's EOF"

            let serverSaw = server.eventLoop.makePromise(of: ByteBuffer.self)
            defer { serverSaw.fail(Abandoned()) }
            let listenOptions = StreamListenOptions(
                address: bed.address(of: server).socketAddress(port: 0), allowRemoteHalfClosure: true)
            let listener = try bed.wait(
                for: server.eventLoop.flatSubmit {
                    server.listenStream(listenOptions) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                HalfCloseResponder(reply: replyText, inputClosed: serverSaw))
                        }
                    }
                },
                timeout: timeout)

            let clientGot = client.eventLoop.makePromise(of: ByteBuffer.self)
            defer { clientGot.fail(Abandoned()) }
            let channel = try bed.wait(
                for: connect(client, to: try address(of: listener, on: server, in: bed), collectingInto: clientGot),
                timeout: timeout)
            try bed.wait(for: channel.writeAndFlush(request), timeout: timeout)
            try bed.wait(for: channel.close(mode: .output), timeout: timeout)

            #expect(try bed.wait(for: serverSaw.futureResult, timeout: timeout) == request)
            // The collector completes when the client's channel closes, with what arrived before.
            #expect(try bed.wait(for: clientGot.futureResult, timeout: timeout) == ByteBuffer(string: replyText))
            try bed.wait(for: channel.closeFuture, timeout: timeout)
            try bed.wait(for: listener.close(), timeout: timeout)
        }
    }

    // MARK: (f) large transfer

    @Test(arguments: TestBedKind.allCases)
    func largeTransferArrivesIntactAndInOrder(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 2) { bed, hosts in
            let (server, client) = (hosts[0], hosts[1])
            let size = 4 * 1024 * 1024
            // A period of 251 (prime, not a divisor of any buffer size) exposes lost, repeated or
            // reordered chunks.
            var payload = ByteBuffer()
            payload.writeBytes((0..<size).lazy.map { UInt8($0 % 251) })

            let received = server.eventLoop.makePromise(of: ByteBuffer.self)
            defer { received.fail(Abandoned()) }
            let listenOptions = StreamListenOptions(address: bed.address(of: server).socketAddress(port: 0))
            let listener = try bed.wait(
                for: server.eventLoop.flatSubmit {
                    server.listenStream(listenOptions) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(
                                ByteCollector(expectedCount: size, promise: received))
                        }
                    }
                },
                timeout: timeout)

            let connectOptions = StreamConnectOptions(remote: try address(of: listener, on: server, in: bed))
            let channel = try bed.wait(
                for: client.eventLoop.flatSubmit {
                    client.connectStream(connectOptions) { $0.eventLoop.makeSucceededVoidFuture() }
                },
                timeout: timeout)
            try bed.wait(for: channel.writeAndFlush(payload), timeout: .seconds(60))

            let bytes = try bed.wait(for: received.futureResult, timeout: .seconds(60))
            #expect(bytes.readableBytes == size)
            #expect(bytes == payload)
            try bed.wait(for: channel.close(), timeout: timeout)
            try bed.wait(for: listener.close(), timeout: timeout)
        }
    }

    // MARK: (g) many connections

    @Test(arguments: TestBedKind.allCases)
    func manyConcurrentConnectionsEachEchoTheirOwnMessage(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 2) { bed, hosts in
            let (server, client) = (hosts[0], hosts[1])
            let listener = try listenEcho(on: server, in: bed)
            let target = try address(of: listener, on: server, in: bed)

            let messages = (0..<100).map { index in
                ByteBuffer(string: String(repeating: "client \(index);", count: index % 7 + 1))
            }
            let replies = messages.map { _ in client.eventLoop.makePromise(of: ByteBuffer.self) }
            defer { replies.forEach { $0.fail(Abandoned()) } }

            // All connections are opened and written before any reply is awaited.
            let channels = zip(messages, replies).map { message, reply in
                connect(client, to: target, collectingInto: reply, expectedCount: message.readableBytes)
                    .flatMap { channel in channel.writeAndFlush(message).map { channel } }
            }
            let open = try bed.wait(
                for: EventLoopFuture.whenAllSucceed(channels, on: client.eventLoop), timeout: timeout)
            let echoed = try bed.wait(
                for: EventLoopFuture.whenAllSucceed(replies.map(\.futureResult), on: client.eventLoop),
                timeout: timeout)

            #expect(echoed == messages)
            try bed.wait(
                for: EventLoopFuture.andAllSucceed(open.map { $0.close() }, on: client.eventLoop), timeout: timeout)
            try bed.wait(for: listener.close(), timeout: timeout)
        }
    }

    // MARK: (h) listener and outgoing connection on one port

    @Test(arguments: TestBedKind.allCases)
    func listenerAndOutgoingConnectionShareAPort(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 2) { bed, hosts in
            let (puncher, peer) = (hosts[0], hosts[1])

            // The peer's listener reports the source address of whoever connects.
            let source = peer.eventLoop.makePromise(of: SocketAddress?.self)
            defer { source.fail(Abandoned()) }
            let peerOptions = StreamListenOptions(address: bed.address(of: peer).socketAddress(port: 0))
            let peerListener = try bed.wait(
                for: peer.eventLoop.flatSubmit {
                    peer.listenStream(peerOptions) { channel in
                        source.succeed(channel.remoteAddress)
                        return channel.eventLoop.makeSucceededVoidFuture()
                    }
                },
                timeout: timeout)

            let ownListener = try listenEcho(on: puncher, in: bed, reuseAddress: true)
            let sharedPort = try #require(port(of: ownListener))
            let connectOptions = StreamConnectOptions(
                remote: try address(of: peerListener, on: peer, in: bed),
                local: bed.address(of: puncher).socketAddress(port: sharedPort),
                reuseAddress: true)
            let outgoing = try bed.wait(
                for: puncher.eventLoop.flatSubmit {
                    puncher.connectStream(connectOptions) { $0.eventLoop.makeSucceededVoidFuture() }
                },
                timeout: timeout)

            #expect(port(of: outgoing) == sharedPort)
            let seen = try bed.wait(for: source.futureResult, timeout: timeout)
            #expect(seen?.ipv4Address == bed.address(of: puncher))
            #expect(seen?.port == Int(sharedPort))

            // The listener still serves while the port is shared.
            let reply = peer.eventLoop.makePromise(of: ByteBuffer.self)
            defer { reply.fail(Abandoned()) }
            let message = ByteBuffer(string: "still listening")
            let inbound = try bed.wait(
                for: connect(peer, to: try address(of: ownListener, on: puncher, in: bed), collectingInto: reply,
                             expectedCount: message.readableBytes),
                timeout: timeout)
            try bed.wait(for: inbound.writeAndFlush(message), timeout: timeout)
            #expect(try bed.wait(for: reply.futureResult, timeout: timeout) == message)

            for channel in [inbound, outgoing, ownListener, peerListener] {
                try bed.wait(for: channel.close(), timeout: timeout)
            }
        }
    }

    // MARK: (i) durable store

    @Test(arguments: TestBedKind.allCases)
    func durableStoreRoundTrips(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 1) { bed, hosts in
            let host = hosts[0]
            let store = host.store
            func run<T: Sendable>(_ body: @escaping @Sendable () -> EventLoopFuture<T>) throws -> T {
                try bed.wait(for: host.eventLoop.flatSubmit(body), timeout: timeout)
            }
            let first = ByteBuffer(string: "snapshot v1")
            let second = ByteBuffer(bytes: (0..<1000).map { UInt8($0 % 256) })

            try run { store.save("snapshot.v1", first) }
            #expect(try run { store.load("snapshot.v1") } == first)
            try run { store.save("snapshot.v1", second) }
            #expect(try run { store.load("snapshot.v1") } == second)
            try run { store.remove("snapshot.v1") }
            #expect(try run { store.load("snapshot.v1") } == nil)

            #expect(try run { store.load("never-written") } == nil)
            try run { store.remove("never-written") }

            let error = #expect(throws: HostError.self) {
                try run { store.save("../escape", first) }
            }
            guard case .storeFailure(let key, _)? = error else {
                Issue.record("an invalid key failed with \(String(describing: error)), not storeFailure")
                return
            }
            #expect(key == "../escape")
        }
    }

    // MARK: (j) interfaces

    @Test(arguments: TestBedKind.allCases)
    func interfacesIncludeLoopbackAndTheBedAddress(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 1) { bed, hosts in
            let host = hosts[0]
            let interfaces = try bed.wait(for: host.eventLoop.submit { host.interfaces }, timeout: timeout)
            #expect(interfaces.contains { $0.isLoopback && $0.ipv4Addresses.contains(.loopback) })
            #expect(interfaces.contains { $0.ipv4Addresses.contains(bed.address(of: host)) })
        }
    }

    // MARK: Helpers

    /// Runs `body` on a fresh bed and shuts the bed down whatever happens.
    // MARK: (k) back-pressure through the pipeline

    /// Reads are asked for through the pipeline on both backends, so a handler that holds them
    /// back (as a proxy does while the far side cannot take more) stops input until it lets one pass.
    @Test(arguments: TestBedKind.allCases)
    func aHandlerHoldingReadsStopsInputUntilItLetsOnePass(_ kind: TestBedKind) throws {
        try withBed(kind, hosts: 2) { bed, hosts in
            let (server, client) = (hosts[0], hosts[1])
            let payload = ByteBuffer(repeating: 7, count: 64 * 1024)
            let gates = server.eventLoop.makePromise(of: ReadGate.self)
            let everything = server.eventLoop.makePromise(of: ByteBuffer.self)
            defer {
                gates.fail(Abandoned())
                everything.fail(Abandoned())
            }
            let listener = try bed.wait(
                for: server.eventLoop.flatSubmit {
                    server.listenStream(StreamListenOptions(address: bed.address(of: server).socketAddress(port: 0))) { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let gate = ReadGate()
                            try channel.pipeline.syncOperations.addHandler(gate)
                            try channel.pipeline.syncOperations.addHandler(
                                ByteCollector(expectedCount: payload.readableBytes, promise: everything))
                            gates.succeed(gate)
                        }
                    }
                },
                timeout: timeout)
            let unused = client.eventLoop.makePromise(of: ByteBuffer.self)
            defer { unused.fail(Abandoned()) }
            let channel = try bed.wait(
                for: connect(client, to: try address(of: listener, on: server, in: bed), collectingInto: unused), timeout: timeout)
            let gate = try bed.wait(for: gates.futureResult, timeout: timeout)
            channel.writeAndFlush(payload, promise: nil)

            // Two seconds with every read held: not a byte may reach the handlers behind the gate.
            try bed.wait(for: server.eventLoop.scheduleTask(in: .seconds(2)) {}.futureResult, timeout: timeout)
            let held = try bed.wait(for: server.eventLoop.submit { (gate.heldReads, gate.bytesSeen) }, timeout: timeout)
            #expect(held.0 >= 1, "the first read must go through the pipeline")
            #expect(held.1 == 0)

            try bed.wait(for: server.eventLoop.submit { gate.open() }, timeout: timeout)
            #expect(try bed.wait(for: everything.futureResult, timeout: timeout) == payload)
            try bed.wait(for: channel.close(), timeout: timeout)
            try bed.wait(for: listener.close(), timeout: timeout)
        }
    }

    private func withBed(
        _ kind: TestBedKind,
        hosts count: Int,
        _ body: (any HostTestBed, [any Host]) throws -> Void
    ) throws {
        let bed = try kind.make()
        do {
            try body(bed, try bed.makeHosts(count))
        } catch {
            try? bed.shutdown()
            throw error
        }
        try bed.shutdown()
    }

    /// A listener on `host` whose connections echo what they read.
    private func listenEcho(on host: any Host, in bed: any HostTestBed, reuseAddress: Bool = false) throws -> Channel {
        try listen(on: host, in: bed, reuseAddress: reuseAddress) { StreamEchoHandler() }
    }

    /// A listener on `host` that gives each accepted connection a handler made by `makeHandler`.
    private func listen(
        on host: any Host, in bed: any HostTestBed, reuseAddress: Bool = false,
        _ makeHandler: @escaping @Sendable () -> any ChannelHandler
    ) throws -> Channel {
        let options = StreamListenOptions(
            address: bed.address(of: host).socketAddress(port: 0), reuseAddress: reuseAddress)
        return try bed.wait(
            for: host.eventLoop.flatSubmit {
                host.listenStream(options) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(makeHandler())
                    }
                }
            },
            timeout: timeout)
    }

    /// A connection from `host` whose inbound bytes go to a `ByteCollector` completing `promise`;
    /// a failed connect fails `promise` too.
    private func connect(
        _ host: any Host,
        to remote: SocketAddress,
        collectingInto promise: EventLoopPromise<ByteBuffer>,
        expectedCount: Int? = nil
    ) -> EventLoopFuture<Channel> {
        let options = StreamConnectOptions(remote: remote)
        let connected = host.eventLoop.flatSubmit {
            host.connectStream(options) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteCollector(expectedCount: expectedCount, promise: promise))
                }
            }
        }
        connected.whenFailure { promise.fail($0) }
        return connected
    }

    /// Where other hosts reach `listener`: the bed's address for `host` and the bound port.
    private func address(of listener: Channel, on host: any Host, in bed: any HostTestBed) throws -> SocketAddress {
        bed.address(of: host).socketAddress(port: try #require(port(of: listener)))
    }

    private func port(of channel: Channel) -> UInt16? {
        channel.localAddress?.port.map { UInt16($0) }
    }
}

/// Fails a test's promise that nothing completed before the test ended.
private struct Abandoned: Error {}
