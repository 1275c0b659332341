import CNftnl
import Glibc
import Mesh

/// The agent's own network device: a bridge (EdgeMesh's `edgemesh0`) holding the link-local
/// listen address (169.254.96.16/32) that the DNS server and proxies bind to, so that address
/// exists on every node whatever its other interfaces are.
///
/// A bridge and not a `dummy` link because some kernels (this project's CI among them) lack
/// the dummy driver. Made through rtnetlink, not by running `ip`. `create` takes over a device
/// of the same name left behind by a crashed agent; `remove` deletes the device, and with it
/// the address, so a stopped agent leaves nothing behind.
public final class LinkLocalDevice {
    public let name: String
    public let address: IPv4Address

    private init(name: String, address: IPv4Address) {
        self.name = name
        self.address = address
    }

    /// Creates (or takes over) the bridge `name`, gives it `address`/32 and brings it up.
    public static func create(name: String, address: IPv4Address) throws(NetworkDeviceError) -> LinkLocalDevice {
        guard (1...15).contains(name.utf8.count), !name.contains("/"), !name.contains(where: \.isWhitespace) else {
            throw .invalidName(name)
        }
        let socket = try RouteNetlinkSocket()
        let created = socket.request(.newLink, flags: NLM_F_CREATE | NLM_F_EXCL) { message in
            RouteNetlinkSocket.putLinkHeader(message, index: 0)
            mnl_attr_put_strz(message, RouteNetlinkSocket.Attribute.linkName, name)
            let info = mnl_attr_nest_start(message, RouteNetlinkSocket.Attribute.linkInfo)
            mnl_attr_put_strz(message, RouteNetlinkSocket.Attribute.linkInfoKind, "bridge")
            mnl_attr_nest_end(message, info)
        }
        // EEXIST: left over from an agent that did not stop cleanly; take it over.
        guard created == 0 || created == EEXIST else { throw .netlink(operation: "create bridge \(name)", errno: created) }
        let index = try Self.index(of: name)
        let addressed = socket.request(.newAddress, flags: NLM_F_CREATE | NLM_F_REPLACE) { message in
            RouteNetlinkSocket.putAddressHeader(message, index: index, prefixLength: 32)
            withUnsafeBytes(of: address.value.bigEndian) { bytes in
                mnl_attr_put(message, RouteNetlinkSocket.Attribute.addressLocal, 4, bytes.baseAddress)
                mnl_attr_put(message, RouteNetlinkSocket.Attribute.addressAddress, 4, bytes.baseAddress)
            }
        }
        guard addressed == 0 else { throw .netlink(operation: "add \(address)/32 to \(name)", errno: addressed) }
        let up: UInt32 = 0x1  // IFF_UP
        let raised = socket.request(.newLink, flags: 0) { message in
            RouteNetlinkSocket.putLinkHeader(message, index: index, flags: up, change: up)
        }
        guard raised == 0 else { throw .netlink(operation: "bring \(name) up", errno: raised) }
        return LinkLocalDevice(name: name, address: address)
    }

    /// Deletes the device (and its address). Succeeds when it is already gone.
    public func remove() throws(NetworkDeviceError) {
        let index = if_nametoindex(name)
        guard index != 0 else { return }
        let socket = try RouteNetlinkSocket()
        let deleted = socket.request(.deleteLink, flags: 0) { message in
            RouteNetlinkSocket.putLinkHeader(message, index: Int32(index))
        }
        guard deleted == 0 || deleted == ENODEV else { throw .netlink(operation: "delete \(name)", errno: deleted) }
    }

    /// Whether a device called `name` exists in this network namespace.
    public static func exists(_ name: String) -> Bool {
        if_nametoindex(name) != 0
    }

    private static func index(of name: String) throws(NetworkDeviceError) -> Int32 {
        let index = if_nametoindex(name)
        guard index != 0 else { throw .netlink(operation: "find \(name) after creating it", errno: errno) }
        return Int32(index)
    }
}
