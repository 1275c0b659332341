import CNftnl
import Glibc

/// A NETLINK_ROUTE socket (libmnl) that sends one request at a time and waits for the kernel's
/// acknowledgement: enough to create, address, bring up and delete a link.
///
/// The socket belongs to the network namespace of the thread that opened it. Not thread-safe.
final class RouteNetlinkSocket {
    /// Message types and attributes of rtnetlink(7); the numbers are kernel ABI
    /// (<linux/rtnetlink.h>, <linux/if_link.h>, <linux/if_addr.h>).
    enum MessageType: UInt16 {
        case newLink = 16, deleteLink = 17, newAddress = 20, newRoute = 24, deleteRoute = 25
    }

    enum Attribute {
        static let linkName: UInt16 = 3  // IFLA_IFNAME
        static let linkMTU: UInt16 = 4  // IFLA_MTU
        static let routeDestination: UInt16 = 1  // RTA_DST
        static let routeOutputInterface: UInt16 = 4  // RTA_OIF
        static let linkInfo: UInt16 = 18  // IFLA_LINKINFO
        static let linkInfoKind: UInt16 = 1  // IFLA_INFO_KIND
        static let addressAddress: UInt16 = 1  // IFA_ADDRESS
        static let addressLocal: UInt16 = 2  // IFA_LOCAL
    }

    private let mnl: MNLSocket

    init() throws(NetworkDeviceError) {
        do {
            mnl = try MNLSocket(bus: NETLINK_ROUTE, busName: "route")
        } catch {
            throw .netlink(operation: error.operation, errno: error.errno)
        }
    }

    /// Sends one request built by `fill` (which writes the family header and attributes after
    /// the netlink header) and returns 0 on acknowledgement, or the kernel's errno.
    func request(
        _ type: MessageType, flags: Int32, fill: (UnsafeMutablePointer<nlmsghdr>) -> Void
    ) -> Int32 {
        let sequence = mnl.nextSequence
        mnl.nextSequence &+= 1
        var buffer = [UInt8](repeating: 0, count: 8192)
        let socket = mnl.pointer, portID = mnl.portID
        return buffer.withUnsafeMutableBytes { raw -> Int32 in
            let header = mnl_nlmsg_put_header(raw.baseAddress)!
            header.pointee.nlmsg_type = type.rawValue
            header.pointee.nlmsg_flags = UInt16(NLM_F_REQUEST | NLM_F_ACK | flags)
            header.pointee.nlmsg_seq = sequence
            fill(header)
            if mnl_socket_sendto(socket, UnsafeRawPointer(header), Int(header.pointee.nlmsg_len)) < 0 { return errno }
            while true {
                let received = mnl_socket_recvfrom(socket, raw.baseAddress, raw.count)
                if received < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                // MNL_CB_STOP (0) once the acknowledgement for `sequence` arrived; -1 with errno
                // set when the kernel answered with an error.
                let result = mnl_cb_run(raw.baseAddress, received, sequence, portID, nil, nil)
                if result == -1 { return errno }
                if result == MNL_CB_STOP { return 0 }
            }
        }
    }

    /// Appends `struct ifinfomsg` (AF_UNSPEC) for link `index`, setting `flags` within `change`.
    static func putLinkHeader(_ message: UnsafeMutablePointer<nlmsghdr>, index: Int32, flags: UInt32 = 0, change: UInt32 = 0) {
        let body = mnl_nlmsg_put_extra_header(message, 16)!
        body.storeBytes(of: UInt8(AF_UNSPEC), toByteOffset: 0, as: UInt8.self)
        body.storeBytes(of: index, toByteOffset: 4, as: Int32.self)
        body.storeBytes(of: flags, toByteOffset: 8, as: UInt32.self)
        body.storeBytes(of: change, toByteOffset: 12, as: UInt32.self)
    }

    /// Appends `struct ifaddrmsg` for an IPv4 address with `prefixLength` on link `index`
    /// (scope universe, as `ip address add` gives it).
    static func putAddressHeader(_ message: UnsafeMutablePointer<nlmsghdr>, index: Int32, prefixLength: UInt8) {
        let body = mnl_nlmsg_put_extra_header(message, 8)!
        body.storeBytes(of: UInt8(AF_INET), toByteOffset: 0, as: UInt8.self)
        body.storeBytes(of: prefixLength, toByteOffset: 1, as: UInt8.self)
        body.storeBytes(of: UInt32(bitPattern: index), toByteOffset: 4, as: UInt32.self)
    }

    /// Appends `struct rtmsg` for an IPv4 route to a `prefixLength` destination in the main
    /// table, through a device (scope link, static, unicast), as `ip route add ... dev X` makes it.
    static func putRouteHeader(_ message: UnsafeMutablePointer<nlmsghdr>, prefixLength: UInt8) {
        let body = mnl_nlmsg_put_extra_header(message, 12)!
        body.storeBytes(of: UInt8(AF_INET), toByteOffset: 0, as: UInt8.self)
        body.storeBytes(of: prefixLength, toByteOffset: 1, as: UInt8.self)  // rtm_dst_len
        body.storeBytes(of: UInt8(254), toByteOffset: 4, as: UInt8.self)  // RT_TABLE_MAIN
        body.storeBytes(of: UInt8(4), toByteOffset: 5, as: UInt8.self)  // RTPROT_STATIC
        body.storeBytes(of: UInt8(253), toByteOffset: 6, as: UInt8.self)  // RT_SCOPE_LINK
        body.storeBytes(of: UInt8(1), toByteOffset: 7, as: UInt8.self)  // RTN_UNICAST
    }
}
