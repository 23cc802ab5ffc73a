import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Deterministic crash points for the fault tests (`Tests/Faults`): with `CKPT_BRIDGE_KILL_AT=write:N` the
/// process kills itself with SIGKILL just before its N-th positional write, and with
/// `CKPT_BRIDGE_KILL_AT=commit:STEP` at a step of the output's commit (`synced`, `aside`, `renamed`). A test
/// can then check what a real `kill -9` at that point leaves on disk. Unset (always, outside the tests), it
/// costs one atomic increment per write.
public enum FaultInjection {
    private static let plan: (kind: Substring, value: Substring)? = {
        guard let s = ProcessInfo.processInfo.environment["CKPT_BRIDGE_KILL_AT"], let i = s.firstIndex(of: ":") else { return nil }
        return (s[..<i], s[s.index(after: i)...])
    }()
    private static let writeLimit: Int? = plan.flatMap { $0.kind == "write" ? Int($0.value) : nil }
    private static let lock = NSLock()
    private static var writes = 0

    /// Called before each positional write of output bytes.
    static func beforeWrite() {
        guard let limit = writeLimit else { return }
        lock.lock()
        writes += 1
        let n = writes
        lock.unlock()
        if n >= limit { kill(getpid(), SIGKILL) }
    }

    /// Called at the named steps of `AtomicOutputDirectory.commit()`.
    static func at(commitStep step: String) {
        if let plan, plan.kind == "commit", plan.value == step { kill(getpid(), SIGKILL) }
    }
}
