import CZstd
import TensorCore

/// Streaming zstd decompression (libzstd), allowing the 128 MiB window that `zstd --long=27` archives use.
public enum ZstdDecoder {
    public static func decompress(_ input: UnsafeRawBufferPointer, maxWindowLog: Int32 = 27) throws -> [UInt8] {
        guard let ctx = ZSTD_createDCtx() else { throw TensorCoreError(.compression, "cannot create a zstd context") }
        defer { ZSTD_freeDCtx(ctx) }
        ZSTD_DCtx_setParameter(ctx, ZSTD_d_windowLogMax, maxWindowLog)
        var out = [UInt8]()
        let chunk = ZSTD_DStreamOutSize()
        var buffer = [UInt8](repeating: 0, count: chunk)
        var inBuf = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
        var last: Int = 0
        repeat {
            let r: Int = buffer.withUnsafeMutableBytes { b in
                var outBuf = ZSTD_outBuffer(dst: b.baseAddress, size: chunk, pos: 0)
                let ret = ZSTD_decompressStream(ctx, &outBuf, &inBuf)
                out.append(contentsOf: UnsafeRawBufferPointer(start: b.baseAddress, count: outBuf.pos))
                return ret
            }
            if ZSTD_isError(r) != 0 {
                throw TensorCoreError(.compression, "zstd: \(String(cString: ZSTD_getErrorName(r)))", byteOffset: inBuf.pos)
            }
            last = r
        } while inBuf.pos < inBuf.size || last != 0
        return out
    }
}
