#if canImport(Glibc)
import Glibc
#endif

/// glibc malloc settings for tok-apply's record pipeline.
public enum MallocTuning {
    /// Turns glibc's fastbins off. tok-apply frees each batch's parsed records
    /// (thousands of small jansson nodes) on one thread while others allocate;
    /// with fastbins, larger requests then run malloc_consolidate over them,
    /// which cost about 15 % of tok-apply's user CPU on attested deposits
    /// (bench: 200,000 records, 19.5 s user before, 15.9 s after). Only when
    /// freed chunks are merged changes. A no-op where there is no glibc.
    public static func disableFastBins() {
        #if canImport(Glibc)
        // mallopt is in <malloc.h>, which the Glibc module does not import.
        typealias MalloptFunction = @convention(c) (Int32, Int32) -> Int32
        let maximumFastBinBytes: Int32 = 1  // M_MXFAST
        guard let symbol = dlsym(nil, "mallopt") else { return }  // nil: RTLD_DEFAULT
        _ = unsafeBitCast(symbol, to: MalloptFunction.self)(maximumFastBinBytes, 0)
        #endif
    }
}
