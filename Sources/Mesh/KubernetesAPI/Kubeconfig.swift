import Foundation
import Yams

/// The part of a kubeconfig file that says how to reach one cluster: the selected context's
/// server, CA, and user credentials.
///
/// Pure parsing: file references (`certificate-authority`, `client-certificate`, `client-key`,
/// `tokenFile`) stay paths, resolved against the kubeconfig's own directory, for the Linux side
/// to read. Inline `-data` values are base64 as kubectl writes them. Fields this client does not
/// use are ignored; credentials it cannot provide (exec plugins, auth providers, basic auth)
/// are refused by name rather than silently dropped.
public struct Kubeconfig: Hashable, Sendable {
    /// Certificate or key material: inline bytes, or a file to read.
    public enum Material: Hashable, Sendable {
        case inline([UInt8])
        case file(path: String)
    }

    public var contextName: String
    public var endpoint: KubernetesAPIEndpoint
    public var certificateAuthority: Material?
    public var insecureSkipTLSVerify: Bool
    public var tlsServerName: String?
    public var token: String?
    public var tokenFile: String?
    public var clientCertificate: Material?
    public var clientKey: Material?

    /// Parses `yaml` and selects `context` (the file's `current-context` when nil). Relative paths
    /// are taken relative to `directory`.
    public init(yaml: String, directory: String, context: String? = nil) throws(KubeconfigError) {
        let root: Yams.Node
        do {
            guard let node = try Yams.compose(yaml: yaml, Resolver.basic) else { throw KubeconfigError.invalid(field: "(document)", reason: "the file is empty") }
            root = node
        } catch let error as KubeconfigError { throw error } catch {
            throw .invalid(field: "(document)", reason: "not YAML: \(error)")
        }
        let selected = context ?? root["current-context"]?.string ?? ""
        guard !selected.isEmpty else { throw .invalid(field: "current-context", reason: "no context is selected; set current-context or pass one") }
        let contextEntry = try Self.named(selected, in: root, list: "contexts", item: "context")
        guard let clusterName = contextEntry["cluster"]?.string, !clusterName.isEmpty else {
            throw .invalid(field: "contexts[\(selected)].context.cluster", reason: "missing")
        }
        let cluster = try Self.named(clusterName, in: root, list: "clusters", item: "cluster")
        let clusterField = "clusters[\(clusterName)].cluster"
        guard let server = cluster["server"]?.string, !server.isEmpty else { throw .invalid(field: "\(clusterField).server", reason: "missing") }
        guard let endpoint = KubernetesAPIEndpoint(url: server) else {
            throw .invalid(field: "\(clusterField).server", reason: "\"\(server)\" is not an http(s)://host[:port] URL")
        }
        contextName = selected
        self.endpoint = endpoint
        certificateAuthority = try Self.material(in: cluster, key: "certificate-authority", field: clusterField, directory: directory)
        insecureSkipTLSVerify = cluster["insecure-skip-tls-verify"]?.bool ?? false
        tlsServerName = cluster["tls-server-name"]?.string.flatMap { $0.isEmpty ? nil : $0 }

        token = nil
        tokenFile = nil
        clientCertificate = nil
        clientKey = nil
        // A context without a user is anonymous access (a local proxy, say).
        guard let userName = contextEntry["user"]?.string, !userName.isEmpty else { return }
        let user = try Self.named(userName, in: root, list: "users", item: "user")
        let userField = "users[\(userName)].user"
        for unsupported in ["exec", "auth-provider", "username", "password"] where user[unsupported] != nil {
            throw .unsupported(field: "\(userField).\(unsupported)")
        }
        token = user["token"]?.string.flatMap { $0.isEmpty ? nil : $0 }
        tokenFile = user["tokenFile"]?.string.flatMap { $0.isEmpty ? nil : Self.resolve($0, against: directory) }
        clientCertificate = try Self.material(in: user, key: "client-certificate", field: userField, directory: directory)
        clientKey = try Self.material(in: user, key: "client-key", field: userField, directory: directory)
    }

    /// The `item` mapping of the entry of `list` called `name`.
    private static func named(_ name: String, in root: Yams.Node, list: String, item: String) throws(KubeconfigError) -> Yams.Node {
        guard let entries = root[list]?.sequence else { throw .invalid(field: list, reason: "missing; a kubeconfig lists its \(list)") }
        guard let entry = entries.first(where: { $0["name"]?.string == name }) else {
            throw .invalid(field: list, reason: "no entry named \"\(name)\"")
        }
        guard let value = entry[item], value.mapping != nil else { throw .invalid(field: "\(list)[\(name)].\(item)", reason: "missing") }
        return value
    }

    /// `key-data` (base64) wins over `key` (a path), as in kubectl.
    private static func material(in node: Yams.Node, key: String, field: String, directory: String) throws(KubeconfigError) -> Material? {
        if let data = node["\(key)-data"]?.string, !data.isEmpty {
            let compact = data.filter { !$0.isWhitespace }
            guard let bytes = Data(base64Encoded: compact) else { throw .invalid(field: "\(field).\(key)-data", reason: "not base64") }
            return .inline(Array(bytes))
        }
        if let path = node[key]?.string, !path.isEmpty { return .file(path: resolve(path, against: directory)) }
        return nil
    }

    private static func resolve(_ path: String, against directory: String) -> String {
        path.hasPrefix("/") || directory.isEmpty ? path : (directory.hasSuffix("/") ? directory : directory + "/") + path
    }
}
