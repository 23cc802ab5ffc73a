import ArgumentParser
import Foundation
import TensorCore

/// Exit statuses shared by every command.
enum Status {
    /// Done, and (for diff/verify) the checkpoints agree.
    static let ok: Int32 = 0
    /// The checkpoints differ (diff) or the logits disagree (verify).
    static let different: Int32 = 1
    /// Bad input, bad request or an I/O failure.
    static let error: Int32 = 2
}

/// Runs a command body; a project error becomes one clear line (plus a hint, and the cause chain with
/// `--verbose`) on stderr and exit status 2.
func runReportingErrors(verbose: Bool = false, _ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as ExitCode {
        throw e
    } catch let e as CleanExit {
        throw e
    } catch let e as DiagnosticError {
        var err = StandardError()
        print("error: \(e.oneLine)", to: &err)
        if let hint = e.hint { print("hint: \(hint)", to: &err) }
        if verbose { for c in e.causeChain { print("  caused by: \(c)", to: &err) } }
        throw ExitCode(Status.error)
    } catch let e as ValidationError {
        throw e
    } catch {
        var err = StandardError()
        print("error: \(error)", to: &err)
        throw ExitCode(Status.error)
    }
}

/// stderr as a `TextOutputStream`.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}

/// Column-aligned plain-text tables.
func renderTable(_ header: [String], _ rows: [[String]], rightAligned: Set<Int> = []) -> String {
    var widths = header.map(\.count)
    for r in rows { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in
            let pad = String(repeating: " ", count: max(0, widths[i] - c.count))
            return rightAligned.contains(i) ? pad + c : c + pad
        }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
    }
    return ([line(header)] + rows.map(line)).joined(separator: "\n")
}
