import Mesh
import NIOCore

/// The packet interface on Linux: a TUN device whose routes are the prefixes the mesh asks
/// for. Its channel is a NIO pipe channel reading the device, a `TUNOffloadDecoder` cutting what
/// it reads into packets and a `TUNPacketWriter` writing them (a TUN device takes one packet
/// per `write(2)`, never a gathered batch).
///
/// Closing the channel closes the device's last descriptor, and the kernel removes the device
/// and its routes.
final class LinuxPacketInterface: PacketInterface, @unchecked Sendable {
    let channel: Channel
    let options: PacketInterfaceOptions
    private let device: TUNDevice
    private unowned let host: LinuxHost
    private let decoder: TUNOffloadDecoder
    private let writer: TUNPacketWriter
    /// Touched only on the channel's loop.
    private(set) var routes: [IPv4Prefix] = []

    init(channel: Channel, options: PacketInterfaceOptions, device: TUNDevice, host: LinuxHost, decoder: TUNOffloadDecoder,
         writer: TUNPacketWriter) {
        self.channel = channel
        self.options = options
        self.device = device
        self.host = host
        self.decoder = decoder
        self.writer = writer
    }

    var statistics: PacketInterfaceStatistics {
        PacketInterfaceStatistics(
            segmentationOffload: device.segmentationOffload, segmentedReads: decoder.segmentedReads, joinedWrites: writer.joinedWrites,
            droppedReads: decoder.droppedReads, droppedWrites: writer.droppedPackets)
    }

    func route(_ prefixes: [IPv4Prefix]) -> EventLoopFuture<Void> {
        channel.eventLoop.submit { () throws -> Void in
            let own = self.host.interfaces.filter { !$0.isLoopback && $0.name != self.device.name }.flatMap { interface in
                interface.ipv4Addresses.map { IPv4Prefix(network: $0, length: interface.prefixLength) }
            }
            for prefix in prefixes {
                if let clash = own.first(where: { $0.overlaps(prefix) }) {
                    throw HostError.routeRejected("\(prefix) overlaps the node's own network \(clash)")
                }
            }
            let wanted = Set(prefixes)
            // `routes` follows each change as it is made, so after a failure it says what is routed.
            for stale in self.routes where !wanted.contains(stale) {
                try self.device.removeRoute(stale)
                self.routes.removeAll { $0 == stale }
            }
            for prefix in prefixes where !self.routes.contains(prefix) {
                try self.device.addRoute(prefix)
                self.routes.append(prefix)
            }
        }
    }
}
