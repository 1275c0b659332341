import Foundation
import Mesh
import NIOCore
@testable import NetSim
@testable import Scenario
import TestFixtures
import Testing

/// Field captures turn into flows the simulator can play again: the pcap reader, the frame
/// decoder and the flow assembly, on a real capture (tshark on a pod's veth) and on captures
/// written here with the cases real ones hold (retransmissions, reordering, a flow joined late).
@Suite struct CaptureReplayTests {
    static let fieldCapture = "\(RepositoryFiles.scenarios)/captures/field-edge-a1.pcap"

    static func flows(ofFile path: String) throws -> CapturedFlows {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        return CapturedFlows(try PcapFile(bytes: bytes, path: path))
    }

    @Test func aRealPodCaptureBecomesItsFourClientFlows() throws {
        let captured = try Self.flows(ofFile: Self.fieldCapture)
        #expect(captured.joinedMidway == 0)
        #expect(captured.flows.map(\.target) == [
            "udp 169.254.96.16:53", "tcp 10.96.0.60:80", "udp 10.96.0.61:5000", "tcp 10.96.0.60:80",
        ])
        let lookup = captured.flows[0]
        #expect(lookup.sends.count == 1 && lookup.answers == 1)
        let query = try #require(lookup.sends.first?.bytes)
        #expect(try DNSMessage(decoding: ByteBuffer(bytes: query)).questions.first?.name.description == "web.default.svc.cluster.local.")

        let firstRequest = captured.flows[1]
        #expect(String(decoding: firstRequest.sends.flatMap(\.bytes), as: UTF8.self).hasPrefix("GET / HTTP/1.1\r\n"))
        #expect(firstRequest.clientClosedAt != nil, "curl closed its side after the answer")
        #expect(firstRequest.answeredBytes > 0)
        #expect(firstRequest.start < captured.flows[3].start, "flows keep the capture's order and times")

        let datagrams = captured.flows[2]
        #expect(datagrams.sends.map(\.bytes.count) == [1200, 64], "each datagram stays whole")
        #expect(datagrams.answers == 2)
    }

    @Test func flowsCanBeNarrowedToDestinations() throws {
        let captured = try Self.flows(ofFile: Self.fieldCapture)
        #expect(captured.filtered(to: [IPv4Prefix("10.96.0.0/12")!]).count == 3)
        #expect(captured.filtered(to: [IPv4Prefix("10.96.0.61/32")!]).map(\.port) == [5000])
        #expect(captured.filtered(to: []).count == 4)
    }

    /// A capture written here by NetSim's own pcap writer, holding what real ones do.
    static func writtenCapture(_ packets: [(time: UInt64, packet: Packet)]) throws -> CapturedFlows {
        let path = NSTemporaryDirectory() + "replay-\(UUID().uuidString).pcap"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try PcapFileWriter(path: path)
        for (time, packet) in packets { try writer.record(packet, at: time) }
        try writer.close()
        return try flows(ofFile: path)
    }

    static let client = Endpoint(IPv4Address(10, 244, 0, 5), 40000)
    static let server = Endpoint(IPv4Address(10, 96, 0, 10), 80)

    static func segment(_ from: Endpoint, _ to: Endpoint, _ flags: TCPFlags, sequence: UInt32, _ text: String = "") -> Packet {
        Packet(
            id: 0, transport: .tcp, source: from, destination: to,
            tcp: TCPHeader(flags: flags, sequence: sequence, acknowledgment: 0, window: 65535),
            payload: ByteBuffer(string: text), origin: NodeID(0))
    }

    @Test func retransmittedAndReorderedBytesArePutBackInOrderOnce() throws {
        let isn: UInt32 = 4_294_967_000  // wraps around 2³² inside the flow
        let captured = try Self.writtenCapture([
            (1_000, Self.segment(Self.client, Self.server, .syn, sequence: isn)),
            (1_100, Self.segment(Self.server, Self.client, [.syn, .ack], sequence: 7)),
            (2_000, Self.segment(Self.client, Self.server, .ack, sequence: isn &+ 1, "GET / ")),
            // "HTTP/1.1\r\n" is lost and comes after the bytes behind it.
            (3_000, Self.segment(Self.client, Self.server, .ack, sequence: isn &+ 17, "\r\n")),
            (4_000, Self.segment(Self.client, Self.server, .ack, sequence: isn &+ 1, "GET / HTTP/1.1\r\n")),
            (4_100, Self.segment(Self.server, Self.client, .ack, sequence: 8, "HTTP/1.1 200 OK\r\n\r\n")),
            (5_000, Self.segment(Self.client, Self.server, [.fin, .ack], sequence: isn &+ 19)),
        ])
        let flow = try #require(captured.flows.first)
        #expect(captured.flows.count == 1)
        #expect(String(decoding: flow.sends.flatMap(\.bytes), as: UTF8.self) == "GET / HTTP/1.1\r\n\r\n")
        #expect(flow.sends.map(\.offset) == [.nanoseconds(1_000), .nanoseconds(3_000)],
                "bytes go out when the capture first had them in order")
        #expect(flow.clientClosedAt == .nanoseconds(4_000))
        #expect(flow.answeredBytes == 19)
    }

    @Test func aTCPFlowWhoseStartWasNotCapturedIsCountedNotReplayed() throws {
        let captured = try Self.writtenCapture([
            (1_000, Self.segment(Self.client, Self.server, .ack, sequence: 500, "tail of a request")),
            (2_000, Self.segment(Self.server, Self.client, .ack, sequence: 900, "tail of an answer")),
        ])
        #expect(captured.flows.isEmpty)
        #expect(captured.joinedMidway == 1)
    }

    @Test func whatIsNotACaptureSaysWhatItIs() {
        let pcapng: [UInt8] = [0x0A, 0x0D, 0x0D, 0x0A] + Array(repeating: 0, count: 28)
        #expect(throws: PcapReadError.notPcap(path: "x.pcapng", reason: "it is pcapng; convert it with `editcap -F pcap IN OUT`")) {
            try PcapFile(bytes: pcapng, path: "x.pcapng")
        }
        var wifi: [UInt8] = [0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0] + Array(repeating: 0, count: 12)
        wifi += [105, 0, 0, 0]  // IEEE 802.11
        #expect(throws: PcapReadError.unsupportedLinkType(path: "w.pcap", linkType: 105)) { try PcapFile(bytes: wifi, path: "w.pcap") }
        #expect(throws: PcapReadError.self) { try PcapFile(bytes: Array("not a capture".utf8), path: "t.txt") }
    }

    @Test func aCaptureCutShortEndsAtItsLastWholeRecord() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Self.fieldCapture)))
        let whole = try PcapFile(bytes: bytes, path: "whole")
        let cut = try PcapFile(bytes: Array(bytes.dropLast(10)), path: "cut")
        #expect(cut.records.count == whole.records.count - 1)
        // Any prefix of a capture reads without a crash.
        for length in stride(from: 24, to: bytes.count, by: 97) {
            let prefix = try PcapFile(bytes: Array(bytes.prefix(length)), path: "prefix")
            _ = CapturedFlows(prefix)
        }
    }

    @Test func aReplayNamesItsProblemsInTheScenario() throws {
        func rejection(_ workload: String) -> String {
            let yaml = """
                name: replay-errors
                duration: 1m
                network:
                  networks: [{name: lan, subnet: 10.244.0.0/24}]
                  nodes: [{name: a, network: lan}]
                workloads:
                  - \(workload)
                """
            let error = #expect(throws: ScenarioError.self) {
                try ScenarioParser.parse(yaml: yaml, source: "\(RepositoryFiles.scenarios)/replay.yaml")
            }
            return error?.description ?? ""
        }
        let missing = rejection("{name: r, node: a, kind: replay, pcap: captures/nope.pcap}")
        #expect(missing.contains("workloads[0].pcap: cannot read capture file"), "\(missing)")
        let nothing = rejection("{name: r, node: a, kind: replay, pcap: captures/field-edge-a1.pcap, only: [192.0.2.0/24]}")
        #expect(nothing.contains("workloads[0].only: no TCP or UDP flow to 192.0.2.0/24 begins in captures/field-edge-a1.pcap (4 flows in all"), "\(nothing)")
        let late = rejection("{name: r, node: a, kind: replay, pcap: captures/field-edge-a1.pcap, start: 58s}")
        #expect(late.contains("after the end of the run (1m); lengthen duration"), "\(late)")
    }
}
