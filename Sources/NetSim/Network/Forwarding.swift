import Mesh
import NIOCore

/// How packets move: out of a host, across a network and its links, through routers and
/// their NATs, into a host.
extension Simulator {
    /// A host's kernel hands `packet` to the network.
    func send(_ packet: Packet, from node: SimNode) {
        guard node.isPoweredOn else { return }
        node.capture?(packet, now)
        if node.owns(packet.destination.address) {
            // Loopback and packets to oneself skip the wire but still take their turn in the queue.
            scheduleArrival(at: now, packet, node: node.id, interface: -1)
            return
        }
        if node.forwardsPackets, routeTowardPods(packet, from: node) { return }
        let interface = node.interfaces[0]
        route(packet, on: interface.network, from: node, interface: 0)
    }

    /// A node with a pod network or a packet interface routes packets for its pods onto the
    /// pod network and packets for the interface's prefixes into it, before its default route.
    /// Returns whether the packet went one of those ways.
    private func routeTowardPods(_ packet: Packet, from node: SimNode, arrivedOn interface: Int = -1) -> Bool {
        if let pods = node.podInterface, interface != pods,
            networks[node.interfaces[pods].network].subnet.contains(packet.destination.address)
        {
            route(packet, on: node.interfaces[pods].network, from: node, interface: pods)
            return true
        }
        if let device = node.packetDevice, device.claims(packet.destination.address) {
            device.deliver(packet)
            return true
        }
        return false
    }

    /// `packet` one hop further (its TTL spent by one), or nil (dropped) when it had none left.
    private func hop(_ packet: Packet, at node: SimNode) -> Packet? {
        guard packet.ttl > 1 else {
            drop(packet, at: node, reason: "ttl-exceeded")
            return nil
        }
        var forwarded = packet
        forwarded.ttl -= 1
        return forwarded
    }

    /// A packet passing through a node that is not for one of its addresses (a pod's packet
    /// to another node's pod): routed as the node's kernel forwards it, or dropped.
    private func forwardThroughNode(_ arriving: Packet, at node: SimNode, arrivedOn interface: Int) {
        guard let packet = hop(arriving, at: node) else { return }
        trace.recordPacket(.forwarded, at: now, node: node.id, packet: arriving)
        node.capture?(arriving, now)
        if !routeTowardPods(packet, from: node, arrivedOn: interface) {
            drop(packet, at: node, reason: "no-route")
        }
    }

    /// The agent wrote `bytes` to the node's packet interface: they leave it as a packet
    /// arriving from a device does, to a pod of the node or to the node itself.
    func routeFromDevice(_ bytes: ByteBuffer, at node: SimNode) {
        guard node.isPoweredOn else { return }
        let packet: Packet
        do {
            packet = try IPPacketCodec.decode(bytes, id: makePacketID(), origin: node.id)
        } catch {
            trace.recordFault(at: now, "\(node.name): packet interface dropped a written packet (\(error.rawValue))")
            countDropped()
            return
        }
        if node.owns(packet.destination.address) {
            scheduleArrival(at: now, packet, node: node.id, interface: -1)
        } else if let pods = node.podInterface, networks[node.interfaces[pods].network].subnet.contains(packet.destination.address) {
            node.capture?(packet, now)
            route(packet, on: node.interfaces[pods].network, from: node, interface: pods)
        } else {
            // Never back out: a peer's packet leaves a device only for the node and its pods.
            drop(packet, at: node, reason: "no-route")
        }
    }

    /// Puts `packet` on network `networkIndex` from `node`'s interface towards its next hop.
    private func route(_ packet: Packet, on networkIndex: Int, from node: SimNode, interface: Int) {
        let network = networks[networkIndex]
        if packet.transport == .udp, packet.destination.address == network.broadcastAddress {
            broadcast(packet, on: network, from: node, interface: interface)
            return
        }
        guard let hop = network.nextHop(for: packet.destination.address, excluding: node.id) else {
            drop(packet, at: node, reason: "no-route")
            return
        }
        transmit(packet, from: node, interface: interface, to: hop)
    }

    /// A UDP datagram to the subnet's broadcast address reaches every other host on the network
    /// (in address order); routers do not forward it, as real ones do not.
    private func broadcast(_ packet: Packet, on network: SimNetwork, from node: SimNode, interface: Int) {
        for address in network.attachments.keys.sorted() {
            let hop = network.attachments[address]!
            guard hop.node != node.id, nodes[Int(hop.node.index)].role == .host else { continue }
            transmit(packet, from: node, interface: interface, to: hop)
        }
    }

    private func transmit(_ packet: Packet, from node: SimNode, interface: Int, to hop: SimNetwork.Attachment) {
        let receiver = nodes[Int(hop.node.index)]
        let bytes = packet.wireLength
        switch node.interfaces[interface].up.transmit(bytes: bytes, now: now) {
        case .lost(let reason):
            drop(packet, at: node, reason: reason.description)
        case .arrives(let first, let duplicate):
            cross(receiver.interfaces[hop.interface].down, packet, departure: first, to: receiver, interface: hop.interface)
            if let duplicate {
                cross(receiver.interfaces[hop.interface].down, packet, departure: duplicate, to: receiver, interface: hop.interface)
            }
        }
    }

    /// The receiving side's link: schedules the arrival (twice if the link duplicates). A
    /// link with a bandwidth queues packets in the order they reach it, so a packet still on
    /// its way enters that queue when it gets there, not when it was sent.
    @inline(__always)
    func cross(_ downlink: OneWayLink, _ packet: Packet, departure: UInt64, to receiver: SimNode, interface: Int) {
        if departure > now && downlink.profile.bandwidth != nil {
            scheduleDownlinkEntry(at: departure, packet, node: receiver.id, interface: Int32(interface))
            return
        }
        switch downlink.transmit(bytes: packet.wireLength, now: departure) {
        case .lost(let reason):
            drop(packet, at: receiver, reason: reason.description)
        case .arrives(let arrival, let again):
            scheduleArrival(at: arrival, packet, node: receiver.id, interface: Int32(interface))
            if let again { scheduleArrival(at: again, packet, node: receiver.id, interface: Int32(interface)) }
        }
    }

    func handleArrival(_ arriving: Packet, at node: SimNode, interface: Int) {
        var packet = arriving
        guard node.isPoweredOn else {
            drop(packet, at: node, reason: "node-down")
            return
        }
        if !partitions.isEmpty, partitions.contains(where: { $0.blocks(from: packet.origin, to: node.id) }) {
            drop(packet, at: node, reason: "partition")
            return
        }
        switch node.role {
        case .host:
            if interface >= 0, !node.owns(packet.destination.address),
                node.kernel?.redirectArriving(&packet, interfaceAddress: node.interfaces[interface].address) != true,
                node.forwardsPackets, packet.destination.address != networks[node.interfaces[interface].network].broadcastAddress
            {
                forwardThroughNode(packet, at: node, arrivedOn: interface)
                return
            }
            trace.recordPacket(.delivered, at: now, node: node.id, packet: packet)
            countDelivered()
            // The wire carried it as it arrived, before any redirect.
            if interface >= 0 { node.capture?(arriving, now) }
            if interface >= 0, let delay = node.stackDelay {
                // The wire saw it now; the host's processes see it when its stack gets to it.
                let handover = SimTask(node: node.id, generation: node.loop.generation) { node.kernel?.receive(packet) }
                schedule(at: delay.handover(arrivingAt: now), handover)
            } else {
                node.kernel?.receive(packet)
            }
        case .router:
            trace.recordPacket(.forwarded, at: now, node: node.id, packet: packet)
            forward(packet, at: node, arrivedOn: interface)
        }
    }

    func drop(_ packet: Packet, at node: SimNode, reason: String) {
        trace.recordPacket(.dropped, at: now, node: node.id, packet: packet, reason: reason)
        countDropped()
    }

    /// A router moves a packet between its inside and upstream networks, translating it when
    /// it is a NAT: outbound packets get an external source, inbound ones an inside destination,
    /// and inside packets addressed to the NAT's own external address are hairpinned back in.
    private func forward(_ arriving: Packet, at router: SimNode, arrivedOn interface: Int) {
        guard var packet = hop(arriving, at: router) else { return }
        router.capture?(arriving, now)
        router.forwardWatch?(router.name, arriving.payload)
        let outbound = interface == router.insideInterface
        guard let nat = router.nat else {
            leave(packet, router, through: outbound ? router.upstreamInterface : router.insideInterface)
            return
        }
        let flags = packet.tcp?.flags
        let translated: Result<(source: Endpoint, destination: Endpoint), NATDropReason>
        let exit: Int
        if outbound && packet.destination.address == nat.externalAddress {
            translated = nat.translateHairpin(
                transport: packet.transport, source: packet.source, destination: packet.destination, tcpFlags: flags, now: now)
            exit = router.insideInterface
        } else if outbound {
            translated = nat.translateOutbound(
                transport: packet.transport, source: packet.source, destination: packet.destination, tcpFlags: flags, now: now
            ).map { ($0, packet.destination) }
            exit = router.upstreamInterface
        } else if packet.destination.address == nat.externalAddress {
            translated = nat.translateInbound(
                transport: packet.transport, source: packet.source, destination: packet.destination, tcpFlags: flags, now: now
            ).map { (packet.source, $0) }
            exit = router.insideInterface
        } else {
            drop(packet, at: router, reason: "not-for-nat")
            return
        }
        switch translated {
        case .success(let rewritten):
            packet.source = rewritten.source
            packet.destination = rewritten.destination
            router.capture?(packet, now)
            leave(packet, router, through: exit)
        case .failure(let reason):
            drop(packet, at: router, reason: reason.rawValue)
            if exit == router.insideInterface && !outbound { answerAsTheRouterItself(arriving, router, nat: nat, reason: reason) }
        }
    }

    /// Without a WAN input filter, an inbound packet no mapping takes is the router's own: its
    /// stack, with nothing listening, resets a TCP segment (and keeps an entry for it, which
    /// the NAT table records). With the filter, it is dropped silently.
    private func answerAsTheRouterItself(_ packet: Packet, _ router: SimNode, nat: NATDevice, reason: NATDropReason) {
        guard !nat.configuration.filtersInput, reason == .noMapping || reason == .filtered,
            let header = packet.tcp, !header.flags.contains(.rst)
        else { return }
        let reset = Packet(
            id: makePacketID(), transport: .tcp, source: packet.destination, destination: packet.source,
            tcp: .reset(answering: header, payloadLength: packet.payload.readableBytes), payload: ByteBuffer(),
            origin: router.id)
        router.capture?(reset, now)
        leave(reset, router, through: router.upstreamInterface)
    }

    private func leave(_ packet: Packet, _ router: SimNode, through interface: Int) {
        route(packet, on: router.interfaces[interface].network, from: router, interface: interface)
    }
}
