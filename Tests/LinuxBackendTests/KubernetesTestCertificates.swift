import Foundation

/// A throwaway cluster CA with a server certificate (localhost, 127.0.0.1) and a client
/// certificate, made by the openssl CLI into a fresh directory, as kubeadm lays them out.
struct KubernetesTestCertificates {
    let directory: URL
    var caCertificate: URL { directory.appendingPathComponent("ca.crt") }
    var serverCertificate: URL { directory.appendingPathComponent("server.crt") }
    var serverKey: URL { directory.appendingPathComponent("server.key") }
    var clientCertificate: URL { directory.appendingPathComponent("client.crt") }
    var clientKey: URL { directory.appendingPathComponent("client.key") }

    struct OpenSSLFailed: Error, CustomStringConvertible {
        var description: String
    }

    static var openSSLAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") }

    init(in directory: URL) throws {
        self.directory = directory
        let script = """
            set -e
            key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
            key ca.key
            openssl req -x509 -new -key ca.key -subj "/CN=test cluster CA" -days 2 -out ca.crt \
              -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
            leaf() {
              key "$1.key"; openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
              printf '%s\\n' "$3" > "$1.ext"
              openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile "$1.ext" -out "$1.crt" 2>/dev/null
              rm "$1.csr" "$1.ext"
            }
            leaf server "/CN=kube-apiserver" "subjectAltName=DNS:localhost,IP:127.0.0.1"
            leaf client "/O=system:nodes/CN=system:node:edge-1" "extendedKeyUsage=clientAuth"
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        process.currentDirectoryURL = directory
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw OpenSSLFailed(description: "openssl failed: \(String(decoding: message, as: UTF8.self))")
        }
    }

    func bytes(_ file: URL) throws -> [UInt8] { Array(try Data(contentsOf: file)) }
}
