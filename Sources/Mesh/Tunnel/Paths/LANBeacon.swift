import Crypto
import NIOCore

/// Finds peer agents on this node's LANs without the cloud: every `interval` it broadcasts a
/// small announcement (node name, tunnel key, wall-clock time, a MAC keyed from the cluster PSK)
/// on each non-loopback interface, and remembers who it heard from which address. The direct
/// dialer tries those addresses first, so two nodes on one LAN connect even when the API server
/// is unreachable and their Node objects are stale.
///
/// An announcement only suggests an address: the handshake still proves the key, so a forged or
/// replayed beacon can at worst make a dial fail over to the next address.
/// Confined to the host's event loop.
public final class LANBeacon: @unchecked Sendable {
    public static let magic: [UInt8] = Array("EMB1".utf8)
    /// The longest datagram read as an announcement (a node name is at most 255 bytes).
    static let maximumLength = 512

    private let host: any Host
    private let port: UInt16
    private let interval: TimeAmount
    private let clockWindow: Int64
    private let macKey: SymmetricKey
    /// The interfaces announced on.
    private let interfaces: InterfaceAddressFilter
    private var socket: Channel?
    /// Whether `socket` is the beacon's own (it closes it when it stops).
    private var ownsSocket = false
    private var timer: RepeatedTask?
    private var announcement: [UInt8] = []
    /// Node name → where and when it was last heard.
    private var heard: [String: (address: IPv4Address, at: NIODeadline)] = [:]

    /// Announces and listens on UDP `port` (the tunnel's port number).
    public init(host: any Host, port: UInt16, presharedKey: TunnelPresharedKey, interfaces: InterfaceAddressFilter = .everything,
                interval: TimeAmount = .seconds(10),
                clockWindow: TimeAmount = .seconds(120)) {
        self.host = host
        self.port = port
        self.interval = interval
        self.clockWindow = clockWindow.nanoseconds
        self.macKey = Self.macKey(presharedKey: presharedKey)
        self.interfaces = interfaces
    }

    /// The key announcements are authenticated with, derived from the cluster PSK.
    static func macKey(presharedKey: TunnelPresharedKey) -> SymmetricKey {
        SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(
            for: Array("edgemesh lan beacon".utf8), using: SymmetricKey(data: presharedKey.bytes))))
    }

    /// One announcement: magic, name length and name, tunnel key, wall-clock time (big-endian
    /// nanoseconds since the epoch), then a 16-byte MAC over all of that.
    static func announcement(name: [UInt8], key: [UInt8], time: Int64, macKey: SymmetricKey) -> [UInt8] {
        var message = magic
        message.append(UInt8(name.count))
        message += name
        message += key
        message += (0..<8).map { UInt8(truncatingIfNeeded: time >> Int64(56 - 8 * $0)) }
        return message + mac(message, key: macKey)
    }

    /// Addresses `node` announced recently (within three intervals), for the direct dialer.
    public func addresses(ofNode node: String) -> [IPv4Address] {
        guard let entry = heard[node], host.now - entry.at <= interval * 3 else { return [] }
        return [entry.address]
    }

    public func start(identity: TunnelIdentity) -> EventLoopFuture<Void> {
        let options = DatagramBindOptions(address: IPv4Address.any.socketAddress(port: port), reuseAddress: true)
        return host.bindDatagram(options) { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Receiver(beacon: self)) }
        }.flatMap { socket in
            self.ownsSocket = true
            return self.start(identity: identity, on: socket)
        }
    }

    /// Announces on a socket another part of the tunnel bound (the datagram path's, which hands
    /// announcements to `receive`); the socket stays open when the beacon stops.
    func start(identity: TunnelIdentity, on socket: Channel) -> EventLoopFuture<Void> {
        announcement = Array(host.name.utf8.prefix(255))
        self.socket = socket
        // Sending to a broadcast address needs SO_BROADCAST on Linux; the simulator ignores it.
        return socket.setOption(ChannelOptions.socketOption(.so_broadcast), value: 1).map {
            self.timer = self.host.eventLoop.scheduleRepeatedTask(initialDelay: .zero, delay: self.interval) { _ in
                self.announce(key: identity.keyPair.publicKey)
            }
        }
    }

    public func stop() {
        timer?.cancel()
        timer = nil
        if ownsSocket { socket?.close(promise: nil) }
        socket = nil
    }

    private func announce(key: [UInt8]) {
        guard let socket else { return }
        let message = Self.announcement(name: announcement, key: key, time: host.wallClock.nanosecondsSinceEpoch, macKey: macKey)
        let current = host.interfaces
        let chosen = Set(interfaces.addresses(from: current))
        for interface in current where !interface.isLoopback {
            for address in interface.ipv4Addresses where chosen.contains(address) {
                let prefix = IPv4Prefix(network: address, length: interface.prefixLength)
                let broadcast = prefix.address(at: UInt32(truncatingIfNeeded: prefix.size - 1))
                socket.writeAndFlush(AddressedEnvelope(remoteAddress: broadcast.socketAddress(port: port),
                                                       data: ByteBuffer(bytes: message)), promise: nil)
            }
        }
    }

    private static func mac(_ data: [UInt8], key: SymmetricKey) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: data, using: key).prefix(16))
    }

    /// The name and time of a genuine announcement (its MAC verifies under `macKey`); nil for
    /// anything else. Any bytes may arrive on the beacon port.
    static func verify(_ bytes: [UInt8], macKey: SymmetricKey) -> (name: String, time: Int64)? {
        let fixed = magic.count + 1 + 32 + 8 + 16
        guard bytes.count >= fixed, Array(bytes.prefix(4)) == magic else { return nil }
        let nameLength = Int(bytes[4])
        guard bytes.count == fixed + nameLength else { return nil }
        let signed = Array(bytes[..<(bytes.count - 16)])
        let expected = mac(signed, key: macKey)
        var difference: UInt8 = 0
        for (index, byte) in bytes[(bytes.count - 16)...].enumerated() { difference |= byte ^ expected[index] }
        guard difference == 0 else { return nil }
        let name = String(decoding: bytes[5..<(5 + nameLength)], as: UTF8.self)
        var time: Int64 = 0
        for byte in bytes[(5 + nameLength + 32)..<(5 + nameLength + 40)] { time = time << 8 | Int64(byte) }
        return (name, time)
    }

    /// Records a genuine announcement from a neighbour; anything else is ignored.
    func receive(_ bytes: [UInt8], from source: SocketAddress) {
        guard let (name, time) = Self.verify(bytes, macKey: macKey), name != host.name,
            ClockSkew.isWithin(clockWindow, of: host.wallClock.nanosecondsSinceEpoch, time),
            let text = source.ipAddress, let address = IPv4Address(text)
        else { return }
        if heard[name]?.address != address {
            host.logger.debug("tunnel: heard a neighbour on the LAN", metadata: ["node": "\(name)", "address": "\(address)"])
        }
        heard[name] = (address, host.now)
    }

    private final class Receiver: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        let beacon: LANBeacon
        init(beacon: LANBeacon) { self.beacon = beacon }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            guard envelope.data.readableBytes <= LANBeacon.maximumLength else { return }
            beacon.receive(Array(envelope.data.readableBytesView), from: envelope.remoteAddress)
        }
    }
}
