#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Logging

/// Options every stage tool shares.
public struct CommonOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Operator config (TOML). Default: $TOK_CONFIG.", valueName: "file"))
    public var config: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Records per batch (flush and, in tok-apply, transaction size). Default: engine.batch_size.", valueName: "n"
        ))
    public var batchSize: Int?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Longest accepted input line in bytes. Default: engine.max_line_bytes (1 MiB).", valueName: "bytes"))
    public var maxLineBytes: Int?

    @Flag(
        name: .long,
        help: "Exit 65 when any record leaves this stage rejected (the stream is still processed to the end).")
    public var strict = false

    @Option(name: .long, help: ArgumentHelp("Default: $TOK_LOG_LEVEL or info.", valueName: "level"))
    public var logLevel: LogLevel?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Write Prometheus textfile metrics here (atomically) at the end of the run, and every --metrics-interval-seconds while it runs.",
            valueName: "path"))
    public var metricsFile: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How often a running tool rewrites --metrics-file, in seconds (0: after every batch).", valueName: "s"))
    public var metricsIntervalSeconds = 60

    @Flag(
        name: .long, inversion: .prefixedNo,
        help: "Show progress on stderr (records, records/s). Default: only when stderr is a terminal.")
    public var progress: Bool?

    public init() {}

    /// The run's metrics file and progress meter, as asked.
    public func instruments(tool: String) -> (metrics: MetricsFile?, progress: ProgressMeter?) {
        (
            metricsFile.map { MetricsFile(path: $0, tool: tool, intervalSeconds: metricsIntervalSeconds) },
            ProgressMeter.make(tool: tool, option: progress)
        )
    }

    public func validate() throws {
        guard (0...86_400).contains(metricsIntervalSeconds) else {
            throw ValidationError("--metrics-interval-seconds must be 0...86400")
        }
        if let batchSize, !(1...100_000).contains(batchSize) {
            throw ValidationError("--batch-size must be 1...100000")
        }
        if let maxLineBytes, !(1024...(64 << 20)).contains(maxLineBytes) {
            throw ValidationError("--max-line-bytes must be 1024...67108864")
        }
    }

    public func loadConfig() throws -> TokConfig {
        guard let path = config ?? getenv("TOK_CONFIG").map({ String(cString: $0) }) else {
            throw StageFailure(.usage, "no config: pass --config FILE or set TOK_CONFIG")
        }
        return try TokConfig.load(path: path)
    }

    public func runnerOptions(_ config: TokConfig) -> RunnerOptions {
        RunnerOptions(
            maxLineBytes: maxLineBytes ?? config.engine.maxLineBytes,
            batchSize: batchSize ?? config.engine.batchSize, strict: strict)
    }
}

/// `--log-level`: swift-log's levels, parsed and listed in `--help` by the argument parser.
public enum LogLevel: String, ExpressibleByArgument, CaseIterable, Sendable {
    case trace, debug, info, notice, warning, error, critical
}

extension Op: ExpressibleByArgument {}

/// --wait and its limits, for the stages that watch a chain (tok-verify, tok-submit).
public struct WaitOptions: ParsableArguments {
    @Flag(
        name: .long,
        help:
            "Hold each batch until its records are final on chain (confirmation level reached, or failed) or --wait-timeout-milliseconds passes."
    )
    public var wait = false

    @Option(name: .long, help: ArgumentHelp("How long --wait holds a batch, in milliseconds.", valueName: "ms"))
    public var waitTimeoutMilliseconds = 600_000

    @Option(name: .long, help: ArgumentHelp("Polling interval while waiting, in milliseconds.", valueName: "ms"))
    public var pollMilliseconds = 2_000

    public init() {}

    public func validate() throws {
        guard (0...86_400_000).contains(waitTimeoutMilliseconds) else {
            throw ValidationError("--wait-timeout-milliseconds must be 0...86400000")
        }
        guard (10...600_000).contains(pollMilliseconds) else {
            throw ValidationError("--poll-milliseconds must be 10...600000")
        }
    }

    public var policy: WaitPolicy? {
        wait ? WaitPolicy(timeoutMilliseconds: waitTimeoutMilliseconds, pollMilliseconds: pollMilliseconds) : nil
    }
}

/// The life of a stage process: load config, build the stage, run the stream,
/// map every failure to a sysexits code with one clear line on stderr. Each
/// returns the code; only the command (the argument parser) ends the process.
public enum ToolMain {
    public static func run(
        tool: String, options: CommonOptions,
        makeStage: (TokConfig, Logger) throws -> Stage
    ) async -> SysExit {
        let logger = TokLogging.logger(tool: tool, level: options.logLevel?.rawValue)
        // A closed downstream pipe must surface as a write error, not kill us silently mid-batch.
        signal(SIGPIPE, SIG_IGN)
        let code: SysExit
        let (metrics, progress) = options.instruments(tool: tool)
        var runner: StageRunner?
        do {
            let config = try options.loadConfig()
            let stage = try makeStage(config, logger)
            let made = StageRunner(stage: stage, options: options.runnerOptions(config), logger: logger)
            made.metrics = metrics
            made.progress = progress
            if let source = stage as? MetricsSource { metrics?.collect = { source.collectMetrics(tool: tool) } }
            runner = made
            let summary = try await made.run()
            let counts = summary.byStatus.keys.sorted().map { "\($0)=\(summary.byStatus[$0]!)" }.joined(separator: " ")
            logger.info(
                "done",
                metadata: ["lines": "\(summary.lines)", "records": "\(summary.outputs)", "statuses": "\(counts)"])
            code = exitStatus(summary, strict: options.strict)
            if code == .unavailable {
                TokLogging.write(
                    "\(tool): \(summary.operatorFaults) record(s) refused for the operator's setup (\(operatorFaultCodes(summary))); fix it and send them again\n"
                )
            }
        } catch {
            code = report(error, tool: tool)
        }
        progress?.finish()
        metrics?.write(runner?.summary, exit: code, logger: logger)
        TokLogging.flush()
        return code
    }

    /// Writes records produced without reading stdin (e.g. `tok-apply --open-payouts`).
    public static func emit(
        tool: String, options: CommonOptions, produce: (TokConfig, Logger) throws -> [JSON]
    ) async -> SysExit {
        let logger = TokLogging.logger(tool: tool, level: options.logLevel?.rawValue)
        signal(SIGPIPE, SIG_IGN)
        let code: SysExit
        let metrics = options.instruments(tool: tool).metrics
        var written = RunSummary()
        do {
            let config = try options.loadConfig()
            let records = try produce(config, logger)
            for record in records { written.countOutput(record, before: InputState(JSON.object())) }
            let writer = OutputWriter()
            do {
                for record in records { try writer.writeLine(record) }
                try writer.flush()
            } catch {
                throw StageFailure(.ioError, "writing standard output failed: \(error)")
            }
            logger.info("done", metadata: ["records": "\(records.count)"])
            code = .ok
        } catch {
            code = report(error, tool: tool)
        }
        metrics?.write(written, exit: code, logger: logger)
        TokLogging.flush()
        return code
    }

    /// tok-follow: writes a network's blocks until the tip (or for ever, or a bound).
    public static func follow(
        tool: String, options: CommonOptions, network name: String, ledgerPath: String?,
        follow: FollowOptions
    ) async -> SysExit {
        let logger = TokLogging.logger(tool: tool, level: options.logLevel?.rawValue)
        signal(SIGPIPE, SIG_IGN)
        let code: SysExit
        let (metrics, progress) = options.instruments(tool: tool)
        do {
            let config = try options.loadConfig()
            // It talks to the network's node: its RPC password must be at hand.
            try config.requireChainCredentials()
            guard let network = config.network(named: name) else {
                throw StageFailure(.usage, "network \(name) is not configured")
            }
            let follower: BlockFollower
            do { follower = try network.family.makeBlockFollower(for: network, logger: logger) } catch {
                throw StageFailure(.unavailable, error.message)
            }
            let stage = FollowStage(
                network: network, attestor: try attestor(config), follower: follower, options: follow,
                ledgerPath: ledgerPath ?? config.database.url,
                busyTimeoutMilliseconds: config.database.lockTimeoutMilliseconds,
                logger: logger, config: config)
            (stage.metrics, stage.progressMeter) = (metrics, progress)
            let summary = try await stage.run()
            logger.info(
                "done",
                metadata: [
                    "network": "\(network.alias)", "connected": "\(summary.connected)",
                    "disconnected": "\(summary.disconnected)", "tip": "\(summary.tipHeight ?? -1)",
                ])
            code = .ok
        } catch {
            code = report(error, tool: tool)
        }
        progress?.finish()
        metrics?.write(nil, exit: code, logger: logger)
        TokLogging.flush()
        return code
    }

    /// The ledger an operator's command works on, opened as its writer: it must exist already (a SQLite path
    /// that names no file exits 66 rather than creating an empty ledger to act on).
    static func openExistingLedger(
        database: String?, config: TokConfig, lockTimeoutMilliseconds: Int?, tool: String, logger: Logger
    ) throws -> (DatabaseTarget, any WriterLock, Ledger) {
        let target = try DatabaseTarget.resolve(argument: database, config: config)
        if case .sqlite(let path) = target, access(path, F_OK) != 0 {
            throw StageFailure(.noInput, "no database at \(path)")
        }
        let (lock, ledger) = try Ledger.openWriter(
            target: target, config: config, lockTimeoutMilliseconds: lockTimeoutMilliseconds, tool: tool,
            logger: logger)
        return (target, lock, ledger)
    }

    /// An operator's action on an existing ledger (resolutions): one
    /// transition in one batch transaction under the writer lock; its answer
    /// is one JSON line on standard output.
    public static func operatorAction(
        tool: String, options: CommonOptions, database: String?, lockTimeoutMilliseconds: Int?,
        action: @escaping (TokConfig, Ledger, Int64) throws -> JSON
    ) async -> SysExit {
        await emit(tool: tool, options: options) { config, logger in
            let (_, lock, ledger) = try openExistingLedger(
                database: database, config: config, lockTimeoutMilliseconds: lockTimeoutMilliseconds, tool: tool,
                logger: logger)
            return try lock.withLock {
                let now = Ledger.nowMilliseconds()
                var answer: Result<JSON, Error> = .failure(StageFailure(.software, "no answer"))
                try ledger.inBatch {
                    answer = Result { try action(config, ledger, now) }
                    if case .failure(let error) = answer { throw error }
                }
                return [try answer.get()]
            }
        }
    }

    /// `tok-apply --check`: runs the invariant checks under the writer lock, so
    /// it never reads a state in the middle of a batch.
    public static func check(
        tool: String, options: CommonOptions, database: String?,
        lockTimeoutMilliseconds: Int?
    ) async -> SysExit {
        let logger = TokLogging.logger(tool: tool, level: options.logLevel?.rawValue)
        let metrics = options.instruments(tool: tool).metrics
        var code: SysExit = .ok
        defer { metrics?.write(nil, exit: code, logger: logger) }
        do {
            let config = try options.loadConfig()
            let (target, lock, ledger) = try openExistingLedger(
                database: database, config: config, lockTimeoutMilliseconds: lockTimeoutMilliseconds, tool: tool,
                logger: logger)
            // Under the lock, so the check never sees a batch half-way.
            let violations = try lock.withLock { try ledger.checkInvariants() }
            for violation in violations { print("violation: \(violation)") }
            if violations.isEmpty {
                print("ok: all invariants hold in \(target)")
                code = .ok
            } else {
                code = .dataError
            }
        } catch {
            code = report(error, tool: tool)
        }
        TokLogging.flush()
        return code
    }

    /// `tok-apply copy`: copies the ledger at `from` into the empty database at
    /// `to`, holding both writer locks, then proves the copy equal.
    public static func copy(
        tool: String, options: CommonOptions, from: String, to: String,
        lockTimeoutMilliseconds: Int?
    ) async -> SysExit {
        let logger = TokLogging.logger(tool: tool, level: options.logLevel?.rawValue)
        let code: SysExit
        do {
            let config = try options.loadConfig()
            let source = DatabaseTarget(from), destination = DatabaseTarget(to)
            guard source != destination else { throw StageFailure(.usage, "--from and --to name the same database") }
            if case .sqlite(let path) = source, access(path, F_OK) != 0 {
                throw StageFailure(.noInput, "no database at \(path)")
            }
            let (sourceLock, sourceLedger) = try Ledger.openWriter(
                target: source, config: config, lockTimeoutMilliseconds: lockTimeoutMilliseconds,
                tool: tool, bindingTokenUnits: false, logger: logger)
            let (destinationLock, destinationLedger) = try Ledger.openWriter(
                target: destination, config: config, lockTimeoutMilliseconds: lockTimeoutMilliseconds, tool: tool,
                bindingTokenUnits: false, logger: logger)
            let report = try sourceLock.withLock {
                try destinationLock.withLock { try LedgerCopy.copy(from: sourceLedger, to: destinationLedger) }
            }
            for table in report.tables { print("table \(table)") }
            let rows = report.tables.reduce(0) { $0 + $1.rows }
            print(
                "ok: \(destination) is an equal copy of \(source): \(report.tables.count) tables, \(rows) rows, audit head \(report.auditHead), all invariants hold"
            )
            code = .ok
        } catch let mismatch as LedgerCopy.CopyMismatch {
            TokLogging.write("\(tool): copy: \(mismatch.message)\n")
            code = .dataError
        } catch {
            code = report(error, tool: tool)
        }
        TokLogging.flush()
        return code
    }

    /// A finished run's status: 69 when this stage refused records for the
    /// operator's setup (they wait for the operator, whatever --strict says),
    /// else 65 under --strict when anything left rejected, else 0.
    public static func exitStatus(_ summary: RunSummary, strict: Bool) -> SysExit {
        if summary.operatorFaults > 0 { return .unavailable }
        return strict && summary.rejected > 0 ? .dataError : .ok
    }

    private static func operatorFaultCodes(_ summary: RunSummary) -> String {
        summary.rejectionsByCode.keys.filter { ErrorCode(rawValue: $0)?.operatorFault == true }.sorted()
            .map { "\($0)=\(summary.rejectionsByCode[$0]!)" }.joined(separator: " ")
    }

    /// The edge where failures become exit codes: one place, one table.
    public static func classify(_ error: Error) -> (code: SysExit, message: String) {
        switch error {
        case let failure as StageFailure:
            return (failure.exitCode, failure.message)
        case let configError as ConfigError:
            return (.config, configError.description)
        case let store as StoreError:
            switch store.kind {
            case .conflictsWithConfig: return (.config, store.message)
            // Permanent: waiting changes nothing, so never 75 (a cron retry
            // would repeat it forever); the message names the database.
            case .unusable: return (.cantCreate, "database: \(store)")
            case .readOnly: return (.noPermission, "database: \(store)")
            case .busy, .constraint, .notReady, .unavailable, .misuse, .other:
                return (.tempFailure, "database: \(store)")
            }
        case let batch as Ledger.BatchFailure:
            if case .abandoned(let cause) = batch { return classify(cause) }
            return (.tempFailure, batch.description)
        case let refusal as TokError:
            // An operator's action refused: its code says why (retryable ones may pass later).
            return (refusal.retryable ? .tempFailure : .dataError, refusal.description)
        case let stop as FollowStage.Stop:
            switch stop {
            case .reorgTooDeep(let message): return (.protocolError, message)
            case .node(let error):
                return (error.code == .chainMismatch ? .config : .unavailable, stop.description)
            case .output(let message): return (.ioError, message)
            case .ledger(let message): return (.tempFailure, message)
            case .unusableLedger(let message): return (.cantCreate, message)
            case .config(let message): return (.config, message)
            }
        case let lock as WriterLockError:
            switch lock {
            case .timedOut(let message), .unavailable(let message): return (.tempFailure, message)
            case .failed(let message): return (.ioError, message)
            }
        default:
            return (.software, "\(error)")
        }
    }

    public static func report(_ error: Error, tool: String) -> SysExit {
        let (code, message) = classify(error)
        TokLogging.write("\(tool): \(message)\n")
        return code
    }

    public static func attestor(_ config: TokConfig) throws -> Attestor {
        guard let settings = try config.attestationSettings() else {
            throw ConfigError(
                file: config.file, key: "attestation",
                problem:
                    "an attestation secret is required (secret, secret_env or secret_file, or $TOK_ATTESTATION_SECRET)")
        }
        return Attestor(settings: settings)
    }
}

extension SysExit {
    /// Ends a command with this status: the argument parser exits, nothing else does.
    public func finish() throws {
        if self != .ok { throw ExitCode(rawValue) }
    }
}
