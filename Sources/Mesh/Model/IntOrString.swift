/// Kubernetes' `IntOrString`: a port given by number or by the name of a container port.
public enum IntOrString: Decodable, Hashable, Sendable, CustomStringConvertible {
    case number(Int)
    case name(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // A number is tried first: YAML gives `8080` as an untyped scalar that also reads as a string.
        if let number = try? container.decode(Int.self) {
            self = .number(number)
        } else {
            self = .name(try container.decode(String.self))
        }
    }

    public var description: String {
        switch self {
        case .number(let number): String(number)
        case .name(let name): name
        }
    }
}
