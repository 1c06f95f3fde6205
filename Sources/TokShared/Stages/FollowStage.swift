#if canImport(Glibc)
import Glibc
#endif
import Logging

/// How tok-follow runs.
public struct FollowOptions: Sendable {
    public enum Mode: Sendable { case once, follow }
    public var mode: Mode
    /// At most this many blocks connected in this run (disconnections are not counted).
    public var maxBlocks: Int?
    /// How long `--follow` waits at the tip before looking again.
    public var pollMilliseconds: Int
    /// Blocks fetched (and written, and flushed) together.
    public var batchBlocks: Int

    public init(mode: Mode, maxBlocks: Int? = nil, pollMilliseconds: Int = 2_000, batchBlocks: Int = 20) {
        precondition(pollMilliseconds > 0 && batchBlocks > 0 && (maxBlocks ?? 1) > 0)
        self.mode = mode
        self.maxBlocks = maxBlocks
        self.pollMilliseconds = pollMilliseconds
        self.batchBlocks = batchBlocks
    }
}

/// What a run did.
public struct FollowSummary: Sendable {
    public var connected = 0
    public var disconnected = 0
    public var tipHeight: Int64?
}

/// tok-follow: writes one attested record per block of one network's chain,
/// in chain order, continuing from the chain tok-apply's ledger holds (read
/// only). When the ledger's tip is no longer on the node's main chain it walks
/// back to the fork point and writes one `disconnected` record per abandoned
/// block, newest first, then the new branch; a fork deeper than the network's
/// `max_reorg_depth` stops the run instead of guessing.
public final class FollowStage {
    private let network: NetworkConfig
    private let attestor: Attestor
    private let follower: BlockFollower
    private let options: FollowOptions
    private let logger: Logger
    private let writer: OutputWriter
    private let ledgerPath: String?
    private let busyTimeoutMilliseconds: Int
    /// For a PostgreSQL ledger: the password and session settings to connect with.
    private let config: TokConfig?
    /// The chain as this run knows it, oldest first: the ledger's newest
    /// blocks, then what this run wrote. At most max_reorg_depth + 1 long.
    private var chain: [(height: Int64, hash: String, previousHash: String)] = []
    private var summary = FollowSummary()
    private let startedMilliseconds = monotonicMilliseconds()
    /// `--metrics-file` (rewritten at its interval while following) and progress, when asked for.
    public var metrics: MetricsFile?
    public var progressMeter: ProgressMeter?

    public init(
        network: NetworkConfig, attestor: Attestor, follower: BlockFollower, options: FollowOptions,
        ledgerPath: String?, busyTimeoutMilliseconds: Int, logger: Logger, writer: OutputWriter = OutputWriter(),
        config: TokConfig? = nil
    ) {
        self.config = config
        self.network = network
        self.attestor = attestor
        self.follower = follower
        self.options = options
        self.ledgerPath = ledgerPath
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.logger = logger
        self.writer = writer
    }

    /// Why a run stopped early; mapped to exit codes by the tool.
    public enum Stop: Error, CustomStringConvertible {
        case reorgTooDeep(String)
        case node(TokError)
        case output(String)
        case ledger(String)
        /// The ledger named is not one tok can use (another application's, not
        /// a database, a newer schema): permanent, unlike `ledger`.
        case unusableLedger(String)
        case config(String)

        public var description: String {
            switch self {
            case .reorgTooDeep(let text), .output(let text), .ledger(let text), .unusableLedger(let text),
                .config(let text):
                return text
            case .node(let error): return "the node of the network failed: \(error)"
            }
        }
    }

    public func run() async throws(Stop) -> FollowSummary {
        // The ledger first: a database tok cannot use is reported before any node is asked.
        try loadPosition()
        try await withNode { () async throws(TokError) in try await follower.checkChain() }
        StopSignal.install()
        while !StopSignal.requested {
            let tip = try await withNode { () async throws(TokError) in try await follower.tipHeight() }
            summary.tipHeight = tip
            try await reconcile()
            let moved = try await advance(to: tip)
            if budgetSpent { break }
            if moved { continue }
            // At the tip.
            if options.mode == .once { break }
            try resyncWithLedger()
            StopSignal.sleep(milliseconds: options.pollMilliseconds)
            metrics?.tick(RunSummary(), logger: logger)
        }
        return summary
    }

    private var budgetSpent: Bool { options.maxBlocks.map { summary.connected >= $0 } ?? false }

    // MARK: Position

    /// The ledger's newest blocks of this network, or nothing (start at follow_start_height).
    private func loadPosition() throws(Stop) {
        chain = try ledgerChain() ?? []
        if chain.isEmpty, network.followStartHeight == nil {
            throw .config(
                "network \(network.alias) has no follow_start_height: set the first block the ledger takes (never a silent \"tip minus N\")"
            )
        }
        if let ledger = try openLedger() {
            do { follower.watchCoins(try ledger.watchedCoins(chain: network.chainText)) } catch {
                throw .ledger(
                    "reading the operator's coins from \(ledgerPath.map { DatabaseTarget($0).description } ?? "?"): \(error)"
                )
            }
        }
        logger.info(
            "following",
            metadata: [
                "network": "\(network.alias)",
                "from": "\(chain.last.map { "\($0.height + 1)" } ?? "\(network.followStartHeight ?? 0)")",
            ])
    }

    private func openLedger() throws(Stop) -> Ledger? {
        guard let ledgerPath else { return nil }
        do {
            if let config, case .postgresql = DatabaseTarget(ledgerPath) {
                // A reader's session: committed snapshots, no lock, never in the writer's way.
                return try Ledger.readOnlyIfReady(
                    target: DatabaseTarget(ledgerPath), config: config, tool: "tok-follow", logger: logger)
            }
            return try Ledger.readOnlyIfReady(
                path: ledgerPath, busyTimeoutMilliseconds: busyTimeoutMilliseconds, logger: logger)
        } catch  where error.kind == .unusable {
            throw .unusableLedger("cannot use the ledger \(DatabaseTarget(ledgerPath)): \(error)")
        } catch {
            throw .ledger("cannot read the ledger \(DatabaseTarget(ledgerPath)): \(error)")
        }
    }

    private func ledgerChain() throws(Stop) -> [(height: Int64, hash: String, previousHash: String)]? {
        guard let ledger = try openLedger() else { return nil }
        do {
            return try ledger.recentBlocks(chain: network.chainText, limit: network.maxReorgDepth + 1).reversed()
                .map { ($0.height, $0.hash, $0.previousHash) }
        } catch {
            throw .ledger("reading the ledger's chain of \(network.alias): \(error)")
        }
    }

    /// At the tip in `--follow`: if tok-apply did not take what this run wrote
    /// (it refused a block, or died), continue from what the ledger holds.
    private func resyncWithLedger() throws(Stop) {
        guard let stored = try ledgerChain(), let storedTip = stored.last else { return }
        if storedTip.hash != chain.last?.hash {
            logger.notice(
                "the ledger's tip is not this run's: continuing from the ledger",
                metadata: ["ledger": "\(storedTip.height)", "written": "\(chain.last?.height ?? -1)"])
            chain = stored
        }
    }

    // MARK: Reorganisations

    /// Makes sure the newest known block is on the node's main chain, writing
    /// `disconnected` records back to the fork point if it is not.
    private func reconcile() async throws(Stop) {
        guard let tip = chain.last else { return }
        let newest = try await withNode { () async throws(TokError) in
            try await follower.blockHashes(heights: [tip.height])
        }
        if newest.first == tip.hash { return }
        let known = chain
        let onNode = try await withNode { () async throws(TokError) in
            try await follower.blockHashes(heights: known.map(\.height))
        }
        // The newest block both agree on; none, when the fork is below the first
        // block the ledger took (then all of them go, if they reach back to it).
        let forkIndex: Int
        if let agreed = known.indices.reversed().first(where: { onNode[$0] == known[$0].hash }) {
            forkIndex = agreed
        } else if known.first?.height == network.followStartHeight {
            forkIndex = -1
        } else {
            throw .reorgTooDeep(
                "network \(network.alias): none of the ledger's last \(known.count) blocks is on the node's main chain any more; a reorganisation deeper than max_reorg_depth = \(network.maxReorgDepth) needs an operator"
            )
        }
        let depth = known.count - 1 - forkIndex
        guard depth <= network.maxReorgDepth else {
            throw .reorgTooDeep(
                "network \(network.alias): a reorganisation of \(depth) blocks is deeper than max_reorg_depth = \(network.maxReorgDepth)"
            )
        }
        logger.warning(
            "reorganisation",
            metadata: [
                "network": "\(network.alias)", "depth": "\(depth)",
                "fork_height": "\(forkIndex >= 0 ? known[forkIndex].height : (network.followStartHeight ?? 0) - 1)",
            ])
        for block in known[(forkIndex + 1)...].reversed() {
            let identity = FollowedBlock(
                network: network.chainText, height: block.height, hash: block.hash,
                previousHash: block.previousHash, timeUnixSeconds: 0)
            try write([BlockFlow.record(identity, disconnected: true, attestor: attestor)])
            chain.removeLast()
            summary.disconnected += 1
        }
        try flush()
    }

    // MARK: The main chain forward

    /// Writes blocks from the one after the known tip up to `tip`, batch by
    /// batch; false when there was nothing to write. Stops at a block that
    /// does not link (the chain moved): the caller reconciles first. While a
    /// batch is handled and written, the next one is fetched (at most one
    /// ahead): the node works while tok does. A batch fetched ahead and not
    /// used (a stop, a block that does not link) is cancelled and dropped.
    private func advance(to tip: Int64) async throws(Stop) -> Bool {
        var moved = false
        let first = chain.last.map { $0.height + 1 } ?? (network.followStartHeight ?? 0)
        guard var range = batchRange(from: first, tip: tip, alreadyTaken: 0) else { return false }
        let follower = self.follower
        var fetched = await FollowStage.fetchAhead(follower, range)
        while !StopSignal.requested && !budgetSpent {
            let nextRange = batchRange(from: range.upperBound + 1, tip: tip, alreadyTaken: range.count)
            async let ahead = FollowStage.fetchAhead(follower, nextRange)
            var pending: Result<FetchedBlocks, TokError>? = fetched
            let current = range
            let blocks = try await withNode { () async throws(TokError) in
                // The batch fetched ahead first; a retry reads it all again.
                if let batch = pending {
                    pending = nil
                    return try await follower.blocks(fetched: batch.get())
                }
                return try await follower.blocks(heights: current)
            }
            var records: [JSON] = []
            for block in blocks {
                if let last = chain.last, block.previousHash != last.hash { break }
                records.append(BlockFlow.record(block, disconnected: false, attestor: attestor))
                append(block)
            }
            if records.isEmpty { break }
            try write(records)
            try flush()
            moved = true
            progress()
            if records.count < blocks.count || blocks.count < range.count { break }
            guard let nextRange, let next = await ahead else { break }
            (range, fetched) = (nextRange, next)
        }
        return moved
    }

    /// The batch starting at `first`, up to `tip` and within --max-blocks once
    /// `alreadyTaken` more blocks are connected; nil when there is none.
    private func batchRange(from first: Int64, tip: Int64, alreadyTaken: Int) -> ClosedRange<Int64>? {
        guard first <= tip else { return nil }
        var upper = min(first + Int64(options.batchBlocks) - 1, tip)
        if let maxBlocks = options.maxBlocks {
            let left = maxBlocks - summary.connected - alreadyTaken
            guard left > 0 else { return nil }
            upper = min(upper, first + Int64(left) - 1)
        }
        return first...upper
    }

    /// The node's part of a batch, its failure kept for the loop (which retries as for any node call).
    private static func fetchAhead(
        _ follower: BlockFollower, _ range: ClosedRange<Int64>?
    ) async -> Result<FetchedBlocks, TokError>? {
        guard let range else { return nil }
        do { return .success(try await follower.fetchBlocks(heights: range)) } catch { return .failure(error) }
    }

    private func append(_ block: FollowedBlock) {
        chain.append((block.height, block.hash, block.previousHash))
        if chain.count > network.maxReorgDepth + 1 { chain.removeFirst(chain.count - network.maxReorgDepth - 1) }
        summary.connected += 1
    }

    private func progress() {
        let height = chain.last?.height ?? -1, tip = summary.tipHeight ?? -1
        progressMeter?.update(
            records: summary.connected + summary.disconnected, detail: "height \(height) of tip \(tip)")
        let labels = [("tool", "tok-follow"), ("network", network.alias)]
        MetricsRegistry.shared.set(.followHeight, labels, height)
        MetricsRegistry.shared.set(.followTip, labels, tip)
        MetricsRegistry.shared.set(.followBlocks, labels + [("kind", "connected")], Int64(summary.connected))
        MetricsRegistry.shared.set(.followBlocks, labels + [("kind", "disconnected")], Int64(summary.disconnected))
        metrics?.tick(RunSummary(), logger: logger)
        let seconds = max(1, monotonicMilliseconds() - startedMilliseconds)
        let rate = Double(summary.connected) * 1000 / Double(seconds)
        logger.info(
            "followed",
            metadata: [
                "network": "\(network.alias)", "height": "\(chain.last?.height ?? -1)",
                "tip": "\(summary.tipHeight ?? -1)", "blocks": "\(summary.connected)",
                "blocks_per_second": "\(Int(rate.rounded()))",
            ])
    }

    // MARK: I/O

    private func write(_ records: [JSON]) throws(Stop) {
        do { for record in records { try writer.writeLine(record) } } catch {
            throw .output("writing standard output failed: \(error)")
        }
    }

    private func flush() throws(Stop) {
        do { try writer.flush() } catch { throw .output("writing standard output failed: \(error)") }
        TokLogging.flush()
    }

    /// Node calls, retried with backoff in `--follow` (bounded, never silent);
    /// in `--once` the RPC client's own retries are all: the run stops with a
    /// clear error and cron tries again.
    private func withNode<T>(_ call: () async throws(TokError) -> T) async throws(Stop) -> T {
        var waitMilliseconds = 500
        while true {
            do {
                return try await call()
            } catch {
                guard options.mode == .follow, !StopSignal.requested,
                    error.code == .rpcUnavailable || error.code == .rpcError || error.code == .txNotFound
                else {
                    throw .node(error)
                }
                logger.warning(
                    "node call failed; trying again",
                    metadata: [
                        "network": "\(network.alias)", "error": "\(error)",
                        "in_ms": "\(waitMilliseconds)",
                    ])
                StopSignal.sleep(milliseconds: waitMilliseconds)
                waitMilliseconds = min(waitMilliseconds * 2, 60_000)
            }
        }
    }
}

/// SIGTERM and SIGINT ask a long-running tool to stop at its next boundary
/// (a block batch), instead of dying in the middle of writing one.
public enum StopSignal {
    nonisolated(unsafe) private static var flag: sig_atomic_t = 0

    public static var requested: Bool { flag != 0 }

    public static func install() {
        signal(SIGTERM) { _ in StopSignal.flag = 1 }
        signal(SIGINT) { _ in StopSignal.flag = 1 }
    }

    /// Sleeps, waking early when a stop is requested.
    public static func sleep(milliseconds: Int) {
        var left = milliseconds
        while left > 0 && !requested {
            let step = min(left, 100)
            usleep(UInt32(step) * 1000)
            left -= step
        }
    }
}
