import Mesh
import NetworkTopology

/// A scenario file, parsed and validated: a topology, the Kubernetes objects, simulated
/// workloads, faults on a timeline and the expectations the run is judged by.
public struct Scenario: Hashable, Sendable {
    public var name: String
    public var description: String
    /// Where it was read from ("Scenarios/nat-matrix.yaml"), for messages.
    public var source: String
    /// Simulated time the run lasts, nanoseconds.
    public var duration: UInt64
    /// The seed used when the command line gives none.
    public var defaultSeed: UInt64
    public var topology: TopologySpec
    public var manifests: [KubernetesManifest]
    /// The agents and their object source; nil runs the workloads on a bare network.
    public var mesh: MeshSpec?
    /// Changes to the objects on the run's timeline.
    public var changes: [ObjectChangeSpec]
    public var workloads: [WorkloadSpec]
    public var faults: [FaultSpec]
    public var expectations: [ExpectationSpec]
    /// A table of client workloads printed with the summary (the NAT matrix).
    public var matrix: MatrixSpec?
    /// A shorter timeline for runs on real namespaces, where scenario time is real time.
    public var labProfile: LabProfile?
    /// The bounds of faults the seed draws on top of the file's (`chaos:`) when a run asks for
    /// chaos; nil: the defaults.
    public var chaos: ChaosSpec?
    /// Set once chaos is drawn (or by `judgeFrom:` in a shrunk file): the expectations judge
    /// only requests started at or after this time (the last drawn fault's end plus the settle
    /// time), and agents' tables must match their source from then on.
    public var settlesAt: UInt64?

    public init(
        name: String, description: String = "", source: String, duration: UInt64, defaultSeed: UInt64 = 1,
        topology: TopologySpec, manifests: [KubernetesManifest] = [], mesh: MeshSpec? = nil, changes: [ObjectChangeSpec] = [],
        workloads: [WorkloadSpec] = [],
        faults: [FaultSpec] = [], expectations: [ExpectationSpec] = [], matrix: MatrixSpec? = nil,
        labProfile: LabProfile? = nil, chaos: ChaosSpec? = nil
    ) {
        self.name = name
        self.description = description
        self.source = source
        self.duration = duration
        self.defaultSeed = defaultSeed
        self.topology = topology
        self.manifests = manifests
        self.mesh = mesh
        self.changes = changes
        self.workloads = workloads
        self.faults = faults
        self.expectations = expectations
        self.matrix = matrix
        self.labProfile = labProfile
        self.chaos = chaos
    }

    /// The scenario as its lab profile runs it (its duration, and its faults and expectations
    /// when it has its own); the scenario itself without one. Requests a client would send after the end are
    /// not sent, so they count neither way.
    public func applyingLabProfile() -> Scenario {
        guard let labProfile else { return self }
        var scenario = self
        scenario.duration = labProfile.duration
        if let faults = labProfile.faults { scenario.faults = faults }
        if let expectations = labProfile.expectations { scenario.expectations = expectations }
        scenario.labProfile = nil
        return scenario
    }
}

/// `lab:` in a scenario file: the shorter run `edgemesh lab` plays (and `--compare` simulates).
public struct LabProfile: Hashable, Sendable {
    public var duration: UInt64
    /// Replaces the file's faults when given (their times must fit the shorter run).
    public var faults: [FaultSpec]?
    /// Replaces the file's expectations when given (a shorter run has fewer requests to lose).
    public var expectations: [ExpectationSpec]?
    /// Why the profile differs from the file, printed with the run.
    public var why: String?

    public init(duration: UInt64, faults: [FaultSpec]? = nil, expectations: [ExpectationSpec]? = nil, why: String? = nil) {
        self.duration = duration
        self.faults = faults
        self.expectations = expectations
        self.why = why
    }
}

/// One Kubernetes object as `kubectl apply` takes it; decoded by the control plane.
public struct KubernetesManifest: Hashable, Sendable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var namespace: String?
    /// The object as YAML text, exactly one document.
    public var yaml: String

    public init(apiVersion: String, kind: String, name: String, namespace: String?, yaml: String) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.yaml = yaml
    }
}
