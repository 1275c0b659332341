import CNftnl
import Glibc
import Mesh

/// A TUN device (`/dev/net/tun`, no packet information header, a `VirtioNetHeader` before each
/// packet): every `read` of its descriptor is one IPv4 packet the kernel routed into it (with
/// offloads on, a TCP packet of up to 64 KiB for the reader to segment), every `write` one packet
/// it takes in as if received. Made through the TUN ioctl and rtnetlink, not by running `ip`.
///
/// Not persistent: the device, and every route through it, disappears when the last descriptor
/// closes, so a crashed agent leaves nothing routed into a device nobody reads.
final class TUNDevice {
    let name: String
    let index: Int32
    /// The descriptor the device lives as long as; whoever takes it closes it.
    let descriptor: CInt
    /// Whether the kernel took the offloads (checksum and TCP segmentation): it then hands over
    /// TCP packets larger than the MTU, which `TUNOffloadDecoder` cuts up.
    let segmentationOffload: Bool

    /// `TUNSETIFF` (`_IOW('T', 202, int)`) and the flags of `struct ifreq` it reads.
    private static let setInterface: UInt = 0x4004_54CA
    private static let tunMode: Int16 = 0x0001  // IFF_TUN
    private static let noPacketInformation: Int16 = 0x1000  // IFF_NO_PI
    private static let virtioNetHeader: Int16 = 0x4000  // IFF_VNET_HDR
    /// `TUNSETOFFLOAD` (`_IOW('T', 208, unsigned int)`) and its flags: TUN_F_CSUM, TUN_F_TSO4.
    private static let setOffload: UInt = 0x4004_54D0
    private static let checksumOffload: UInt = 0x01
    private static let tcpIPv4Segmentation: UInt = 0x02

    /// The largest read: a segmentation-offload packet of 64 KiB and its header.
    static let largestRead = 65_535 + VirtioNetHeader.length

    private init(name: String, index: Int32, descriptor: CInt, segmentationOffload: Bool) {
        self.name = name
        self.index = index
        self.descriptor = descriptor
        self.segmentationOffload = segmentationOffload
    }

    /// Opens the TUN device `name` (created if absent), sets its MTU and brings it up.
    static func create(name: String, mtu: Int) throws(NetworkDeviceError) -> TUNDevice {
        guard (1...15).contains(name.utf8.count), !name.contains("/"), !name.contains(where: \.isWhitespace) else {
            throw .invalidName(name)
        }
        let descriptor = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { throw .netlink(operation: "open /dev/net/tun", errno: errno) }
        // struct ifreq: the name (16 bytes), then the flags; 40 bytes in all.
        var request = [UInt8](repeating: 0, count: 40)
        for (offset, byte) in name.utf8.enumerated() { request[offset] = byte }
        withUnsafeBytes(of: (tunMode | noPacketInformation | virtioNetHeader).littleEndian) { request.replaceSubrange(16..<18, with: $0) }
        let configured = request.withUnsafeMutableBytes { ioctl(descriptor, setInterface, $0.baseAddress!) }
        guard configured == 0 else {
            let code = errno
            close(descriptor)
            throw .netlink(operation: "create TUN device \(name)", errno: code)
        }
        let index = Int32(if_nametoindex(name))
        do throws(NetworkDeviceError) {
            guard index != 0 else { throw NetworkDeviceError.netlink(operation: "find \(name) after creating it", errno: errno) }
            let socket = try RouteNetlinkSocket()
            let up: UInt32 = 0x1  // IFF_UP
            let raised = socket.request(.newLink, flags: 0) { message in
                RouteNetlinkSocket.putLinkHeader(message, index: index, flags: up, change: up)
                mnl_attr_put_u32(message, RouteNetlinkSocket.Attribute.linkMTU, UInt32(clamping: mtu))
            }
            guard raised == 0 else { throw NetworkDeviceError.netlink(operation: "set the MTU of \(name) to \(mtu) and bring it up", errno: raised) }
        } catch {
            close(descriptor)
            throw error
        }
        disableIPv6(on: name)
        // Without the offloads (an old kernel) reads are single packets, still with the header.
        // The request takes its flags as the argument itself, not through a pointer.
        let offloaded = ioctl(descriptor, setOffload, UnsafeMutableRawPointer(bitPattern: checksumOffload | tcpIPv4Segmentation)!) == 0
        return TUNDevice(name: name, index: index, descriptor: descriptor, segmentationOffload: offloaded)
    }

    /// The pod network is IPv4: without this the kernel sends the device its own IPv6 router
    /// solicitations and multicast reports, which the agent would only read to drop. Best
    /// effort: a kernel without IPv6 has nothing to turn off.
    private static func disableIPv6(on name: String) {
        let path = "/proc/sys/net/ipv6/conf/\(name)/disable_ipv6"
        let file = open(path, O_WRONLY | O_CLOEXEC)
        guard file >= 0 else { return }
        _ = write(file, "1", 1)
        close(file)
    }

    /// Routes `prefix` into the device (replacing a route to the same prefix elsewhere).
    func addRoute(_ prefix: IPv4Prefix) throws(NetworkDeviceError) {
        try changeRoute(prefix, .newRoute, flags: NLM_F_CREATE | NLM_F_REPLACE, operation: "route \(prefix) into \(name)")
    }

    /// Removes the route of `prefix` through the device; gone already is not an error.
    func removeRoute(_ prefix: IPv4Prefix) throws(NetworkDeviceError) {
        try changeRoute(prefix, .deleteRoute, flags: 0, operation: "remove the route of \(prefix) through \(name)", ignoring: ESRCH)
    }

    private func changeRoute(
        _ prefix: IPv4Prefix, _ type: RouteNetlinkSocket.MessageType, flags: Int32, operation: String, ignoring: Int32 = 0
    ) throws(NetworkDeviceError) {
        let socket = try RouteNetlinkSocket()
        let index = self.index
        let result = socket.request(type, flags: flags) { message in
            RouteNetlinkSocket.putRouteHeader(message, prefixLength: UInt8(prefix.length))
            mnl_attr_put_u32(message, RouteNetlinkSocket.Attribute.routeOutputInterface, UInt32(bitPattern: index))
            withUnsafeBytes(of: prefix.network.value.bigEndian) { bytes in
                mnl_attr_put(message, RouteNetlinkSocket.Attribute.routeDestination, 4, bytes.baseAddress)
            }
        }
        guard result == 0 || (ignoring != 0 && result == ignoring) else { throw .netlink(operation: operation, errno: result) }
    }
}
