import Mesh
import NIOCore

/// The client conversations in a capture, as flows to replay: the client of a TCP flow is the
/// side that sent the SYN, of a UDP flow the side that sent the first datagram. TCP bytes are
/// put back in sequence order once each (retransmissions and reordering undone).
public struct CapturedFlows: Sendable {
    public var flows: [ReplayFlow]
    /// TCP flows whose SYN the capture missed (it began mid-conversation): their bytes cannot be
    /// put in order from the start, so they are not replayed.
    public var joinedMidway: Int
    /// Frames that are not IPv4 TCP or UDP (ARP, IPv6, ICMP, fragments, ...).
    public var otherFrames: Int

    public init(_ capture: PcapFile) {
        var assembler = Assembler()
        var other = 0
        let origin = capture.records.first?.timestamp ?? 0
        for record in capture.records {
            guard let segment = CapturedSegment(record, linkType: capture.linkType) else {
                other += 1
                continue
            }
            assembler.add(segment, origin: origin)
        }
        flows = assembler.flows.map(\.flow)
        joinedMidway = assembler.joinedMidway
        otherFrames = other
    }

    /// Keeps the flows to destinations within `prefixes` (all of them when empty).
    public func filtered(to prefixes: [IPv4Prefix]) -> [ReplayFlow] {
        prefixes.isEmpty ? flows : flows.filter { flow in prefixes.contains { $0.contains(flow.destination) } }
    }
}

/// Builds flows in capture order; flows keep the order of their first packet.
private struct Assembler {
    struct Key: Hashable {
        var tcp: Bool
        var client: IPv4Address, clientPort: UInt16, server: IPv4Address, serverPort: UInt16
    }

    final class Building {
        var flow: ReplayFlow
        let startTime: UInt64
        /// TCP: the client's initial sequence number, the next byte expected, and bytes that
        /// arrived ahead of a gap.
        var initialSequence: UInt32 = 0
        var nextByte: UInt32 = 0
        var ahead: [UInt32: ArraySlice<UInt8>] = [:]

        init(flow: ReplayFlow, startTime: UInt64) {
            self.flow = flow
            self.startTime = startTime
        }
    }

    var flows: [Building] = []
    var byKey: [Key: Building] = [:]
    var joinedMidway = 0
    var midwayKeys: Set<Key> = []

    mutating func add(_ segment: CapturedSegment, origin: UInt64) {
        let tcp = segment.transport == .tcp
        let forward = Key(tcp: tcp, client: segment.source, clientPort: segment.sourcePort,
                          server: segment.destination, serverPort: segment.destinationPort)
        let backward = Key(tcp: tcp, client: segment.destination, clientPort: segment.destinationPort,
                           server: segment.source, serverPort: segment.sourcePort)
        if let flow = byKey[forward] {
            fromClient(segment, flow)
        } else if let flow = byKey[backward] {
            if segment.transport == .udp || !segment.payload.isEmpty { flow.flow.answers += 1 }
            flow.flow.answeredBytes += segment.payload.count
        } else if tcp && segment.flags & (CapturedSegment.syn | CapturedSegment.ack) != CapturedSegment.syn {
            if !midwayKeys.contains(forward) && !midwayKeys.contains(backward) {
                midwayKeys.insert(forward)
                joinedMidway += 1
            }
        } else {
            let flow = Building(
                flow: ReplayFlow(
                    transport: tcp ? .tcp : .udp, client: "\(segment.source):\(segment.sourcePort)",
                    destination: segment.destination, port: segment.destinationPort,
                    start: .nanoseconds(Int64(segment.time &- origin)), sends: []),
                startTime: segment.time)
            flow.initialSequence = segment.sequence
            byKey[forward] = flow
            flows.append(flow)
            fromClient(segment, flow)
        }
    }

    private func fromClient(_ segment: CapturedSegment, _ flow: Building) {
        let offset = TimeAmount.nanoseconds(Int64(segment.time &- flow.startTime))
        guard segment.transport == .tcp else {
            flow.flow.sends.append(ReplayFlow.Send(offset: offset, bytes: Array(segment.payload)))
            return
        }
        if segment.flags & CapturedSegment.syn != 0 { return }
        if segment.flags & (CapturedSegment.fin | CapturedSegment.rst) != 0, flow.flow.clientClosedAt == nil {
            flow.flow.clientClosedAt = offset
        }
        guard !segment.payload.isEmpty else { return }
        // Sequence numbers relative to the first data byte (ISN + 1), modulo 2³².
        var position = segment.sequence &- flow.initialSequence &- 1
        var bytes = segment.payload
        if position < flow.nextByte {
            // A retransmission, perhaps with new bytes at its end.
            let seen = flow.nextByte &- position
            guard seen < UInt32(bytes.count) else { return }
            bytes = bytes.dropFirst(Int(seen))
            position = flow.nextByte
        }
        guard position == flow.nextByte else {
            flow.ahead[position] = bytes
            return
        }
        var collected = Array(bytes)
        flow.nextByte &+= UInt32(bytes.count)
        while let next = flow.ahead.removeValue(forKey: flow.nextByte) {
            collected += next
            flow.nextByte &+= UInt32(next.count)
        }
        flow.flow.sends.append(ReplayFlow.Send(offset: offset, bytes: collected))
    }
}
