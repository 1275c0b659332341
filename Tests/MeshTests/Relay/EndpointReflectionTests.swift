@testable import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// The relay tells a node where it sees the node's UDP port from, and cannot be made into an
/// amplifier or a free-for-all: answers are smaller than requests, capped per second, and
/// only well-formed requests get one.
@Suite struct EndpointReflectionTests {
    static let s = RelayTestBed.s

    @Test func requestsAndAnswersHaveExactBytes() throws {
        let request = EndpointReflection.request(nonce: 0x0102_0304_0506_0708)
        #expect(Array(request.readableBytesView) == [5, 1, 2, 3, 4, 5, 6, 7, 8] + [UInt8](repeating: 0, count: 15))
        #expect(EndpointReflection.decodeRequest(request) == 0x0102_0304_0506_0708)
        let answer = EndpointReflection.answer(
            nonce: 0x0102_0304_0506_0708, observed: NodeEndpoint(address: IPv4Address(203, 0, 113, 7), port: 20006))
        #expect(Array(answer.readableBytesView) == [6, 1, 2, 3, 4, 5, 6, 7, 8, 203, 0, 113, 7, 0x4E, 0x26])
        #expect(answer.readableBytes < request.readableBytes, "no amplification toward a spoofed source")
        let decoded = try #require(EndpointReflection.decodeAnswer(answer))
        #expect(decoded.nonce == 0x0102_0304_0506_0708 && decoded.observed.description == "203.0.113.7:20006")
        // Truncated, padded or of another type: not a request, not an answer.
        var short = request
        short.moveWriterIndex(to: 23)
        #expect(EndpointReflection.decodeRequest(short) == nil)
        var long = request
        long.writeInteger(UInt8(0))
        #expect(EndpointReflection.decodeRequest(long) == nil)
        #expect(EndpointReflection.decodeRequest(answer) == nil)
        #expect(EndpointReflection.decodeAnswer(request) == nil)
    }

    /// A stranger floods the relay's UDP port: it answers `maxReflectionsPerSecond` in a second
    /// and drops the rest, each answer going back to the source it came from.
    @Test func theRelayAnswersWhereItSawTheRequestWithinItsCap() throws {
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: [("a", HolePunchTests.cone, nil)]))
        try bed.startRelay("relay-1") { $0.maxReflectionsPerSecond = 100 }
        bed.sim.run(until: Self.s)
        let host = try #require(bed.sim.host(named: "a"))
        let answers = AnswerRecorder()
        var socket: Channel?
        host.bindDatagram(DatagramBindOptions(address: IPv4Address.any.socketAddress(port: 20006))) { channel in
            channel.pipeline.addHandler(answers)
        }.whenSuccess { socket = $0 }
        bed.sim.run(until: bed.sim.now + Self.s)
        let channel = try #require(socket)
        let relay = bed.relayAddresses[0]
        for nonce in 1...150 as ClosedRange<UInt64> {
            channel.write(AddressedEnvelope(remoteAddress: relay, data: EndpointReflection.request(nonce: nonce)), promise: nil)
        }
        channel.write(AddressedEnvelope(remoteAddress: relay, data: ByteBuffer(string: "not a reflection request")), promise: nil)
        channel.flush()
        bed.sim.run(until: bed.sim.now + Self.s / 2)
        let statistics = try #require(bed.relays["relay-1"]?.statistics)
        #expect(statistics.reflectionsAnswered == 100 && statistics.reflectionsDropped == 50)
        #expect(answers.decoded.count == 100)
        let natA = try #require(bed.sim.node(named: "nat-a")?.addresses.first)
        #expect(Set(answers.decoded.map(\.observed)) == [NodeEndpoint(address: natA, port: 20006)], "a's NAT mapping, port preserved")
        #expect(answers.decoded.map(\.nonce) == Array(1...100))
        // The next second has a fresh allowance.
        bed.sim.run(until: bed.sim.now + Self.s)
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: relay, data: EndpointReflection.request(nonce: 999)), promise: nil)
        bed.sim.run(until: bed.sim.now + Self.s / 2)
        #expect(answers.decoded.last?.nonce == 999)
        channel.close(promise: nil)
        bed.relays["relay-1"]?.stop()
        bed.sim.run(until: bed.sim.now + Self.s)
    }

    final class AnswerRecorder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        var decoded: [(nonce: UInt64, observed: NodeEndpoint)] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if let answer = EndpointReflection.decodeAnswer(unwrapInboundIn(data).data) { decoded.append(answer) }
        }
    }
}
