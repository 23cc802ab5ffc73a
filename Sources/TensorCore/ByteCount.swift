/// Byte sizes as users write them (`5GB`, `500MB`, `1.5GiB`, `123`): decimal units are powers of 1000,
/// binary units (`KiB`, `MiB`, `GiB`, `TiB`) powers of 1024, as the Hugging Face tools count shard sizes.
public enum ByteCount {
    public static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [
            ("KIB", 1024), ("MIB", 1024 * 1024), ("GIB", 1024 * 1024 * 1024), ("TIB", 1024.0 * 1024 * 1024 * 1024),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12), ("B", 1),
        ]
        let upper = t.uppercased()
        for (u, f) in units where upper.hasSuffix(u) {
            let num = upper.dropLast(u.count).trimmingCharacters(in: .whitespaces)
            guard let v = Double(num), v >= 0, v * f < 9e18 else { return nil }
            return Int((v * f).rounded())
        }
        guard let v = Int(t), v >= 0 else { return nil }
        return v
    }

    /// `3.62 GB`, `512 B`: decimal units, for progress and reports.
    public static func format(_ n: Int) -> String {
        let v = Double(n)
        if v >= 1e12 { return fmt(v / 1e12) + " TB" }
        if v >= 1e9 { return fmt(v / 1e9) + " GB" }
        if v >= 1e6 { return fmt(v / 1e6) + " MB" }
        if v >= 1e3 { return fmt(v / 1e3) + " kB" }
        return "\(n) B"
    }

    private static func fmt(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        var s = String(r)
        if s.hasSuffix(".0") { s.removeLast(2) }
        return s
    }
}

import Foundation
