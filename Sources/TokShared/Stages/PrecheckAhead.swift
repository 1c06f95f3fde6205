import Dispatch

/// A batch's prechecks, run on one background thread while the ledger pass
/// consumes them in order. Checking an attestation and reading a record's
/// facts cost about a third of a record's CPU: run before the pass (even on
/// every core) they held up the sequential ledger pass, which is what bounds
/// tok-apply's throughput; run beside it they are off its path, and the pass
/// waits only for the first chunk.
///
/// Records never cross threads while in use: the background thread touches a
/// chunk's records (a check removes and restores the attestation) only until
/// it signals that chunk, and the pass touches them only after waiting for it.
final class PrecheckAhead: @unchecked Sendable {
    /// Records per hand-over: small enough that the pass starts at once, large
    /// enough that signalling costs nothing next to the work.
    static let chunkRecords = 32
    /// Below this many records the prechecks run on the calling thread:
    /// handing work to another thread costs more than it saves.
    static let minimumRecordsForThread = 64
    /// A serial queue of its own: it gets a thread even when the shared pool's
    /// threads are all busy (parsing the next batch), so the pass never waits for one.
    private static let queue = DispatchQueue(label: "tok-apply.precheck")

    private let results: UnsafeMutableBufferPointer<(any ApplyPrecheck)?>
    private let chunkDone: [DispatchSemaphore]
    private let finished = DispatchSemaphore(value: 0)
    private var chunksAwaited = 0
    private let threaded: Bool
    private var isFinished = false

    /// Starts `precheck(index)` for every index of `0..<count`. The caller
    /// must call `finish()` before anything `precheck` captures goes away.
    init(count: Int, _ precheck: @escaping (Int) -> (any ApplyPrecheck)?) {
        results = .allocate(capacity: count)
        results.initialize(repeating: nil)
        threaded = count >= PrecheckAhead.minimumRecordsForThread
        let chunks = (count + PrecheckAhead.chunkRecords - 1) / PrecheckAhead.chunkRecords
        chunkDone = (0..<(threaded ? chunks : 0)).map { _ in DispatchSemaphore(value: 0) }
        guard threaded else {
            for index in 0..<count { results[index] = precheck(index) }
            return
        }
        // The closure captures records (not Sendable); the chunk hand-over above is what makes that safe.
        let work = UncheckedSendable(precheck)
        PrecheckAhead.queue.async { [self] in
            for chunk in 0..<chunks {
                let start = chunk * PrecheckAhead.chunkRecords
                for index in start..<min(start + PrecheckAhead.chunkRecords, count) {
                    results[index] = work.value(index)
                }
                chunkDone[chunk].signal()
            }
            finished.signal()
        }
    }

    deinit {
        results.deinitialize()
        results.deallocate()
    }

    /// The precheck of record `index`, waiting for its chunk. Indices come in increasing order.
    func result(_ index: Int) -> (any ApplyPrecheck)? {
        if threaded {
            let chunk = index / PrecheckAhead.chunkRecords
            while chunksAwaited <= chunk {
                chunkDone[chunksAwaited].wait()
                chunksAwaited += 1
            }
        }
        return results[index]
    }

    /// Waits until the background thread is done with every record (once; later calls return at once).
    func finish() {
        guard threaded, !isFinished else { return }
        finished.wait()
        isFinished = true
    }
}
