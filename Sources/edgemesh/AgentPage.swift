import ArgumentParser
import LinuxBackend
import Mesh
import NIOCore
import NIOPosix

/// One page of the local agent's endpoint (`/status`, `/table`), over a plain socket.
enum AgentPage {
    /// The page's body; throws `AgentStatusError` or a connection error when the agent at
    /// `agent` (ip:port) does not answer with it, `ValidationError` when `agent` is not ip:port.
    static func fetch(_ path: String, from agent: String) throws -> String {
        guard let target = HostPort(agent), let address = IPv4Address(target.host) else {
            throw ValidationError("--agent \"\(agent)\" is not ip:port")
        }
        let group = LinuxEventLoops.makeGroup()
        defer { try? group.syncShutdownGracefully() }
        let channel = try ClientBootstrap(group: group).connect(to: address.socketAddress(port: target.port)).wait()
        return try AgentStatusClient.fetchPage(path, over: channel, authority: agent).wait()
    }
}
