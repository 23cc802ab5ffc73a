import Foundation
import SafeTensors
import TensorCore

/// A tensor-by-tensor comparison of two checkpoints, in any two formats: names, dtypes, shapes and the
/// XXH3-64 of the row-major bytes. Megatron global tensors are reassembled from their chunks first, so a
/// torch_dist checkpoint compares equal to another whatever TP/EP layout each was saved with.
public struct CheckpointDiff {
    public struct Difference: Equatable {
        public var name: String
        public var what: String
    }

    public struct Report {
        public var compared: Int
        /// In A, not in B.
        public var missing: [String]
        /// In B, not in A.
        public var extra: [String]
        public var differing: [Difference]
        public var hashes: [String: (UInt64, UInt64)]
        public var isEqual: Bool { missing.isEmpty && extra.isEmpty && differing.isEmpty }
    }

    /// Compares every tensor; hashing runs on `jobs` threads.
    public static func compare(_ a: TensorCatalog, _ b: TensorCatalog, jobs: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> Report {
        let namesA = Set(a.entries.map(\.name)), namesB = Set(b.entries.map(\.name))
        let common = a.entries.map(\.name).filter { namesB.contains($0) }
        var differing = [Difference]()
        var toHash = [(String, TensorSource, TensorSource)]()
        for n in common {
            let x = a.entry(n)!, y = b.entry(n)!
            if x.dtype != y.dtype {
                differing.append(Difference(name: n, what: "dtype \(x.dtype) vs \(y.dtype)"))
            } else if x.shape != y.shape {
                differing.append(Difference(name: n, what: "shape \(Shape.describe(x.shape)) vs \(Shape.describe(y.shape))"))
            } else {
                toHash.append((n, x.source, y.source))
            }
        }
        var results = [(UInt64, UInt64)?](repeating: nil, count: toHash.count)
        var firstError: Error?
        let lock = NSLock()
        var next = 0
        results.withUnsafeMutableBufferPointer { out in
            let buf = out
            DispatchQueue.concurrentPerform(iterations: Swift.max(1, Swift.min(jobs, toHash.count))) { _ in
                while true {
                    lock.lock()
                    if firstError != nil || next >= toHash.count { lock.unlock(); return }
                    let i = next
                    next += 1
                    lock.unlock()
                    do {
                        buf[i] = (try TensorHashing.xxh3(toHash[i].1), try TensorHashing.xxh3(toHash[i].2))
                    } catch {
                        let e = BridgeError.wrapping(error, step: "cannot read tensor '\(toHash[i].0)' to compare it", key: toHash[i].0)
                        lock.lock(); if firstError == nil { firstError = e }; lock.unlock()
                        return
                    }
                }
            }
        }
        if let firstError { throw firstError }
        var hashes = [String: (UInt64, UInt64)]()
        for (i, t) in toHash.enumerated() {
            let (h1, h2) = results[i]!
            hashes[t.0] = (h1, h2)
            if h1 != h2 {
                differing.append(Difference(name: t.0, what: "bytes differ (xxh3 \(XXH3Hasher.hex(h1)) vs \(XXH3Hasher.hex(h2)))"))
            }
        }
        differing.sort { naturalLess($0.name, $1.name) }
        return Report(compared: common.count,
                      missing: a.entries.map(\.name).filter { !namesB.contains($0) },
                      extra: b.entries.map(\.name).filter { !namesA.contains($0) },
                      differing: differing, hashes: hashes)
    }
}

