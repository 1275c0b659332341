import NetworkTopology

/// One direction of a link at run time: the profile, its own random stream, the queue
/// behind a bandwidth limit, the bursty-loss state and whether a fault has taken it down.
final class OneWayLink {
    enum Outcome {
        case lost(reason: StaticString)
        /// Arrival time at the far end, and a second one when the packet was duplicated.
        case arrives(at: UInt64, duplicateAt: UInt64?)
    }

    var profile: LinkProfile
    let random: SimRandom
    /// Fault state: false while a partition, isolation or flap holds it down.
    var isUp = true
    /// Fault state: a loss burst or latency spike on top of the profile (zero when none).
    /// Drawn from only while set, so runs without one keep their random streams.
    var extraLoss: Double = 0
    var extraLatency: UInt64 = 0
    /// When the transmitter finishes the last queued packet (bandwidth-limited links).
    private var busyUntil: UInt64 = 0
    /// Latest arrival handed out, so a link without reordering keeps FIFO order.
    private var lastArrival: UInt64 = 0
    private var inBadState = false

    init(profile: LinkProfile, random: SimRandom) {
        self.profile = profile
        self.random = random
    }

    /// Sends `bytes` into the link at `now`.
    @inline(__always)
    func transmit(bytes: Int, now: UInt64) -> Outcome {
        guard isUp else { return .lost(reason: "link-down") }
        var departure = now
        if let bandwidth = profile.bandwidth {
            let start = max(now, busyUntil)
            let backlogBytes = Double(start - now) * Double(bandwidth) / 8e9
            if backlogBytes > Double(profile.queueLimit) { return .lost(reason: "queue-full") }
            busyUntil = start + UInt64(Double(bytes) * 8e9 / Double(bandwidth))
            departure = busyUntil
        }
        if let burst = profile.burstLoss {
            inBadState = inBadState ? !random.chance(burst.exitBad) : random.chance(burst.enterBad)
            if inBadState && random.chance(burst.lossInBadState) { return .lost(reason: "burst-loss") }
        }
        if random.chance(profile.loss) { return .lost(reason: "loss") }
        if extraLoss > 0 && random.chance(extraLoss) { return .lost(reason: "degraded") }
        let arrival = arrivalTime(departure: departure + extraLatency)
        let duplicate = random.chance(profile.duplicate) ? arrivalTime(departure: departure + extraLatency) : nil
        return .arrives(at: arrival, duplicateAt: duplicate)
    }

    @inline(__always)
    private func arrivalTime(departure: UInt64) -> UInt64 {
        var arrival = departure + profile.latency
        if profile.jitter > 0 {
            // Exponential extra delay: most packets are near the minimum, a few are late.
            let u = random.nextUnitInterval()
            arrival += UInt64(-Double(profile.jitter) * log1p(-u))
        }
        if !profile.reorder { arrival = max(arrival, lastArrival) }
        lastArrival = max(lastArrival, arrival)
        return arrival
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
