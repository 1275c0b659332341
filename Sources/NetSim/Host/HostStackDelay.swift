/// When a host's stack takes a packet that reached its interface: a uniform draw up to
/// `jitter` after the arrival, never before the packet ahead of it (a NIC's queue keeps order).
///
/// Real machines answer a packet after an interrupt and a wake-up whose delay varies; that
/// variance is what decides races two ideal hosts would tie, such as which side's punch reaches
/// the other's router first.
final class HostStackDelay {
    let jitter: UInt64
    let random: SimRandom
    /// When the last packet was handed over.
    private var lastHandover: UInt64 = 0

    init(jitter: UInt64, random: SimRandom) {
        self.jitter = jitter
        self.random = random
    }

    /// When a packet arriving at `arrival` reaches the stack.
    func handover(arrivingAt arrival: UInt64) -> UInt64 {
        let drawn = arrival + random.nextInt(below: jitter + 1)
        lastHandover = max(lastHandover, drawn)
        return lastHandover
    }
}
