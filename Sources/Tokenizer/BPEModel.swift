/// The byte-level BPE model of tokenizer.json: a vocabulary of byte-level strings and ranked merges.
struct BPEModel {
    /// Token string → id.
    let vocab: [String: Int]
    /// Id → token string (nil where the id belongs to no vocabulary entry).
    let tokens: [String?]
    /// (left id, right id) → (rank, merged id).
    let merges: [Pair: (rank: Int, id: Int)]
    /// The id of each byte's alphabet scalar (every byte has one; checked when loading).
    let byteIds: [Int]
    /// tokenizers' `ignore_merges`: a piece that is itself in the vocabulary is one token.
    let ignoreMerges: Bool

    struct Pair: Hashable {
        var left: Int
        var right: Int
    }

    /// The ids of one pre-tokenized piece (its UTF-8 bytes).
    ///
    /// The merge order is tokenizers': repeatedly merge the adjacent pair of lowest rank, the leftmost of
    /// equal ranks. A binary heap of candidate merges keyed (rank, position) with lazy invalidation keeps
    /// long pieces (runs of one character) near n·log n.
    func encode(_ bytes: [UInt8]) -> [Int] {
        if ignoreMerges, let id = vocab[String(String.UnicodeScalarView(bytes.map { ByteLevel.scalarOfByte[Int($0)] }))] {
            return [id]
        }
        var ids = bytes.map { byteIds[Int($0)] }
        if ids.count < 2 { return ids }
        // A doubly linked list over the symbols; merged-away symbols get id -1.
        var next = Array(1...ids.count); next[ids.count - 1] = -1
        var prev = Array(-1..<(ids.count - 1))
        var heap = MergeHeap()
        for p in 0..<(ids.count - 1) {
            if let m = merges[Pair(left: ids[p], right: ids[p + 1])] { heap.push(.init(rank: m.rank, pos: p, id: m.id)) }
        }
        while let top = heap.pop() {
            let p = top.pos
            guard ids[p] >= 0, next[p] >= 0 else { continue }
            let q = next[p]
            // Stale entry: the pair at p changed since it was pushed.
            guard let m = merges[Pair(left: ids[p], right: ids[q])], m.id == top.id else { continue }
            ids[p] = m.id
            ids[q] = -1
            next[p] = next[q]
            if next[q] >= 0 { prev[next[q]] = p }
            if prev[p] >= 0, let left = merges[Pair(left: ids[prev[p]], right: ids[p])] {
                heap.push(.init(rank: left.rank, pos: prev[p], id: left.id))
            }
            if next[p] >= 0, let right = merges[Pair(left: ids[p], right: ids[next[p]])] {
                heap.push(.init(rank: right.rank, pos: p, id: right.id))
            }
        }
        return ids.filter { $0 >= 0 }
    }
}

/// A min-heap of candidate merges ordered by (rank, position).
struct MergeHeap {
    struct Entry {
        var rank: Int
        var pos: Int
        var id: Int
        func before(_ o: Entry) -> Bool { rank != o.rank ? rank < o.rank : pos < o.pos }
    }

    private var items = [Entry]()

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].before(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, items[l].before(items[m]) { m = l }
                if r < items.count, items[r].before(items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return first
    }
}
