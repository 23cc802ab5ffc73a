/// Which node writes which data file of a split conversion.
///
/// Every node computes this on its own from the plan, so it must depend on nothing but the planned file
/// sizes and the node count: files largest first (plan order among equals), each to the node with the
/// fewest bytes so far (the lowest-numbered among equals). That keeps the nodes within one file's size of
/// each other, whatever the layout.
public enum NodeAssignment {
    /// The node (0 ..< nodes) of each file, in the order of `sizes`.
    public static func assign(sizes: [Int], nodes: Int) -> [Int] {
        precondition(nodes >= 1)
        var load = [Int](repeating: 0, count: nodes)
        var owner = [Int](repeating: 0, count: sizes.count)
        let order = sizes.indices.sorted { sizes[$0] != sizes[$1] ? sizes[$0] > sizes[$1] : $0 < $1 }
        for i in order {
            var best = 0
            for n in 1..<nodes where load[n] < load[best] { best = n }
            owner[i] = best
            load[best] += sizes[i]
        }
        return owner
    }
}
