/// Turns the contents of a PSK file (EdgeMesh's `psk` is free text) into the 32-byte key Noise
/// needs, the same for relays and tunnels (`TunnelPresharedKey`): the contents without trailing
/// whitespace, so a newline an editor adds does not split the cluster in two.
public enum PresharedKeyFile {
    public static func key(fromContents contents: [UInt8]) throws(PresharedKeyFileError) -> [UInt8] {
        var trimmed = contents[...]
        while let last = trimmed.last, [0x20, 0x09, 0x0A, 0x0D].contains(last) { trimmed = trimmed.dropLast() }
        guard trimmed.count >= 16, let key = try? TunnelPresharedKey(secret: String(decoding: trimmed, as: UTF8.self)) else {
            throw .tooShort(trimmed.count)
        }
        return key.bytes
    }
}

public enum PresharedKeyFileError: Error, Hashable, Sendable, CustomStringConvertible {
    case tooShort(Int)

    public var description: String {
        switch self {
        case .tooShort(let count):
            "the PSK file holds \(count) bytes; use at least 16 random bytes (for example `head -c 32 /dev/urandom | base64 > psk`)"
        }
    }
}
