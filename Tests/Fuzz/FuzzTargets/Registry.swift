/// Every harness, by name. `Tests/Fuzz/README.md` and `Docs/fuzzing.md` describe them.
public enum FuzzTargets {
    public static let all: [FuzzTarget] = [
        safeTensorsHeader, safeTensorsIndex, json, yamlTable, runConfig, pickle, zip, torchSave, dcpMetadata, config, image,
        tokenizerFile, tokenizerEncode,
    ]

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}
