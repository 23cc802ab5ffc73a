import TensorCore

extension FuzzTargets {
    /// The bytes are any JSON document. A document that parses must survive write → parse unchanged,
    /// compact and pretty.
    public static let json = FuzzTarget(
        name: "json", summary: "JSONParser.parse, then JSONWriter round trip (compact and pretty)"
    ) { bytes in
        let v = try JSONParser.parse(bytes)
        for pretty in [false, true] {
            let text = JSONWriter.write(v, pretty: pretty)
            let again: JSONValue
            do { again = try JSONParser.parse(text) } catch {
                fatalError("fuzz[json]: written JSON does not parse (\(error)): \(text.prefix(200))")
            }
            FuzzCheck.require(again == v, "write → parse changed the value: \(text.prefix(200))", target: "json")
        }
    }
}
