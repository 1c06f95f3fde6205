import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// CPU-bound work split over the machine's cores (parsing, validating and
/// serialising records). Results keep input order. Each chunk touches only its
/// own records, so no record is shared between threads.
public enum ParallelWork {
    /// Worker threads: $TOK_THREADS, else the online core count, at most 16.
    public static let workers: Int = {
        if let text = getenv("TOK_THREADS"), let count = Int(String(cString: text)), count >= 1 {
            return min(count, 16)
        }
        return max(1, min(Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))), 16))
    }()

    /// Below this many items a batch runs on the calling thread: handing work
    /// to another thread costs more than it saves.
    static let minimumItemsToSplit = 64

    /// Calls `body` once per contiguous chunk of `0..<count`, in parallel on at most `workers` threads.
    public static func forEachChunk(count: Int, workers: Int = workers, _ body: (Range<Int>) -> Void) {
        let chunks = count < minimumItemsToSplit ? 1 : min(workers, count)
        if chunks <= 1 {
            if count > 0 { body(0..<count) }
            return
        }
        let chunkSize = (count + chunks - 1) / chunks
        // The callers' closures capture records (not Sendable); each chunk
        // touches only its own range, which is what makes sharing them safe.
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                let start = chunk * chunkSize
                let end = min(start + chunkSize, count)
                if start < end { shared.value(start..<end) }
            }
        }
    }

    /// Maps `0..<count` to results in order, computing chunks in parallel.
    public static func map<T>(count: Int, workers: Int = workers, _ transform: (Int) -> T) -> [T] {
        var results = [T?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { slots in
            guard let base = slots.baseAddress else { return }
            forEachChunk(count: count, workers: workers) { range in
                for index in range { (base + index).pointee = transform(index) }
            }
        }
        return results.map { $0! }
    }
}

/// A value handed to other threads under a rule the compiler cannot check
/// (each user states the rule where it wraps the value).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
