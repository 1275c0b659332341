// swift-tools-version:6.0
import PackageDescription

// Dependencies, and why each is worth its build time on two cores:
// - swift-nio: NIOCore is the backend-neutral Channel/EventLoop layer the mesh is written
//   against; NIOPosix is the Linux backend; NIOHTTP1/NIOWebSocket run unchanged on both.
// - swift-crypto: the tunnel's Noise handshake (X25519, ChaChaPoly, HKDF) and the simulator's
//   SHA-256 trace hash.
// - Yams: scenario files and Kubernetes manifests are YAML.
// - swift-argument-parser: the `edgemesh` command line.
// - swift-log: the logging API every server-side Swift library speaks.
// - swift-nio-ssl: TLS to an https Kubernetes API server (CA, bearer token, client certificate);
//   its handlers run on NetSim channels unchanged, so TLS is tested in simulation too.
//
// Targets, dependencies one way (README "Architecture"):
//   edgemesh -> SimTestbed -> {Scenario, NetSim} -> NetworkTopology -> Mesh
//   edgemesh -> LinuxBackend -> Mesh
//   edgemesh -> LabTestbed -> {Scenario, LinuxBackend}   (the scenario layer on network namespaces)
// Mesh is production logic only; NetSim is the simulator only (no YAML, no agent); Scenario is
// the backend-neutral scenario layer (model, parser, workloads, test API server, judging).
let package = Package(
    name: "edgemesh",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "edgemesh", targets: ["edgemesh"]),
        .library(name: "Mesh", targets: ["Mesh"]),
        .library(name: "NetSim", targets: ["NetSim"]),
        .library(name: "Scenario", targets: ["Scenario"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // HTTP/2 at the gateway (h2 by ALPN, h2c) and to gRPC backends: the ecosystem's own codec.
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        .systemLibrary(
            name: "CNftnl",
            pkgConfig: "libnftnl",
            providers: [.apt(["libnftnl-dev", "libmnl-dev"])]
        ),
        .target(
            name: "Mesh",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                // The tunnel's Noise handshake (Tunnel/Noise/).
                .product(name: "Crypto", package: "swift-crypto"),
                // Kubernetes manifests (Model/) are YAML.
                .product(name: "Yams", package: "Yams"),
                // https Kubernetes API endpoints (KubernetesAPI/).
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // The gateway's TLS passthrough reads the ClientHello's server name (built for NIOSSL anyway).
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
            ]
        ),
        .target(
            name: "NetworkTopology",
            dependencies: ["Mesh"]
        ),
        .target(
            name: "NetSim",
            dependencies: [
                "Mesh", "NetworkTopology",
                .product(name: "NIOCore", package: "swift-nio"),
                // The trace digest (SHA-256).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The simulator is one thread touching its own state; the run-time exclusivity checks
            // on its class properties take a quarter of its time in release (0.8 against 1.1
            // million packets/s through pipelines). Debug builds, which the tests run, keep them.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .target(
            name: "Scenario",
            dependencies: [
                "Mesh", "NetworkTopology",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                // gRPC workloads: HTTP/2 in clear text (the agent links it already).
                .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                // HTTPS workloads and the test API server's TLS.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // Scenario files are YAML.
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SimTestbed",
            dependencies: [
                "Scenario", "NetSim", "NetworkTopology", "Mesh",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .target(
            name: "LabTestbed",
            dependencies: [
                "Mesh", "NetworkTopology", "Scenario", "LinuxBackend",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "LinuxBackend",
            dependencies: [
                "Mesh", "CPcap", "CNftnl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "edgemesh",
            dependencies: [
                "Mesh", "NetworkTopology", "NetSim", "Scenario", "SimTestbed", "LinuxBackend", "LabTestbed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                // edgemesh-agent.yaml (AgentConfigFile).
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "NetSimBenchmark",
            dependencies: ["Mesh", "NetworkTopology", "NetSim", "Scenario", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/NetSimBenchmark"
        ),
        .target(
            name: "BenchmarkLab",
            path: "Benchmarks/BenchmarkLab"
        ),
        .executableTarget(
            name: "ProxyBenchmark",
            dependencies: ["BenchmarkLab"],
            path: "Benchmarks/ProxyBenchmark"
        ),
        .executableTarget(
            name: "GatewayBenchmark",
            dependencies: ["BenchmarkLab"],
            path: "Benchmarks/GatewayBenchmark"
        ),
        .executableTarget(
            name: "TunnelLabBenchmark",
            dependencies: ["BenchmarkLab"],
            path: "Benchmarks/TunnelLabBenchmark"
        ),
        .executableTarget(
            name: "PodNetworkBenchmark",
            dependencies: ["BenchmarkLab"],
            path: "Benchmarks/PodNetworkBenchmark"
        ),
        .executableTarget(
            name: "TunnelBenchmark",
            dependencies: ["Mesh", "NetworkTopology", "NetSim", "Scenario", .product(name: "NIOCore", package: "swift-nio")],
            path: "Benchmarks/TunnelBenchmark"
        ),
        .executableTarget(
            name: "DNSBenchmark",
            dependencies: ["BenchmarkLab"],
            path: "Benchmarks/DNSBenchmark"
        ),
        .executableTarget(
            name: "SoakBenchmark",
            dependencies: ["BenchmarkLab"],
            path: "Benchmarks/SoakBenchmark",
            exclude: ["legit-load.py", "hostile.py"]
        ),
        // What several test targets read: the repository's scenario files and fixtures.
        .target(
            name: "TestFixtures",
            path: "Tests/Fixtures",
            exclude: ["metaserver-services.json"]
        ),
        // Tests by subject: a module's tests live in its test target, in the folder of the
        // capability they test, whatever harness drives them (EmbeddedChannel, NetSim, a scenario).
        .testTarget(
            name: "MeshTests",
            dependencies: ["Mesh", "NetSim", "NetworkTopology", "Scenario", "SimTestbed", "TestFixtures",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOEmbedded", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"),
                           .product(name: "NIOHTTP2", package: "swift-nio-http2"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")]
        ),
        .testTarget(
            name: "NetSimTests",
            dependencies: ["NetSim", "NetworkTopology", "Mesh", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "ScenarioTests",
            dependencies: ["Scenario", "SimTestbed", "TestFixtures", "NetSim", "NetworkTopology", "Mesh",
                           .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "SimTestbedTests",
            dependencies: ["SimTestbed", "Scenario", "TestFixtures", "NetSim", "NetworkTopology", "Mesh",
                           .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "LinuxBackendTests",
            dependencies: ["LinuxBackend", "Mesh", "Scenario", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOSSL", package: "swift-nio-ssl")]
        ),
        .testTarget(
            name: "HostConformanceTests",
            dependencies: ["Mesh", "NetworkTopology", "NetSim", "Scenario", "LinuxBackend",
                           .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "NIOPosix", package: "swift-nio")]
        ),
        .testTarget(
            name: "LabTestbedTests",
            // `edgemesh`: the agents and relays of a lab run are the built binary.
            dependencies: ["LabTestbed", "edgemesh", "SimTestbed", "Scenario", "NetworkTopology", "Mesh", "TestFixtures"]
        ),
        .testTarget(
            name: "EdgemeshCLITests",
            dependencies: ["edgemesh", "Mesh", "Scenario", "LinuxBackend", "TestFixtures", .product(name: "NIOCore", package: "swift-nio"),
                           .product(name: "NIOPosix", package: "swift-nio"), .product(name: "Yams", package: "Yams")],
            exclude: ["Fixtures/png_colors.py"]
        ),
    ]
)
