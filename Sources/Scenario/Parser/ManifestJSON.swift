import Mesh
import NetworkTopology
import Yams

/// Turns a manifest's YAML into the JSON an API server stores and serves, keeping the
/// document's key order (so runs stay deterministic) and YAML's scalar types (`port: 80` is a
/// number, `"80"` a string, `true` a boolean).
public enum ManifestJSON {
    public static func encode(yaml: String) throws -> [UInt8] {
        guard let node = try Yams.compose(yaml: yaml) else { throw TopologyError("an empty manifest") }
        var text = ""
        write(node, into: &text)
        return Array(text.utf8)
    }

    private static func write(_ node: Yams.Node, into text: inout String) {
        switch node {
        case .mapping(let mapping):
            text += "{"
            for (index, pair) in mapping.enumerated() {
                if index > 0 { text += "," }
                writeString(pair.key.string ?? "", into: &text)
                text += ":"
                write(pair.value, into: &text)
            }
            text += "}"
        case .sequence(let sequence):
            text += "["
            for (index, item) in sequence.enumerated() {
                if index > 0 { text += "," }
                write(item, into: &text)
            }
            text += "]"
        case .scalar(let scalar):
            switch node.tag {
            case Tag(.null): text += "null"
            case Tag(.bool): text += node.bool.map { $0 ? "true" : "false" } ?? "false"
            case Tag(.int): if let value = node.int { text += String(value) } else { writeString(scalar.string, into: &text) }
            case Tag(.float): if let value = node.float, value.isFinite { text += "\(value)" } else { writeString(scalar.string, into: &text) }
            default: writeString(scalar.string, into: &text)
            }
        }
    }

    private static func writeString(_ string: String, into text: inout String) {
        text += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    text.unicodeScalars.append(scalar)
                }
            }
        }
        text += "\""
    }
}
