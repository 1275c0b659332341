import Foundation
import Mesh
import Yams

// MARK: - Kubernetes manifests

/// Where a manifest came from, which decides how its errors are reported.
enum ManifestOrigin {
    /// Under `kubernetes:` in the scenario itself: errors point at the field.
    case inline(LocatedNode)
    /// A document of a file listed under `manifests:`: errors point at the list entry and quote the
    /// file, its line and the document's number.
    case file(entry: LocatedNode, file: String, document: Int)
}

extension ScenarioReader {
    private func manifestError(
        _ origin: ManifestOrigin, node: Yams.Node, subpath: String, _ message: String
    ) -> ScenarioError {
        switch origin {
        case .inline(let value):
            let field = subpath.isEmpty ? value.path : "\(value.path).\(subpath)"
            return ScenarioError(source: source, field: field, line: node.mark?.line ?? value.line, message: message)
        case .file(let entry, let file, let document):
            let line = node.mark.map { ":\($0.line)" } ?? ""
            let field = subpath.isEmpty ? "" : "\(subpath): "
            return fail(entry, "\(file)\(line) (document \(document)): \(field)\(message)")
        }
    }

    /// One object, or the items of a `kind: List`.
    func manifests(_ node: Yams.Node, origin: ManifestOrigin, subpath: String = "") throws(ScenarioError) -> [KubernetesManifest] {
        func child(_ key: String) -> String { subpath.isEmpty ? key : "\(subpath).\(key)" }
        guard case .mapping(let mapping) = node else {
            throw manifestError(origin, node: node, subpath: subpath, "expected a Kubernetes object (a mapping), found \(node.summary)")
        }
        func text(_ key: String, in mapping: Yams.Node.Mapping, path: String) throws(ScenarioError) -> String? {
            guard let value = mapping[key] else { return nil }
            guard case .scalar(let scalar) = value, !value.isNull, !scalar.string.isEmpty else {
                throw manifestError(origin, node: value, subpath: path, "expected text, found \(value.summary)")
            }
            return scalar.string
        }
        guard let kind = try text("kind", in: mapping, path: child("kind")) else {
            throw manifestError(origin, node: node, subpath: subpath, "missing required key \"kind\"")
        }
        if kind == "List" {
            guard let items = mapping["items"], case .sequence(let sequence) = items else {
                throw manifestError(origin, node: node, subpath: child("items"), "a List needs an items list")
            }
            var manifests: [KubernetesManifest] = []
            for (index, item) in sequence.enumerated() {
                manifests += try self.manifests(item, origin: origin, subpath: "\(child("items"))[\(index)]")
            }
            return manifests
        }
        guard let apiVersion = try text("apiVersion", in: mapping, path: child("apiVersion")) else {
            throw manifestError(origin, node: node, subpath: subpath, "missing required key \"apiVersion\"")
        }
        guard let metadataNode = mapping["metadata"], case .mapping(let metadata) = metadataNode else {
            throw manifestError(origin, node: node, subpath: child("metadata"), "missing metadata with a name")
        }
        guard let name = try text("name", in: metadata, path: child("metadata.name")) else {
            throw manifestError(origin, node: metadataNode, subpath: child("metadata"), "missing required key \"name\"")
        }
        let namespace = try text("namespace", in: metadata, path: child("metadata.namespace"))
        let yaml: String
        do {
            yaml = try Yams.serialize(node: node)
        } catch {
            throw manifestError(origin, node: node, subpath: subpath, "cannot re-serialize the object: \(error)")
        }
        return [KubernetesManifest(apiVersion: apiVersion, kind: kind, name: name, namespace: namespace, yaml: yaml)]
    }

    /// Every document of a (multi-document) manifest file; empty documents are skipped as kubectl does.
    func manifestFile(_ entry: LocatedNode) throws(ScenarioError) -> [KubernetesManifest] {
        let file = try scalar(entry, "a manifest file path")
        let path = file.hasPrefix("/") ? file : baseDirectory == "." ? file : "\(baseDirectory)/\(file)"
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw fail(entry, "cannot read manifest file \(path): \(error.localizedDescription)")
        }
        // A field bundle stands for the table its agent held.
        let text: String
        do {
            text = String(decoding: try FieldBundle.contents(of: bytes, member: FieldBundle.tableMember), as: UTF8.self)
        } catch {
            throw fail(entry, "\(file): \(error.description)")
        }
        var manifests: [KubernetesManifest] = []
        do {
            let parser = try Yams.Parser(yaml: text)
            var document = 0
            while let root = try parser.nextRoot() {
                document += 1
                if root.isNull { continue }
                manifests += try self.manifests(root, origin: .file(entry: entry, file: file, document: document))
            }
        } catch let error as ScenarioError {
            throw error
        } catch {
            let syntax = ScenarioParser.malformed(error, text: text, source: file, field: "")
            throw fail(entry, "\(file)\(syntax.line.map { ":\($0)" } ?? ""): \(syntax.message)")
        }
        return manifests
    }
}
