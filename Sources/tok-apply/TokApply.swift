import ArgumentParser
import TokShared

/// tok-apply: the only writer of tok's state.
@main
struct TokApply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tok-apply",
        abstract: "Apply attested records to the tok database (the only writer) and answer queries.",
        discussion: """
            Credits verified deposits exactly once per chain transaction; prepares signed \
            payouts (locking quantity + fee); records tok-submit's findings (commit on \
            "confirmed", rollback on "failed"); answers "balance" and "status" queries; \
            passes every other record through. One transaction per batch with a savepoint \
            per record; outputs are written only after the batch commits. Each batch takes \
            an exclusive lock on DB.lock: another writer waits up to \
            --lock-timeout-milliseconds, then exits 75. See tok-apply(1).
            """)

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: ArgumentHelp("SQLite database file (created if absent).", valueName: "file"))
    var db: String

    @Option(name: .long, help: ArgumentHelp("How long to wait for another writer to finish, in milliseconds. Default: database.lock_timeout_milliseconds.", valueName: "ms"))
    var lockTimeoutMilliseconds: Int?

    @Flag(name: .long, help: "Check the database's invariants instead of reading stdin; exit 65 on any violation.")
    var check = false

    @Flag(name: .long, help: "Write every payout between prepare and commit/rollback as a record for tok-submit, instead of reading stdin (reconciliation).")
    var openPayouts = false

    @Option(name: .long, help: ArgumentHelp("At most this many records with --open-payouts.", valueName: "n"))
    var limit = 100_000

    func validate() throws {
        guard (1...1_000_000).contains(limit) else { throw ValidationError("--limit must be 1...1000000") }
        if let lockTimeoutMilliseconds, !(0...3_600_000).contains(lockTimeoutMilliseconds) {
            throw ValidationError("--lock-timeout-milliseconds must be 0...3600000")
        }
    }

    func run() async throws {
        if openPayouts {
            await ToolMain.emit(tool: "tok-apply", options: common) { config, logger in
                let (lock, ledger) = try Ledger.openWriter(path: db, config: config,
                                                           lockTimeoutMilliseconds: lockTimeoutMilliseconds, logger: logger)
                return try lock.withLock {
                    let stage = ApplyStage(config: config, ledger: ledger, attestor: try ToolMain.attestor(config),
                                           writerLock: nil, logger: logger)
                    do { return try stage.openPayoutRecords(limit: limit) } catch {
                        throw StageFailure(.tempFailure, "\(error)")
                    }
                }
            }
        }
        if check {
            await ToolMain.check(tool: "tok-apply", options: common, databasePath: db,
                                 lockTimeoutMilliseconds: lockTimeoutMilliseconds)
        }
        await ToolMain.run(tool: "tok-apply", options: common) { config, logger in
            let (lock, ledger) = try Ledger.openWriter(path: db, config: config,
                                                       lockTimeoutMilliseconds: lockTimeoutMilliseconds, logger: logger)
            return ApplyStage(config: config, ledger: ledger, attestor: try ToolMain.attestor(config),
                              writerLock: lock, logger: logger)
        }
    }
}

