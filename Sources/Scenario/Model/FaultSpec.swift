import Mesh
import NetworkTopology

/// Something that goes wrong at a point of the timeline, for a while or for good.
public struct FaultSpec: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        /// Packets from group `a` to group `b` (and back, unless `oneWay`) are dropped. Groups name
        /// nodes, routers or networks (a network stands for every node under it).
        case partition(a: [String], b: [String], oneWay: Bool)
        /// The node's link to its network goes down; its processes keep running.
        case isolate(node: String)
        /// One node's or router's (WAN) link goes down in `direction`.
        case linkDown(node: String, direction: LinkDirection)
        /// The link goes down for `down`, up for `up`, over and over while the fault lasts.
        case flap(node: String, down: UInt64, up: UInt64)
        /// The node loses power: volatile state and connections are gone; the durable store stays.
        /// With a `duration`, it boots again after it.
        case crash(node: String)
        /// The node's link (a router's WAN link) loses `loss` more of its packets and delays each
        /// by `latency` more nanoseconds, both ways: a loss burst, a latency spike.
        case degrade(node: String, loss: Double, latency: UInt64)
        /// The node's wall clock runs `offset` nanoseconds ahead of the others' (behind when
        /// negative), as a node whose NTP failed.
        case clockSkew(node: String, offset: Int64)
        /// The NAT router forgets every mapping.
        case natReboot(router: String)
        /// Everything on networks marked `cloud` is cut off from everything else.
        case cloudUnreachable
        /// One of the node's secondary addresses is taken off its interface (`ip addr del`, a
        /// DHCP lease lost), and put back when the fault ends.
        case addressDown(node: String, address: IPv4Address)
    }

    /// When the fault starts, nanoseconds of virtual time.
    public var at: UInt64
    /// How long it lasts; `nil` is for the rest of the run.
    public var duration: UInt64?
    public var kind: Kind

    public init(at: UInt64, duration: UInt64? = nil, kind: Kind) {
        self.at = at
        self.duration = duration
        self.kind = kind
    }
}
