import Yams

/// A YAML node and the field path it was found at ("network.nodes[2].network").
struct LocatedNode {
    let node: Yams.Node
    let path: String

    var line: Int? { node.mark?.line }

    func child(_ key: String, _ node: Yams.Node) -> LocatedNode {
        LocatedNode(node: node, path: path.isEmpty ? key : "\(path).\(key)")
    }

    func element(_ index: Int, _ node: Yams.Node) -> LocatedNode {
        LocatedNode(node: node, path: "\(path)[\(index)]")
    }
}
