import Mesh
import NetworkTopology

/// The translation table of one simulated NAT router: RFC 4787 (UDP) and RFC 5382 (TCP) mapping,
/// filtering, port allocation, hairpinning and expiry, with virtual time passed in.
///
/// Mappings are found in O(1) through two dictionaries: by flow (outbound) and by external port
/// (inbound). Expiry is lazy: a lookup that finds an expired mapping removes it. So that mappings
/// nobody looks up again do not pile up, each translation also examines a couple of mappings from
/// a queue kept in creation order. Nothing walks a dictionary where the order could matter, so a
/// run does not depend on the process's hash seed.
public final class NATTable: NATDevice {
    public let configuration: NATConfiguration
    public let externalAddress: IPv4Address

    private let random: SimRandom
    private var byFlow: [FlowKey: Mapping] = [:]
    private var byPort: [PortKey: Mapping] = [:]
    /// Every live mapping once, plus removed ones not yet reached; walked from `sweepHead`.
    private var sweepQueue: [Mapping] = []
    private var sweepHead = 0
    /// Where sequential allocation continues, per transport (ports are per transport).
    private var lastAllocatedPort: [TransportProtocol: UInt16] = [:]
    /// Without an input filter: the connection-tracking entries unsolicited packets left on the
    /// router itself, by (port, sender), with when each expires.
    private var strayEntries: [StrayKey: UInt64] = [:]
    /// Linux keeps an unreplied UDP entry 30 s (nf_conntrack_udp_timeout) and one closed by the
    /// RST it answered a SYN with 10 s (nf_conntrack_tcp_timeout_close).
    static func strayEntryLifetime(_ transport: TransportProtocol) -> UInt64 {
        transport == .udp ? 30 * Nanoseconds.second : 10 * Nanoseconds.second
    }
    /// The most stray entries kept, as a real table's size is bounded; beyond it, new ones are
    /// not recorded.
    static let maximumStrayEntries = 4096

    /// Mappings examined by the incremental sweep per translation: enough to keep up with one new
    /// mapping per packet, small enough to stay O(1).
    private static let sweepStepsPerTranslation = 2
    /// Random draws before falling back to a linear scan; a nearly full table would otherwise draw
    /// for a long time.
    private static let randomAllocationAttempts = 32

    public init(configuration: NATConfiguration, externalAddress: IPv4Address, random: SimRandom) {
        self.configuration = configuration
        self.externalAddress = externalAddress
        self.random = random
    }

    // MARK: - NATDevice

    public func translateOutbound(
        transport: TransportProtocol, source: Endpoint, destination: Endpoint, tcpFlags: TCPFlags?, now: UInt64
    ) -> Result<Endpoint, NATDropReason> {
        if transport == .udp && configuration.blocksUDP { return .failure(.udpBlocked) }
        sweepStep(now: now)

        let key = flowKey(transport: transport, source: source, destination: destination)
        let found: Mapping
        if let existing = byFlow[key], !removeIfExpired(existing, now: now) {
            found = existing
        } else {
            guard let port = allocatePort(transport: transport, preferred: source.port, now: now) else {
                return .failure(.portsExhausted)
            }
            found = Mapping(flow: key, externalPort: port, now: now)
            byFlow[key] = found
            byPort[PortKey(transport: transport, port: port)] = found
            sweepQueue.append(found)
        }

        let mapping = configuration.filtersInput
            ? found
            : avoidingStrayEntry(found, transport: transport, source: source, destination: destination, now: now)
        // Only what the filter will ask about is recorded, to keep the per-packet cost down.
        switch configuration.filtering {
        case .endpointIndependent: break
        case .addressDependent: mapping.contactedAddresses.insert(destination.address)
        case .addressAndPortDependent: mapping.contactedEndpoints.insert(destination)
        }
        if transport == .tcp { mapping.observeTCP(flags: tcpFlags ?? [], outbound: true) }
        // RFC 4787 REQ-6: outbound traffic always refreshes.
        mapping.lastActivity = now
        return .success(Endpoint(externalAddress, mapping.externalPort))
    }

    public func translateInbound(
        transport: TransportProtocol, source: Endpoint, destination: Endpoint, tcpFlags: TCPFlags?, now: UInt64
    ) -> Result<Endpoint, NATDropReason> {
        if transport == .udp && configuration.blocksUDP { return .failure(.udpBlocked) }
        sweepStep(now: now)

        guard destination.address == externalAddress,
            let mapping = byPort[PortKey(transport: transport, port: destination.port)],
            !removeIfExpired(mapping, now: now)
        else {
            noteStrayEntry(transport: transport, source: source, destination: destination, now: now)
            return .failure(.noMapping)
        }

        let admitted: Bool
        switch configuration.filtering {
        case .endpointIndependent: admitted = true
        case .addressDependent: admitted = mapping.contactedAddresses.contains(source.address)
        case .addressAndPortDependent: admitted = mapping.contactedEndpoints.contains(source)
        }
        // A filtered packet leaves no trace in the mapping: it neither refreshes nor advances
        // TCP state (without an input filter, the router's own stack keeps an entry of it).
        guard admitted else {
            noteStrayEntry(transport: transport, source: source, destination: destination, now: now)
            return .failure(.filtered)
        }

        if transport == .tcp { mapping.observeTCP(flags: tcpFlags ?? [], outbound: false) }
        if configuration.inboundRefresh { mapping.lastActivity = now }
        return .success(mapping.flow.internal)
    }

    // MARK: - Without an input filter

    /// An unsolicited packet taken by the router's own stack leaves an entry for its sender on
    /// that port (only without an input filter).
    private func noteStrayEntry(transport: TransportProtocol, source: Endpoint, destination: Endpoint, now: UInt64) {
        guard !configuration.filtersInput, destination.address == externalAddress else { return }
        if strayEntries.count >= Self.maximumStrayEntries {
            strayEntries = strayEntries.filter { $0.value > now }
            guard strayEntries.count < Self.maximumStrayEntries else { return }
        }
        strayEntries[StrayKey(transport: transport, port: destination.port, remote: source)] = now + Self.strayEntryLifetime(transport)
    }

    /// The mapping a flow to `destination` leaves through: `mapping`, unless a stray entry holds
    /// its port for that very sender, in which case the flow gets a port of its own (as Linux
    /// masquerade picks another source port when the tuple is taken), kept for later packets.
    private func avoidingStrayEntry(
        _ mapping: Mapping, transport: TransportProtocol, source: Endpoint, destination: Endpoint, now: UInt64
    ) -> Mapping {
        guard configuration.mapping != .addressAndPortDependent else { return mapping }
        let ownKey = FlowKey(transport: transport, internal: source, remote: destination)
        if let own = byFlow[ownKey], !removeIfExpired(own, now: now) { return own }
        let stray = StrayKey(transport: transport, port: mapping.externalPort, remote: destination)
        guard let expiry = strayEntries[stray] else { return mapping }
        guard expiry > now else {
            strayEntries.removeValue(forKey: stray)
            return mapping
        }
        guard let port = allocatePort(transport: transport, preferred: 0, now: now) else { return mapping }
        let own = Mapping(flow: ownKey, externalPort: port, now: now)
        byFlow[ownKey] = own
        byPort[PortKey(transport: transport, port: port)] = own
        sweepQueue.append(own)
        return own
    }

    public func reboot() {
        strayEntries.removeAll()
        byFlow.removeAll()
        byPort.removeAll()
        sweepQueue.removeAll()
        sweepHead = 0
        lastAllocatedPort.removeAll()
    }

    public func mappingCount(now: UInt64) -> Int {
        // A count does not depend on iteration order.
        byPort.values.reduce(0) { $0 + (isExpired($1, now: now) ? 0 : 1) }
    }

    // MARK: - Hairpinning

    /// A packet from `source` (inside) addressed to `destination` on this NAT's own external
    /// address (RFC 4787 section 6). With hairpinning, the packet leaves with the sender's external
    /// mapping as its source (created or refreshed as for an outbound packet; REQ-9: the external
    /// source, not the internal one) and is delivered to the inside endpoint that owns
    /// `destination`'s port, if that mapping's filter admits the sender's external endpoint.
    public func translateHairpin(
        transport: TransportProtocol, source: Endpoint, destination: Endpoint, tcpFlags: TCPFlags?, now: UInt64
    ) -> Result<(source: Endpoint, destination: Endpoint), NATDropReason> {
        guard configuration.hairpinning else { return .failure(.noHairpinning) }
        let externalSource: Endpoint
        switch translateOutbound(
            transport: transport, source: source, destination: destination, tcpFlags: tcpFlags, now: now)
        {
        case .success(let endpoint): externalSource = endpoint
        case .failure(let reason): return .failure(reason)
        }
        switch translateInbound(
            transport: transport, source: externalSource, destination: destination, tcpFlags: tcpFlags, now: now)
        {
        case .success(let inside): return .success((source: externalSource, destination: inside))
        case .failure(let reason): return .failure(reason)
        }
    }

    // MARK: - Mapping keys

    private func flowKey(transport: TransportProtocol, source: Endpoint, destination: Endpoint) -> FlowKey {
        // The parts of the destination the mapping behaviour ignores are zeroed. One table has one
        // behaviour, so a zeroed key never meets a key of another behaviour.
        let remote: Endpoint
        switch configuration.mapping {
        case .endpointIndependent: remote = Endpoint(.any, 0)
        case .addressDependent: remote = Endpoint(destination.address, 0)
        case .addressAndPortDependent: remote = destination
        }
        return FlowKey(transport: transport, internal: source, remote: remote)
    }

    // MARK: - Expiry

    private func timeout(of mapping: Mapping) -> UInt64 {
        switch mapping.flow.transport {
        case .udp:
            return configuration.udpMappingTimeout
        case .tcp:
            if case .established = mapping.tcpPhase { return configuration.tcpEstablishedTimeout }
            return configuration.tcpTransitoryTimeout
        }
    }

    /// Expired once idle for the whole timeout (RFC 4787 REQ-5 forbids expiring sooner).
    private func isExpired(_ mapping: Mapping, now: UInt64) -> Bool {
        let idle = now >= mapping.lastActivity ? now - mapping.lastActivity : 0
        return idle >= timeout(of: mapping)
    }

    /// Removes `mapping` if it has expired, freeing its port; true if it did.
    private func removeIfExpired(_ mapping: Mapping, now: UInt64) -> Bool {
        guard isExpired(mapping, now: now) else { return false }
        remove(mapping)
        return true
    }

    private func remove(_ mapping: Mapping) {
        mapping.isRemoved = true
        byFlow.removeValue(forKey: mapping.flow)
        byPort.removeValue(forKey: PortKey(transport: mapping.flow.transport, port: mapping.externalPort))
    }

    /// Examines a few mappings in creation order, removing expired ones and requeueing live ones.
    private func sweepStep(now: UInt64) {
        for _ in 0..<Self.sweepStepsPerTranslation {
            guard sweepHead < sweepQueue.count else { break }
            let mapping = sweepQueue[sweepHead]
            sweepHead += 1
            if mapping.isRemoved { continue }
            if !removeIfExpired(mapping, now: now) { sweepQueue.append(mapping) }
        }
        // Drop the consumed prefix once it is at least half the array: amortised O(1).
        if sweepHead >= 64 && sweepHead * 2 >= sweepQueue.count {
            sweepQueue.removeFirst(sweepHead)
            sweepHead = 0
        }
    }

    // MARK: - Port allocation

    /// A port is free when no live mapping of `transport` uses it; an expired owner is removed.
    private func isFree(transport: TransportProtocol, port: UInt16, now: UInt64) -> Bool {
        guard let owner = byPort[PortKey(transport: transport, port: port)] else { return true }
        return removeIfExpired(owner, now: now)
    }

    private func allocatePort(transport: TransportProtocol, preferred: UInt16, now: UInt64) -> UInt16? {
        let range = configuration.portRange
        let span = range.count
        let chosen: UInt16?
        if configuration.portPreservation && range.contains(preferred)
            && isFree(transport: transport, port: preferred, now: now)
        {
            chosen = preferred
        } else {
            switch configuration.portAllocation {
            case .sequential:
                // Continue after the last port handed out (preserved ones included), wrapping.
                let start = lastAllocatedPort[transport].map { Int($0 - range.lowerBound) + 1 } ?? 0
                chosen = scan(transport: transport, fromOffset: start, span: span, now: now)
            case .random:
                var offset = 0
                var drawn: UInt16?
                for _ in 0..<Self.randomAllocationAttempts {
                    offset = Int(random.nextInt(below: UInt64(span)))
                    let candidate = UInt16(Int(range.lowerBound) + offset)
                    if isFree(transport: transport, port: candidate, now: now) {
                        drawn = candidate
                        break
                    }
                }
                chosen = drawn ?? scan(transport: transport, fromOffset: offset, span: span, now: now)
            }
        }
        if let chosen { lastAllocatedPort[transport] = chosen }
        return chosen
    }

    /// The first free port at or after `offset` within the range, wrapping once round.
    private func scan(transport: TransportProtocol, fromOffset offset: Int, span: Int, now: UInt64) -> UInt16? {
        let lower = Int(configuration.portRange.lowerBound)
        for step in 0..<span {
            let candidate = UInt16(lower + (offset + step) % span)
            if isFree(transport: transport, port: candidate, now: now) { return candidate }
        }
        return nil
    }

    // MARK: - Nested types

    /// Which outbound flows share a mapping: the internal endpoint plus as much of the remote
    /// endpoint as the mapping behaviour distinguishes.
    private struct FlowKey: Hashable {
        var transport: TransportProtocol
        var `internal`: Endpoint
        var remote: Endpoint
    }

    private struct PortKey: Hashable {
        var transport: TransportProtocol
        var port: UInt16
    }

    /// A connection-tracking entry of the router's own: `remote` sent to `port` unasked.
    private struct StrayKey: Hashable {
        var transport: TransportProtocol
        var port: UInt16
        var remote: Endpoint
    }

    /// Where a TCP mapping is in its life (RFC 5382 section 5): transitory while opening or
    /// closing, established once traffic has passed both ways.
    private enum TCPPhase {
        case opening(outboundSeen: Bool, inboundSeen: Bool)
        case established
        case closing
    }

    /// One mapping; a class so the flow and port indexes share it and updates are in place.
    private final class Mapping {
        let flow: FlowKey
        let externalPort: UInt16
        var lastActivity: UInt64
        /// Remote addresses sent to, for address-dependent filtering.
        var contactedAddresses: Set<IPv4Address> = []
        /// Remote endpoints sent to, for address-and-port-dependent filtering.
        var contactedEndpoints: Set<Endpoint> = []
        var tcpPhase: TCPPhase = .opening(outboundSeen: false, inboundSeen: false)
        /// Set once the indexes have dropped it, so the sweep queue skips it.
        var isRemoved = false

        init(flow: FlowKey, externalPort: UInt16, now: UInt64) {
            self.flow = flow
            self.externalPort = externalPort
            self.lastActivity = now
        }

        func observeTCP(flags: TCPFlags, outbound: Bool) {
            // FIN or RST: the connection is closing, so the mapping goes back to the short timeout.
            if flags.contains(.fin) || flags.contains(.rst) {
                tcpPhase = .closing
                return
            }
            switch tcpPhase {
            case .established:
                break
            case .closing:
                // A new connection on the same mapping (endpoint-independent mapping) opens afresh.
                if flags.contains(.syn) { tcpPhase = .opening(outboundSeen: outbound, inboundSeen: !outbound) }
            case .opening(let outboundSeen, let inboundSeen):
                let sawOut = outboundSeen || outbound
                let sawIn = inboundSeen || !outbound
                tcpPhase = sawOut && sawIn ? .established : .opening(outboundSeen: sawOut, inboundSeen: sawIn)
            }
        }
    }
}
