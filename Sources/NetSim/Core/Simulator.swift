import Foundation
import Logging
import Mesh
import NIOCore
import NetworkTopology

#if canImport(Glibc)
import Glibc
#endif

/// A deterministic simulated network: nodes on LANs joined by routers (which may NAT), links
/// with delay and loss, faults, and one ordered event queue on virtual time.
///
/// A run is a pure function of (topology and workloads, seed, build): time only advances by
/// taking the next event off the queue, and every random choice comes from generators
/// derived from `seed`. Not thread-safe: create and run a simulator on one thread.
public final class Simulator: @unchecked Sendable {
    public let seed: UInt64
    /// What the network was built from.
    public let topology: TopologySpec
    /// Virtual nanoseconds since the start of the run.
    public private(set) var now: UInt64 = 0
    public let trace = Trace()
    /// Packets delivered to hosts so far (the benchmark's figure).
    public private(set) var deliveredPackets: UInt64 = 0
    public private(set) var droppedPackets: UInt64 = 0
    /// Events taken off the queue so far.
    public private(set) var processedEvents: UInt64 = 0

    /// The queue orders small plain references; what they refer to waits in `pending`. Sifting
    /// the heap then moves no reference-counted values, which is most of the cost per packet.
    var queue = EventQueue<EventSlot>()
    var pending = PendingEvents()
    var nodes: [SimNode] = []
    var networks: [SimNetwork] = []
    /// Whether some network is part of the cloud (what a cloud-unreachable fault cuts off).
    public var hasCloudNetwork: Bool { networks.contains(where: \.isCloud) }
    var nodesByName: [String: NodeID] = [:]
    var networksByName: [String: Int] = [:]
    var partitions: [Partition] = []
    var bootHandlers: [NodeID: [(SimHost) -> Void]] = [:]
    /// Work of crashed nodes that will never run (see `step`).
    private var abandonedTasks: [SimTask] = []
    var tcpOptions = TCPOptions()
    /// The level below which hosts' log records are dropped; set it before hosts log.
    public var logLevel: Logger.Level = .notice
    /// Where hosts' log lines go (standard error unless set).
    public var logSink: (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
    private var nextPacketID: UInt64 = 0
    private let thread = pthread_self()

    /// Builds the network described by `topology`. Throws `TopologyError` for a shape that
    /// cannot be simulated (unknown names, addresses outside their subnet, loops).
    public init(seed: UInt64, topology: TopologySpec) throws {
        self.seed = seed
        self.topology = topology
        try TopologyBuilder(simulator: self).build(topology)
    }

    var isOnSimulationThread: Bool { pthread_equal(thread, pthread_self()) != 0 }

    // MARK: Running

    /// Runs events until the queue is empty or the next event is later than `deadline`, then
    /// sets the clock to `deadline`.
    public func run(until deadline: UInt64) {
        while let next = queue.nextDeadline, next <= deadline {
            step()
        }
        now = max(now, deadline)
    }

    /// Runs for `duration` more nanoseconds of virtual time.
    public func run(for duration: UInt64) {
        run(until: now + duration)
    }

    /// Runs until `condition` holds (checked after every event), the queue empties, or `limit`
    /// is reached. Returns whether the condition held.
    @discardableResult
    public func run(until limit: UInt64, while condition: () -> Bool) -> Bool {
        while condition() {
            guard let next = queue.nextDeadline, next <= limit else {
                now = max(now, limit)
                return !condition()
            }
            step()
        }
        return true
    }

    /// Takes the next event off the queue and handles it.
    func step() {
        guard let entry = queue.pop() else { return }
        now = entry.deadline
        processedEvents &+= 1
        switch pending.take(entry.payload) {
        case .task(let task):
            guard !task.isCancelled else { return }
            if let nodeID = task.node {
                let node = nodes[Int(nodeID.index)]
                guard node.isPoweredOn, node.loop.generation == task.generation else {
                    // A crashed node's pending work never runs. Its promises are kept, not freed:
                    // NIO's debug builds trap when an unfulfilled promise is deallocated, and
                    // failing them would run the dead node's callbacks.
                    abandonedTasks.append(task)
                    return
                }
            }
            task.body()
        case .arrival(let packet, let nodeID, let interface):
            handleArrival(packet, at: nodes[Int(nodeID.index)], interface: Int(interface))
        case .downlinkEntry(let packet, let nodeID, let interface):
            let node = nodes[Int(nodeID.index)]
            cross(node.interfaces[Int(interface)].down, packet, departure: now, to: node, interface: Int(interface))
        }
    }

    // MARK: Scheduling

    func schedule(at deadline: UInt64, _ task: SimTask) {
        queue.push(deadline: max(deadline, now), pending.store(.task(task)))
    }

    /// Runs `body` at `deadline` outside any node (faults, the scenario's own clock).
    public func schedule(at deadline: UInt64, _ body: @escaping () -> Void) {
        schedule(at: deadline, SimTask(node: nil, generation: 0, body: body))
    }

    /// Schedules `packet` to reach `node` through `interface` (-1: from itself) at `deadline`.
    @inline(__always)
    func scheduleArrival(at deadline: UInt64, _ packet: Packet, node: NodeID, interface: Int32) {
        queue.push(deadline: deadline, pending.store(.arrival(packet, node, interface)))
    }

    /// Schedules `packet` to enter the bandwidth-limited link of `node`'s `interface` at `deadline`.
    func scheduleDownlinkEntry(at deadline: UInt64, _ packet: Packet, node: NodeID, interface: Int32) {
        queue.push(deadline: deadline, pending.store(.downlinkEntry(packet, node, interface)))
    }

    func makePacketID() -> UInt64 {
        nextPacketID &+= 1
        return nextPacketID
    }

    func countDelivered() { deliveredPackets &+= 1 }
    func countDropped() { droppedPackets &+= 1 }

    // MARK: Looking things up

    public func node(named name: String) -> SimNode? {
        nodesByName[name].map { nodes[Int($0.index)] }
    }

    /// The host (not router) named `name`, as the mesh sees it.
    public func host(named name: String) -> SimHost? {
        node(named: name)?.host
    }

    /// Every host, in the order the topology listed them.
    public var hosts: [SimHost] { nodes.compactMap(\.host) }

    /// The address a name stands for: a node's (first) address, or a literal IPv4 address.
    public func resolve(_ name: String) -> IPv4Address? {
        if let address = IPv4Address(name) { return address }
        return node(named: name)?.interfaces.first?.address
    }

    public var allNodes: [SimNode] { nodes }
}

/// What waits for its turn: work on a node's loop, a packet reaching a node's interface, or a
/// packet reaching the far end of a sender's link and entering the receiver's queue.
enum SimEvent {
    case task(SimTask)
    case arrival(Packet, NodeID, Int32)
    case downlinkEntry(Packet, NodeID, Int32)
}

/// A plain index into `PendingEvents`.
struct EventSlot {
    var index: UInt32
}

/// Events waiting in the queue, in reusable slots.
struct PendingEvents {
    private var slots: [SimEvent?] = []
    private var free: [UInt32] = []

    @inline(__always)
    mutating func store(_ event: SimEvent) -> EventSlot {
        if let index = free.popLast() {
            slots[Int(index)] = event
            return EventSlot(index: index)
        }
        slots.append(event)
        return EventSlot(index: UInt32(slots.count - 1))
    }

    @inline(__always)
    mutating func take(_ slot: EventSlot) -> SimEvent {
        let event = slots[Int(slot.index)].take()!
        free.append(slot.index)
        return event
    }
}

/// An active partition: packets from a node in `a` to a node in `b` are dropped (and from `b`
/// to `a` unless `oneWay`).
struct Partition {
    var id: Int
    var a: Set<NodeID>
    var b: Set<NodeID>
    var oneWay: Bool

    func blocks(from origin: NodeID, to node: NodeID) -> Bool {
        (a.contains(origin) && b.contains(node)) || (!oneWay && b.contains(origin) && a.contains(node))
    }
}
