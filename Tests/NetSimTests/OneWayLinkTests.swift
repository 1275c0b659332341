import NetworkTopology
import Testing

@testable import NetSim

/// What a link does to packets, measured over many packets with a fixed seed.
@Suite struct OneWayLinkTests {
    static let ms = Nanoseconds.millisecond

    func outcomes(_ profile: LinkProfile, packets: Int = 20_000, bytes: Int = 1000, spacing: UInt64 = 0)
        -> (arrivals: [UInt64], lost: [String], duplicates: Int)
    {
        let link = OneWayLink(profile: profile, random: SimRandom(seed: 99))
        var arrivals: [UInt64] = [], lost: [String] = [], duplicates = 0
        for index in 0..<packets {
            switch link.transmit(bytes: bytes, now: UInt64(index) * spacing) {
            case .lost(let reason): lost.append(reason.description)
            case .arrives(let at, let duplicate):
                arrivals.append(at)
                if duplicate != nil { duplicates += 1 }
            }
        }
        return (arrivals, lost, duplicates)
    }

    @Test func latencyIsAFloorAndJitterAddsAboutItsMean() {
        let result = outcomes(LinkProfile(latency: 20 * Self.ms, jitter: 5 * Self.ms))
        #expect(result.arrivals.allSatisfy { $0 >= 20 * Self.ms })
        let meanExtra = Double(result.arrivals.reduce(0, +)) / Double(result.arrivals.count) - Double(20 * Self.ms)
        #expect(abs(meanExtra - Double(5 * Self.ms)) < Double(Self.ms) / 2)
    }

    @Test func randomLossDropsAboutItsShare() {
        let result = outcomes(LinkProfile(loss: 0.1))
        let share = Double(result.lost.count) / 20_000
        #expect(abs(share - 0.1) < 0.01)
        #expect(Set(result.lost) == ["loss"])
    }

    @Test func burstLossComesInRuns() {
        let burst = LinkProfile.BurstLoss(enterBad: 0.01, exitBad: 0.2)
        let link = OneWayLink(profile: LinkProfile(burstLoss: burst), random: SimRandom(seed: 3))
        var runs: [Int] = [], current = 0
        for _ in 0..<50_000 {
            if case .lost = link.transmit(bytes: 100, now: 0) {
                current += 1
            } else if current > 0 {
                runs.append(current)
                current = 0
            }
        }
        let meanRun = Double(runs.reduce(0, +)) / Double(runs.count)
        // A bad state lasts 1/exitBad = 5 packets on average; independent loss would give runs near 1.
        #expect(meanRun > 3.5 && meanRun < 6.5)
    }

    @Test func duplicationDeliversSomePacketsTwice() {
        let result = outcomes(LinkProfile(duplicate: 0.05))
        #expect(abs(Double(result.duplicates) / 20_000 - 0.05) < 0.01)
    }

    @Test func bandwidthSerialisesAndAFullQueueDrops() {
        // 8 Mbit/s: a 1000-byte packet takes 1 ms on the wire. Send 100 at once into a 20 kB queue.
        let profile = LinkProfile(bandwidth: 8_000_000, queueLimit: 20_000)
        let result = outcomes(profile, packets: 100)
        #expect(result.arrivals.first == Self.ms)
        #expect(zip(result.arrivals, result.arrivals.dropFirst()).allSatisfy { $1 - $0 == Self.ms })
        #expect(result.arrivals.count == 21, "the first packet plus a 20 kB queue")
        #expect(Set(result.lost) == ["queue-full"])
        // Paced at the link's rate nothing is lost.
        #expect(outcomes(profile, packets: 100, spacing: Self.ms).lost.isEmpty)
    }

    @Test func withoutReorderingJitterKeepsOrder() {
        let jittery = LinkProfile(latency: Self.ms, jitter: 10 * Self.ms)
        let reordered = outcomes(jittery, packets: 1000, spacing: Self.ms).arrivals
        #expect(reordered != reordered.sorted(), "jitter alone reorders")
        var fifo = jittery
        fifo.reorder = false
        let ordered = outcomes(fifo, packets: 1000, spacing: Self.ms).arrivals
        #expect(ordered == ordered.sorted())
    }

    @Test func aLinkTakenDownLosesEverything() {
        let link = OneWayLink(profile: .ideal, random: SimRandom(seed: 1))
        link.isUp = false
        guard case .lost(let reason) = link.transmit(bytes: 10, now: 0) else {
            Issue.record("a down link delivered a packet")
            return
        }
        #expect(reason.description == "link-down")
    }
}
