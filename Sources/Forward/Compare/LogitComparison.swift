import Foundation

/// How close two logit arrays [positions, vocab] are: absolute differences, cosine, NMSE, and per-position
/// argmax agreement. `reference` is the side NMSE is normalised by.
public struct LogitComparison: CustomStringConvertible, Sendable {
    public var positions: Int
    public var vocabSize: Int
    public var maxAbsDiff: Double
    /// The position holding `maxAbsDiff`.
    public var worstPosition: Int
    public var meanAbsDiff: Double
    /// Cosine similarity of the two arrays flattened.
    public var cosine: Double
    /// The lowest cosine of one position's logit vectors.
    public var minPositionCosine: Double
    /// `Σ(a - ref)² / Σ ref²`.
    public var nmse: Double
    /// Per position: do both sides pick the same top token.
    public var argmaxMatches: [Bool]

    public var argmaxAgreement: Int { argmaxMatches.filter { $0 }.count }
    public var argmaxAgreementFraction: Double { positions == 0 ? 1 : Double(argmaxAgreement) / Double(positions) }

    /// - Throws: `ForwardError.comparison` when the arrays do not both hold `k · vocabSize` values.
    public init(_ a: [Float], reference: [Float], vocabSize: Int) throws {
        guard vocabSize > 0, a.count == reference.count, a.count % vocabSize == 0 else {
            throw ForwardError(.comparison, "cannot compare \(a.count) logits with \(reference.count) (vocab \(vocabSize))")
        }
        self.vocabSize = vocabSize
        positions = a.count / vocabSize
        var maxAbs = 0.0, worst = 0, sumAbs = 0.0, dot = 0.0, na = 0.0, nr = 0.0, sq = 0.0
        var minCos = 1.0
        var matches = [Bool]()
        for p in 0..<positions {
            var pd = 0.0, pa = 0.0, pr = 0.0
            var bestA = 0, bestR = 0
            for j in 0..<vocabSize {
                let i = p * vocabSize + j
                let x = Double(a[i]), y = Double(reference[i]), d = abs(x - y)
                if d > maxAbs || d.isNaN { maxAbs = d.isNaN ? .nan : d; worst = p }
                sumAbs += d
                sq += (x - y) * (x - y)
                pd += x * y; pa += x * x; pr += y * y
                if a[i] > a[p * vocabSize + bestA] { bestA = j }
                if reference[i] > reference[p * vocabSize + bestR] { bestR = j }
            }
            dot += pd; na += pa; nr += pr
            minCos = min(minCos, Self.cos(pd, pa, pr))
            matches.append(bestA == bestR)
        }
        maxAbsDiff = maxAbs
        worstPosition = worst
        meanAbsDiff = a.isEmpty ? 0 : sumAbs / Double(a.count)
        cosine = Self.cos(dot, na, nr)
        minPositionCosine = minCos
        nmse = nr > 0 ? sq / nr : (sq > 0 ? .infinity : 0)
        argmaxMatches = matches
    }

    private static func cos(_ dot: Double, _ a: Double, _ b: Double) -> Double {
        if a == 0 && b == 0 { return 1 }
        if a == 0 || b == 0 { return 0 }
        return dot / (a.squareRoot() * b.squareRoot())
    }

    /// True when the max abs difference is within `maxAbs` and (unless `minArgmaxAgreement` says
    /// otherwise) every position picks the same top token.
    public func passes(maxAbs: Double, minArgmaxAgreement: Double = 1) -> Bool {
        maxAbsDiff <= maxAbs && argmaxAgreementFraction >= minArgmaxAgreement
    }

    public var description: String {
        String(format: "max abs diff %.3g (position %d), mean abs diff %.3g, cosine %.9f (min per position %.9f), NMSE %.3g, argmax %d/%d",
               maxAbsDiff, worstPosition, meanAbsDiff, cosine, minPositionCosine, nmse, argmaxAgreement, positions)
    }
}
