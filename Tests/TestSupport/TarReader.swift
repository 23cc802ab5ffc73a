import TensorCore

/// Extracts a POSIX ustar / GNU tar archive (regular files and folders only) into a folder.
public enum TarReader {
    public static func extract(_ tar: [UInt8], into root: String) throws {
        var pos = 0
        var longName: String?
        func field(_ start: Int, _ len: Int) -> String {
            let slice = tar[(pos + start)..<(pos + start + len)]
            let end = slice.firstIndex(of: 0) ?? slice.endIndex
            return String(decoding: tar[slice.startIndex..<end], as: UTF8.self)
        }
        func octal(_ start: Int, _ len: Int) -> Int {
            Int(field(start, len).trimmingCharacters(in: .whitespaces), radix: 8) ?? 0
        }
        while pos + 512 <= tar.count {
            if tar[pos..<(pos + 512)].allSatisfy({ $0 == 0 }) { break }
            let size = octal(124, 12)
            let type = tar[pos + 156]
            var name = field(0, 100)
            let prefix = field(345, 155)
            if !prefix.isEmpty { name = prefix + "/" + name }
            if let ln = longName { name = ln; longName = nil }
            let dataStart = pos + 512
            guard dataStart + size <= tar.count else {
                throw TensorCoreError(.io, "tar entry '\(name)' is truncated", byteOffset: pos)
            }
            let rel = name.hasPrefix("./") ? String(name.dropFirst(2)) : name
            guard !rel.split(separator: "/").contains("..") else {
                throw TensorCoreError(.io, "tar entry '\(name)' escapes the folder", byteOffset: pos)
            }
            switch type {
            case UInt8(ascii: "L"):
                longName = String(decoding: tar[dataStart..<(dataStart + size)].prefix { $0 != 0 }, as: UTF8.self)
            case UInt8(ascii: "5"):
                if !rel.isEmpty { try FileSystem.makeDirectory(FileSystem.join(root, rel)) }
            case UInt8(ascii: "0"), 0:
                let path = FileSystem.join(root, rel)
                try FileSystem.makeDirectory(FileSystem.dirname(path))
                try writeWholeFile(path, Array(tar[dataStart..<(dataStart + size)]))
            default:
                break
            }
            pos = dataStart + (size + 511) / 512 * 512
        }
    }
}
