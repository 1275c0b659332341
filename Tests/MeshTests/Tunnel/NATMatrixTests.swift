@testable import Mesh
import NIOCore
import NetworkTopology
import Testing

@testable import NetSim

/// Every pair of NAT types: relayed streams connect every pair; hole punching succeeds exactly
/// for the pairs where theory says a SYN can reach the other side.
@Suite struct NATMatrixTests {
    static let s = RelayTestBed.s
    static let ms = RelayTestBed.ms

    enum NATKind: String, CaseIterable {
        case publicAddress = "public"
        case fullCone = "EIM/EIF"
        case restrictedCone = "EIM/ADF"
        case portRestrictedCone = "EIM/APDF"
        case addressDependent = "ADM"
        case symmetric = "APDM"
        case doubleNAT = "double"
        case udpBlocked = "no-UDP"

        /// The home NAT, and the carrier NAT in front of it for double NAT.
        var configuration: (nat: NATConfiguration?, outer: NATConfiguration?) {
            switch self {
            case .publicAddress: (nil, nil)
            case .fullCone: (NATConfiguration(mapping: .endpointIndependent, filtering: .endpointIndependent), nil)
            case .restrictedCone: (NATConfiguration(mapping: .endpointIndependent, filtering: .addressDependent), nil)
            case .portRestrictedCone: (NATConfiguration(mapping: .endpointIndependent, filtering: .addressAndPortDependent), nil)
            case .addressDependent: (NATConfiguration(mapping: .addressDependent, filtering: .addressAndPortDependent), nil)
            case .symmetric: (NATConfiguration(mapping: .addressAndPortDependent, filtering: .addressAndPortDependent), nil)
            case .doubleNAT:
                (NATConfiguration(mapping: .endpointIndependent, filtering: .addressAndPortDependent),
                 NATConfiguration(mapping: .addressAndPortDependent, filtering: .addressAndPortDependent))
            case .udpBlocked: (NATConfiguration(mapping: .endpointIndependent, filtering: .addressAndPortDependent, blocksUDP: true), nil)
            }
        }

        /// Whether the public endpoint toward a peer is the one the relays saw.
        var mappingIsPredictable: Bool {
            switch self {
            case .publicAddress, .fullCone, .restrictedCone, .portRestrictedCone, .udpBlocked: true
            case .addressDependent, .symmetric, .doubleNAT: false
            }
        }

        /// Whether a SYN from an unknown port of an address we sent to gets in.
        var admitsUnknownPorts: Bool { self == .publicAddress || self == .fullCone || self == .restrictedCone }
    }

    /// Theory: `x` is reachable by `y` when `y`'s SYN, aimed at what the relays saw of `x`, hits
    /// `x`'s mapping and passes `x`'s filter: `x` is public, or `x` maps independently of the
    /// destination and either `y`'s SYN comes from the endpoint `x` aimed at (`y` maps
    /// independently too: the SYNs cross) or `x` admits unknown ports of `y`'s address.
    static func theoryAllowsPunching(_ a: NATKind, _ b: NATKind) -> Bool {
        func reachable(_ x: NATKind, by y: NATKind) -> Bool {
            x == .publicAddress || (x.mappingIsPredictable && (y.mappingIsPredictable || x.admitsUnknownPorts))
        }
        return reachable(a, by: b) || reachable(b, by: a)
    }

    struct Cell {
        var relayed: Bool
        var relayedDial: UInt64
        var punched: Bool
        var punchDial: UInt64
        var failure: String?
    }

    @Test func everyPairConnectsRelayedAndPunchesExactlyWhereTheoryAllows() throws {
        let kinds = NATKind.allCases
        // Two agents per kind, each behind a NAT of its own: "x" initiates, "y" answers.
        let agents = kinds.flatMap { kind in
            ["x", "y"].map { side in (name: "\(kind.rawValue)-\(side)", nat: kind.configuration.nat, outer: kind.configuration.outer) }
        }
        let bed = try RelayTestBed(topology: RelayTestBed.topology(agents: agents, wanLatency: 20 * Self.ms))
        try bed.startRelay("relay-1")
        try bed.startRelay("relay-2")
        for agent in agents { try bed.startAgent(agent.name) }
        bed.sim.run(until: 3 * Self.s)

        var cells: [String: Cell] = [:]
        let payload = ByteBuffer(bytes: (0..<4096).map { UInt8(truncatingIfNeeded: $0) })
        for (i, a) in kinds.enumerated() {
            for b in kinds[i...] {
                let initiator = "\(a.rawValue)-x", responder = "\(b.rawValue)-y"
                let (relayed, relayedDial) = bed.roundTrip({ bed.client(initiator).relayedDialer.dial(node: responder) }, payload: payload)
                let (punched, punchDial) = bed.roundTrip({ bed.punchers[initiator]!.dialer.dial(node: responder) }, payload: payload)
                var failure: String?
                if case .failure(let error) = punched { failure = "\(error)" }
                cells["\(a.rawValue)|\(b.rawValue)"] = Cell(
                    relayed: (try? relayed.get()) == payload, relayedDial: relayedDial, punched: (try? punched.get()) == payload,
                    punchDial: punchDial, failure: failure)
                // Let the closed connections and the punch's leftovers settle before the next pair.
                bed.sim.run(for: 5 * Self.s)
            }
        }

        // The table: rows initiate, columns answer; R = relayed only, P = punched too,
        // with the virtual milliseconds each dial took to its first usable byte.
        var lines = ["NAT matrix (seed \(bed.sim.seed)): relayed dial ms / punched dial ms, '-' = punching failed or skipped"]
        lines.append("".padding(toLength: 10, withPad: " ", startingAt: 0) + kinds.map { $0.rawValue.padding(toLength: 12, withPad: " ", startingAt: 0) }.joined())
        for (i, a) in kinds.enumerated() {
            var line = a.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
            for (j, b) in kinds.enumerated() {
                guard j >= i, let cell = cells["\(a.rawValue)|\(b.rawValue)"] else {
                    line += "".padding(toLength: 12, withPad: " ", startingAt: 0)
                    continue
                }
                let relayed = cell.relayed ? "\(cell.relayedDial / Self.ms)" : "FAIL"
                let punched = cell.punched ? "\(cell.punchDial / Self.ms)" : "-"
                line += "\(relayed)/\(punched)".padding(toLength: 12, withPad: " ", startingAt: 0)
            }
            lines.append(line)
        }
        print(lines.joined(separator: "\n"))

        var punchedPairs = 0
        for (i, a) in kinds.enumerated() {
            for b in kinds[i...] {
                let cell = try #require(cells["\(a.rawValue)|\(b.rawValue)"])
                #expect(cell.relayed, "relayed \(a.rawValue) → \(b.rawValue)")
                let allowed = Self.theoryAllowsPunching(a, b)
                #expect(cell.punched == allowed, "punch \(a.rawValue) → \(b.rawValue): \(cell.failure ?? "succeeded")")
                if !allowed && !a.mappingIsPredictable && !b.mappingIsPredictable {
                    #expect(cell.failure?.contains("punching cannot work") == true, "skipped by theory, and says so")
                }
                if cell.punched { punchedPairs += 1 }
            }
        }
        #expect(punchedPairs == 24, "15 pairs of predictable mappings + 9 where a cone that admits unknown ports meets a per-destination mapping")
    }
}
