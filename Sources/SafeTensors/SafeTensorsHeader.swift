import TensorCore

/// One entry of a safetensors header.
public struct SafeTensorsEntry: Equatable, Sendable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    /// Byte range relative to the start of the data buffer (after the 8-byte length and the header).
    public var dataOffsets: (begin: Int, end: Int)

    public init(name: String, dtype: DType, shape: [Int], begin: Int, end: Int) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dataOffsets = (begin, end)
    }

    public var byteCount: Int { dataOffsets.end - dataOffsets.begin }

    public static func == (a: Self, b: Self) -> Bool {
        a.name == b.name && a.dtype == b.dtype && a.shape == b.shape && a.dataOffsets == b.dataOffsets
    }
}

/// A parsed and fully validated safetensors header.
///
/// Validation follows the reference Rust crate (`safetensors/src/tensor.rs`) rule for rule:
/// the 8-byte little-endian length is at most 100,000,000; the header is UTF-8 JSON starting with `{`;
/// `__metadata__` is a string-to-string map; tensors sorted by offset are contiguous from 0 with no gap
/// or overlap; shape × dtype is computed with checked arithmetic and must equal the byte range; and the
/// last tensor must end exactly at the end of the file. Duplicate names are rejected too.
public struct SafeTensorsHeader: Sendable {
    public static let maxHeaderSize = Limits.safeTensorsHeaderBytes

    /// Tensors in file (offset) order.
    public var entries: [SafeTensorsEntry]
    /// The `__metadata__` map, if any.
    public var metadata: [String: String]?
    /// The length of the JSON header in bytes (not counting the 8-byte prefix).
    public var headerLength: Int
    /// Where the data buffer starts in the file.
    public var dataStart: Int { 8 + headerLength }

    /// Parses and validates the header of a safetensors file whose bytes are `file`.
    /// - Parameter path: used in error messages only.
    public static func parse(_ file: UnsafeRawBufferPointer, path: String? = nil) throws -> SafeTensorsHeader {
        func err(_ c: SafeTensorsError.Code, _ m: String, key: String? = nil, at: Int? = nil, hint: String? = nil) -> SafeTensorsError {
            SafeTensorsError(c, m, file: path, key: key, byteOffset: at, hint: hint)
        }
        guard file.count >= 8 else {
            throw err(.headerTooSmall, "file is \(file.count) bytes, too small to hold the 8-byte header length", at: 0,
                      hint: "the file is empty or truncated")
        }
        let n64 = file.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian
        guard n64 <= UInt64(maxHeaderSize) else {
            throw err(.headerTooLarge, "header length \(n64) exceeds the 100,000,000-byte limit", at: 0,
                      hint: "this is not a safetensors file, or its first 8 bytes are corrupt")
        }
        let n = Int(n64)
        guard n <= file.count - 8 else {
            throw err(.invalidHeaderLength, "header length \(n) reaches past the end of the \(file.count)-byte file", at: 0,
                      hint: "the file is truncated")
        }
        let headerBytes = UnsafeRawBufferPointer(rebasing: file[8..<(8 + n)])
        guard String(validating: headerBytes, as: UTF8.self) != nil else {
            throw err(.invalidHeaderUTF8, "header is not valid UTF-8", at: 8)
        }
        // The spec requires the header to begin with '{'.
        guard n > 0, headerBytes[0] == UInt8(ascii: "{") else {
            throw err(.invalidHeaderStart, "header does not begin with '{'", at: 8)
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(headerBytes)
        } catch let e as JSONParseError {
            throw err(.invalidHeaderDeserialization, "header is not valid JSON: \(e.message)", at: 8 + e.offset)
        }
        guard let members = json.objectMembers else {
            throw err(.invalidHeaderDeserialization, "header is not a JSON object", at: 8)
        }
        var seen = Set<String>()
        var metadata: [String: String]?
        var entries = [SafeTensorsEntry]()
        entries.reserveCapacity(members.count)
        for (name, value) in members {
            guard seen.insert(name).inserted else {
                throw err(.duplicateKey, "tensor name appears twice in the header", key: name, at: 8)
            }
            if name == "__metadata__" {
                guard let m = value.objectMembers else {
                    throw err(.invalidMetadata, "__metadata__ must be a map of strings to strings", key: name, at: 8)
                }
                var map = [String: String]()
                for (k, v) in m {
                    guard let s = v.stringValue else {
                        throw err(.invalidMetadata, "__metadata__ value for '\(k)' is not a string", key: name, at: 8,
                                  hint: "arbitrary JSON is not allowed in __metadata__")
                    }
                    map[k] = s
                }
                metadata = map
                continue
            }
            guard let fields = value.objectMembers,
                  let dtypeText = value["dtype"]?.stringValue,
                  let shapeArr = value["shape"]?.arrayValue,
                  let offs = value["data_offsets"]?.arrayValue, offs.count == 2 else {
                throw err(.invalidHeaderDeserialization,
                          "tensor entry must have dtype (string), shape (array) and data_offsets ([begin, end])", key: name, at: 8)
            }
            _ = fields
            guard let dtype = DType(rawValue: dtypeText) else {
                throw err(.unknownDType, "unknown dtype '\(dtypeText)'", key: name, at: 8,
                          hint: "known dtypes: \(DType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            var shape = [Int]()
            for d in shapeArr {
                guard case let .number(t) = d, let v = UInt64(t), v <= UInt64(Int.max) else {
                    throw err(.invalidHeaderDeserialization, "shape must hold non-negative integers", key: name, at: 8)
                }
                shape.append(Int(v))
            }
            guard case let .number(bt) = offs[0], case let .number(et) = offs[1],
                  let b = UInt64(bt), let e = UInt64(et), b <= UInt64(Int.max), e <= UInt64(Int.max) else {
                throw err(.invalidHeaderDeserialization, "data_offsets must be two non-negative integers", key: name, at: 8)
            }
            entries.append(SafeTensorsEntry(name: name, dtype: dtype, shape: shape, begin: Int(b), end: Int(e)))
        }
        // Sort by offsets and check contiguity, as the crate does.
        entries.sort { ($0.dataOffsets.begin, $0.dataOffsets.end) < ($1.dataOffsets.begin, $1.dataOffsets.end) }
        var expectedStart = 0
        for e in entries {
            let (b, end) = e.dataOffsets
            guard b == expectedStart, end >= b else {
                throw err(.invalidOffset, "tensor data [\(b), \(end)) does not start where the previous one ends (\(expectedStart))",
                          key: e.name, at: 8 + n + b, hint: "offsets must be contiguous, without gaps or overlaps")
            }
            guard let nel = Shape.elementCount(e.shape) else {
                throw err(.validationOverflow, "shape \(Shape.describe(e.shape)) overflows", key: e.name, at: 8)
            }
            let (bits, o) = nel.multipliedReportingOverflow(by: e.dtype.bitSize)
            guard !o else { throw err(.validationOverflow, "shape × dtype size overflows", key: e.name, at: 8) }
            guard bits % 8 == 0 else {
                throw err(.misalignedSlice, "\(nel) elements of \(e.dtype) are not a whole number of bytes", key: e.name, at: 8)
            }
            guard end - b == bits / 8 else {
                throw err(.tensorInvalidInfo, "data range holds \(end - b) bytes, but shape \(Shape.describe(e.shape)) of \(e.dtype) needs \(bits / 8)",
                          key: e.name, at: 8 + n + b)
            }
            expectedStart = end
        }
        guard 8 + n + expectedStart == file.count else {
            // A truncated file names the first tensor whose data is cut short (trailing bytes name none).
            let cut = entries.first { 8 + n + $0.dataOffsets.end > file.count }?.name
            throw err(.metadataIncompleteBuffer,
                      "tensors cover \(expectedStart) data bytes but the file holds \(file.count - 8 - n)", key: cut,
                      at: 8 + n + expectedStart, hint: "the file is truncated or has trailing bytes; a safetensors file cannot contain holes")
        }
        return SafeTensorsHeader(entries: entries, metadata: metadata, headerLength: n)
    }

    /// The header bytes (length prefix, JSON padded with spaces to a multiple of 8) for `entries`
    /// in the order given, with data offsets laid out back to back.
    public static func encode(_ tensors: [(name: String, dtype: DType, shape: [Int])], metadata: [String: String]?) throws -> (bytes: [UInt8], dataOffsets: [Int]) {
        var members = [(String, JSONValue)]()
        if let metadata {
            members.append(("__metadata__", .object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        var offsets = [Int]()
        var pos = 0
        for t in tensors {
            guard let n = Shape.byteCount(t.shape, t.dtype) else {
                throw SafeTensorsError(.validationOverflow, "shape × dtype overflows", key: t.name)
            }
            offsets.append(pos)
            members.append((t.name, .object([("dtype", .string(t.dtype.rawValue)), ("shape", .ints(t.shape)),
                                             ("data_offsets", .ints([pos, pos + n]))])))
            pos += n
        }
        var json = Array(JSONWriter.write(.object(members), pretty: false).utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        guard json.count <= maxHeaderSize else {
            throw SafeTensorsError(.headerTooLarge, "header of \(json.count) bytes exceeds the 100,000,000-byte limit",
                                   hint: "split the tensors over more shards")
        }
        var out = [UInt8]()
        out.reserveCapacity(8 + json.count)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: json)
        return (out, offsets)
    }
}
