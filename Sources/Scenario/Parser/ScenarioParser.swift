import Foundation
import Mesh
import Yams

/// Reads scenario files (YAML, see the README's "Scenario files") into a validated `Scenario`.
///
/// Strict on purpose: an unknown key, a value of the wrong syntax or a reference to something
/// that does not exist is an error naming the file, the line, the field and what is allowed, because
/// a typo that silently does nothing makes a scenario pass for the wrong reason.
public enum ScenarioParser {
    /// Reads and parses the file at `path`; `manifests` entries are relative to its directory.
    public static func load(path: String) throws(ScenarioError) -> Scenario {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ScenarioError(source: path, field: "", message: "cannot read the file: \(error.localizedDescription)")
        }
        return try parse(yaml: text, source: path)
    }

    /// Parses scenario text; `source` names it in messages and its directory is where
    /// `manifests` entries are looked up.
    public static func parse(yaml: String, source: String) throws(ScenarioError) -> Scenario {
        try parse(yaml: yaml, source: source, baseDirectory: directory(of: source))
    }

    /// Parses scenario text whose `manifests` entries are relative to `baseDirectory`.
    public static func parse(yaml: String, source: String, baseDirectory: String) throws(ScenarioError) -> Scenario {
        let root: Yams.Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw malformed(error, text: yaml, source: source, field: "")
        }
        guard let root, !root.isNull else {
            throw ScenarioError(
                source: source, field: "",
                message: "the file is empty; a scenario needs at least \(ScenarioReader.requiredTopLevelKeys.joined(separator: ", "))")
        }
        let reader = ScenarioReader(source: source, baseDirectory: baseDirectory)
        return try reader.scenario(LocatedNode(node: root, path: ""))
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// A YAML syntax error as a scenario error with the line libyaml reported.
    static func malformed(_ error: any Error, text: String, source: String, field: String) -> ScenarioError {
        guard let yamlError = error as? YamlError else {
            return ScenarioError(source: source, field: field, message: "malformed YAML: \(error)")
        }
        switch yamlError {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
            let .composer(context, problem, mark, _):
            var message = "malformed YAML: \(problem)"
            if let context { message += " (\(context.text) at line \(context.mark.line))" }
            return ScenarioError(source: source, field: field, line: mark.line, message: message)
        case let .reader(problem, offset, _, _):
            let line = offset.map { offset in text.utf8.prefix(offset).reduce(1) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } }
            return ScenarioError(source: source, field: field, line: line, message: "malformed YAML: \(problem)")
        default:
            return ScenarioError(source: source, field: field, message: "malformed YAML: \(yamlError)")
        }
    }
}
