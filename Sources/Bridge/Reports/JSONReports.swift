import TensorCore

// The machine-readable reports of inspect, diff and plan: what `--json` prints and what the C ABI
// (and so the Python package) returns. One definition, so the two cannot drift apart.

extension TensorCatalog {
    /// `inspect --json`: path, format, every tensor (name, dtype, shape, bytes, file), notes and totals.
    public var reportJSON: JSONValue {
        .object([
            ("path", .string(path)),
            ("format", .string(format.rawValue)),
            ("tensors", .array(entries.map { e in
                .object([("name", .string(e.name)), ("dtype", .string(e.dtype.rawValue)), ("shape", .ints(e.shape)),
                         ("bytes", .int(e.source.byteCount)), ("file", .string(e.location))])
            })),
            ("notes", .object(notes.map { ($0.0, .string($0.1)) })),
            ("total_tensors", .int(entries.count)),
            ("total_bytes", .int(totalBytes)),
        ])
    }
}

extension CheckpointDiff.Report {
    /// `diff --json`: equal, the count compared, names missing in / extra in B, and what differs.
    public var reportJSON: JSONValue {
        .object([
            ("equal", .bool(isEqual)), ("compared", .int(compared)),
            ("missing_in_b", .array(missing.map { .string($0) })),
            ("extra_in_b", .array(extra.map { .string($0) })),
            ("differing", .array(differing.map { .object([("name", .string($0.name)), ("what", .string($0.what))]) })),
        ])
    }
}

extension ImportPlan {
    /// The one-line facts of the plan (`plan import` prints them as `name: value`).
    public var summary: [(String, String)] {
        [
            ("family", context.table.family), ("layout", request.layout.description),
            ("world size", "\(request.layout.worldSize)"), ("format", request.format.rawValue),
            ("vision layout", context.visionLayout?.rawValue ?? "none"), ("HF experts", context.expertLayout.description),
            ("tensors", "\(storage.count)"), ("parameters", "\(parameters.count)"),
            ("_extra_state objects", "\(extraStates.count)"), ("bytes", "\(totalBytes) (\(ByteCount.format(totalBytes)))"),
        ]
    }

    /// `plan import --json`: the summary, then every storage tensor with its sources and, for torch_dist,
    /// its chunks per rank; for legacy, every rank file with the tensors it holds (`files_detail`).
    public func reportJSON() throws -> JSONValue {
        let p = parameters
        let legacy = request.format == .legacy
        let items: [JSONValue] = storage.map { s in
            let first = p[s.parameters[0]]
            var fields: [(String, JSONValue)] = [
                ("key", .string(s.key)), ("dtype", .string(s.dtype.rawValue)), ("shape", .ints(s.shape)),
                ("transform", .string(first.rule.transform.rawValue)), ("parallel", .string(first.parallel.rawValue)),
                ("bytes", .int(Shape.byteCount(s.shape, s.dtype) ?? 0)),
                ("sources", .array(s.parameters.flatMap { p[$0].hfNames.values.sorted() }.map { .string($0) })),
            ]
            if !legacy {
                fields.append(("chunks", .array(s.chunks.map { c in
                    .object([("rank", .int(c.rank)), ("offsets", .ints(c.box.offsets)), ("sizes", .ints(c.box.sizes))])
                })))
            }
            return .object(fields)
        }
        var report = summary.map { ($0.0, JSONValue.string($0.1)) } + [("tensors_detail", .array(items))]
        if legacy {
            report.append(("files_detail", .array(try legacyFiles().map { f in
                .object([
                    ("path", .string(f.path)), ("tp", .int(f.rank.tp)), ("pp", .int(f.rank.pp)), ("ep", .int(f.rank.ep)),
                    ("tensor_bytes", .int(f.tensorBytes)),
                    ("tensors", .array(f.tensors.map { t in
                        .object([("name", .string(t.name)), ("dtype", .string(t.dtype.rawValue)), ("shape", .ints(t.shape)),
                                 ("parameter", .string(p[t.parameter].name))])
                    })),
                    ("extra_state", .array(f.extraStates.map { .string($0) })),
                ])
            })))
        }
        return .object(report)
    }
}

extension ExportPlan {
    /// The one-line facts of the plan; `configOrigin` says where the HF config came from.
    public func summary(configOrigin: String) -> [(String, String)] {
        [
            ("family", context.table.family), ("vision layout", context.visionLayout?.rawValue ?? "none"),
            ("HF experts", context.expertLayout.description), ("config", configOrigin),
            ("tensors", "\(hfTensors.count)"), ("bytes", "\(totalBytes) (\(ByteCount.format(totalBytes)))"),
        ]
    }

    /// The Megatron parameters each HF tensor is built from, and the transform that builds it.
    public func provenance(_ t: PlannedHFTensor) -> (transform: String, sources: [String]) {
        (parameters[t.parts[0].0].rule.transform.rawValue, Set(t.parts.map { parameters[$0.0].name }).sorted())
    }

    /// `plan export --json`: the summary, then every HF tensor with its shape, transform and sources.
    public func reportJSON(configOrigin: String) -> JSONValue {
        let items: [JSONValue] = hfTensors.map { t in
            let (transform, sources) = provenance(t)
            return .object([("name", .string(t.name)), ("shape", .ints(t.shape)), ("transform", .string(transform)),
                            ("sources", .array(sources.map { .string($0) }))])
        }
        return .object(summary(configOrigin: configOrigin).map { ($0.0, .string($0.1)) } + [("tensors_detail", .array(items))])
    }
}
