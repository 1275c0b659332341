import Glibc

/// Why one of the agent's own devices (its link-local bridge, its packet interface) could not
/// be set up, changed or removed.
public enum NetworkDeviceError: Error, Hashable, Sendable, CustomStringConvertible {
    case netlink(operation: String, errno: Int32)
    case invalidName(String)

    public var description: String {
        switch self {
        case .netlink(let operation, let code):
            let hint = code == 1 ? "; the agent needs CAP_NET_ADMIN (run it as root)" : ""
            return "cannot \(operation): \(String(cString: strerror(code)))\(hint)"
        case .invalidName(let name):
            return "device name \"\(name)\" is not a valid interface name (1 to 15 characters, no '/' or spaces)"
        }
    }
}
