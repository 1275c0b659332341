/// Which services the agent proxies, decided by the label `Service.proxyNameLabel`
/// (`service.edgemesh.kubeedge.io/service-proxy-name`).
///
/// The two modes and their names are EdgeMesh's (`modules.edgeProxy.serviceFilterMode`):
/// by default a service labelled for another proxy is left alone; the other mode proxies
/// only services that carry the label. Only the label's presence counts, not its value.
public enum ServiceFilter: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// EdgeMesh's default: a service that has the label is filtered out.
    case filterIfLabelExists = "FilterIfLabelExists"
    /// A service that lacks the label is filtered out.
    case filterIfLabelDoesNotExist = "FilterIfLabelDoesNotExists"

    public static let `default` = ServiceFilter.filterIfLabelExists

    /// Reads the mode from EdgeMesh's configuration spelling; nil for anything else.
    public init?(configurationValue: String) {
        self.init(rawValue: configurationValue)
    }

    public func admits(_ service: Service) -> Bool {
        let labelled = service.metadata.labels[Service.proxyNameLabel] != nil
        switch self {
        case .filterIfLabelExists: return !labelled
        case .filterIfLabelDoesNotExist: return labelled
        }
    }

    public var description: String { rawValue }
}
