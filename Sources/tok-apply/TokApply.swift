import ArgumentParser
import TokShared

/// tok-apply: the only writer of tok's state. Modes are subcommands; the
/// default one applies standard input.
@main
struct TokApply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tok-apply",
        abstract: "Apply attested records to the tok database (the only writer) and answer queries.",
        discussion: """
            Credits verified deposits exactly once per chain transaction and asset; prepares signed \
            payouts (locking quantity + fee); records tok-submit's findings (commit on \
            "confirmed", rollback on "failed"); answers "balance" and "status" queries; \
            passes every other record through. One transaction per batch with a savepoint \
            per record; outputs are written only after the batch commits. Each batch takes \
            the writer lock (DB.lock beside a SQLite file, an advisory lock on a \
            PostgreSQL server): another writer waits up to \
            --lock-timeout-milliseconds, then exits 75. See tok-apply(1).
            """,
        subcommands: [
            Apply.self, Check.self, OpenPayouts.self, Copy.self, ChainStatus.self, ResolveUnattributed.self,
            ResolveShortfall.self, ExportRecords.self,
        ],
        defaultSubcommand: Apply.self)
}

/// The database and how long to wait for its other writer.
struct DatabaseOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The database: a SQLite file (created if absent) or a PostgreSQL URI, postgresql://[user@]host[:port]/dbname (the database must exist; tok creates its tables). Default: [database] url of the config.",
            valueName: "file|uri"))
    var db: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "How long to wait for another writer to finish, in milliseconds. Default: database.lock_timeout_milliseconds.",
            valueName: "ms"))
    var lockTimeoutMilliseconds: Int?

    func validate() throws {
        if let lockTimeoutMilliseconds, !(0...3_600_000).contains(lockTimeoutMilliseconds) {
            throw ValidationError("--lock-timeout-milliseconds must be 0...3600000")
        }
    }
}

/// `--limit` of open-payouts.
struct OpenPayoutsOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("At most this many records from open-payouts.", valueName: "n"))
    var limit = 100_000

    func validate() throws {
        guard (1...1_000_000).contains(limit) else { throw ValidationError("--limit must be 1...1000000") }
    }
}

extension TokApply {
    /// The default mode: apply records from standard input.
    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "apply",
            abstract: "Apply records from standard input (the default).")

        @OptionGroup var common: CommonOptions
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var openPayoutsOptions: OpenPayoutsOptions

        // The modes' older spellings, kept so existing cron lines and scripts work.
        @Flag(name: .long, help: "Same as the check subcommand.")
        var check = false

        @Flag(name: .long, help: "Same as the open-payouts subcommand.")
        var openPayouts = false

        func validate() throws {
            if check && openPayouts {
                throw ValidationError(
                    "--check and --open-payouts are two modes: run `tok-apply check` and `tok-apply open-payouts` one after the other"
                )
            }
        }

        func run() async throws {
            if check { return try await Check.run(common: common, database: database) }
            if openPayouts {
                return try await OpenPayouts.run(common: common, database: database, limit: openPayoutsOptions.limit)
            }
            let db = database.db, lockTimeout = database.lockTimeoutMilliseconds
            MallocTuning.disableFastBins()
            try await ToolMain.run(tool: "tok-apply", options: common) { config, logger in
                let target = try DatabaseTarget.resolve(argument: db, config: config)
                let (lock, ledger) = try Ledger.openWriter(
                    target: target, config: config, lockTimeoutMilliseconds: lockTimeout, logger: logger)
                return ApplyStage(
                    config: config, ledger: ledger, attestor: try ToolMain.attestor(config),
                    writerLock: lock, logger: logger)
            }.finish()
        }
    }

    /// Checks the database's invariants.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the database's invariants instead of reading stdin; exit 65 on any violation.")

        @OptionGroup var common: CommonOptions
        @OptionGroup var database: DatabaseOptions

        func run() async throws { try await Check.run(common: common, database: database) }

        static func run(common: CommonOptions, database: DatabaseOptions) async throws {
            try await ToolMain.check(
                tool: "tok-apply", options: common, database: database.db,
                lockTimeoutMilliseconds: database.lockTimeoutMilliseconds
            ).finish()
        }
    }

    /// Moves a ledger between databases (SQLite → PostgreSQL and back).
    struct Copy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Copy the ledger at --from into the empty database at --to (a SQLite file or a postgresql:// URI each) and prove the copy equal.",
            discussion: """
                Holds both writer locks, copies every table in one transaction, then compares every \
                table row for row (a SHA-256 digest per table), which covers the audit chain, and \
                checks the invariants in the copy. Prints a line per table and "ok: …"; exits 65 when \
                the copy is not equal, 75 when a database is locked or unavailable. The destination is \
                created and migrated if needed and must hold no rows.
                """)

        @OptionGroup var common: CommonOptions

        @Option(name: .long, help: ArgumentHelp("The ledger to copy.", valueName: "file|uri"))
        var from: String

        @Option(name: .long, help: ArgumentHelp("The empty database to copy it into.", valueName: "file|uri"))
        var to: String

        @Option(
            name: .long,
            help: ArgumentHelp(
                "How long to wait for each database's writer, in milliseconds. Default: database.lock_timeout_milliseconds.",
                valueName: "ms"))
        var lockTimeoutMilliseconds: Int?

        func run() async throws {
            try await ToolMain.copy(
                tool: "tok-apply", options: common, from: from, to: to,
                lockTimeoutMilliseconds: lockTimeoutMilliseconds
            ).finish()
        }
    }

    /// Reconciliation's source: every open payout as a record for tok-submit.
    struct OpenPayouts: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "open-payouts",
            abstract:
                "Write every payout between prepare and commit/rollback as a record for tok-submit, instead of reading stdin (reconciliation)."
        )

        @OptionGroup var common: CommonOptions
        @OptionGroup var database: DatabaseOptions
        @OptionGroup var options: OpenPayoutsOptions

        func run() async throws { try await OpenPayouts.run(common: common, database: database, limit: options.limit) }

        static func run(common: CommonOptions, database: DatabaseOptions, limit: Int) async throws {
            try await ToolMain.emit(tool: "tok-apply", options: common) { config, logger in
                let (lock, ledger) = try Ledger.openWriter(
                    target: try DatabaseTarget.resolve(argument: database.db, config: config),
                    config: config,
                    lockTimeoutMilliseconds: database.lockTimeoutMilliseconds, logger: logger)
                return try lock.withLock {
                    let stage = ApplyStage(
                        config: config, ledger: ledger, attestor: try ToolMain.attestor(config),
                        writerLock: nil, logger: logger)
                    do { return try stage.openPayoutRecords(limit: limit) } catch {
                        throw StageFailure(.tempFailure, "\(error)")
                    }
                }
            }.finish()
        }
    }

    /// Where the ledger stands on each chain it follows, and the state hash to compare with another instance.
    struct ChainStatus: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "chain-status",
            abstract:
                "Print, per followed chain, the ledger's tip, its block count and its state hash (one JSON line each).")

        @OptionGroup var common: CommonOptions
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let db = database.db
            try await ToolMain.emit(tool: "tok-apply", options: common) { config, logger in
                let target = try DatabaseTarget.resolve(argument: db, config: config)
                let ledger = try Ledger(
                    readOnly: try target.connect(config: config, readOnly: true, tool: "tok-apply"), logger: logger)
                return try ledger.chainStatus().map { status in
                    let record = JSON.object()
                    record.set("chain", string: status.tip.chain)
                    if let network = config.network(named: status.tip.chain) {
                        record.set("network", string: network.alias)
                    }
                    record.set("height", integer: status.tip.height)
                    record.set("hash", string: status.tip.hash)
                    record.set("state_hash", string: status.tip.stateHash)
                    record.set("blocks", integer: status.blocks)
                    return record
                }
            }.finish()
        }
    }

    /// The operator gives a payment that proves no sender to an account.
    struct ResolveUnattributed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resolve-unattributed",
            abstract:
                "Credit a payment that proves no sender (coinbase, mixed inputs) to an account the operator names.")

        @OptionGroup var common: CommonOptions
        @OptionGroup var database: DatabaseOptions

        @Option(name: .long, help: ArgumentHelp("The network, by alias or CAIP-2 id.", valueName: "network"))
        var network: String

        @Option(name: .long, help: ArgumentHelp("The payment's transaction id.", valueName: "txid"))
        var tx: String

        @Option(
            name: .long,
            help: ArgumentHelp("The account credited: CAIP-10, on the payment's chain.", valueName: "account"))
        var account: String

        @Option(
            name: .long,
            help: ArgumentHelp(
                "The payment's asset (token alias or CAIP-19), needed when the transaction has several.",
                valueName: "asset"))
        var asset: String?

        func run() async throws {
            let (name, tx, account, assetName) = (network, tx, account, asset)
            try await ToolMain.operatorAction(
                tool: "tok-apply", options: common, database: database.db,
                lockTimeoutMilliseconds: database.lockTimeoutMilliseconds
            ) { config, ledger, now in
                guard let network = config.network(named: name) else {
                    throw StageFailure(.usage, "network \(name) is not configured")
                }
                let asset = try assetName.map { name throws(TokError) in
                    try config.assetMapping(token: name, on: network).assetText
                }
                let outcome = try ledger.resolveUnattributed(
                    network: network, config: config, tx: tx, asset: asset, account: account,
                    nowMilliseconds: now)
                let answer = JSON.object()
                answer.set("tx", string: tx)
                answer.set("account", string: account)
                switch outcome {
                case .credited(let available):
                    answer.set("credited", string: "yes"); answer.set("available", string: available.description)
                case .duplicate(let first): answer.set("duplicate_of", string: first)
                }
                return answer
            }.finish()
        }
    }

    /// The operator closes a shortfall a reorganisation left.
    struct ResolveShortfall: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resolve-shortfall",
            abstract:
                "Close an open shortfall (its payment will not come back; the loss is settled outside tok), so the account's payouts go through again."
        )

        @OptionGroup var common: CommonOptions
        @OptionGroup var database: DatabaseOptions

        @Option(
            name: .long, help: ArgumentHelp("The shortfall's number, as tok-apply check prints it.", valueName: "n"))
        var id: Int64

        @Option(name: .long, help: ArgumentHelp("Why, for the audit trail.", valueName: "text"))
        var note: String

        func run() async throws {
            let (id, note) = (self.id, self.note)
            try await ToolMain.operatorAction(
                tool: "tok-apply", options: common, database: database.db,
                lockTimeoutMilliseconds: database.lockTimeoutMilliseconds
            ) { _, ledger, now in
                try ledger.resolveShortfall(id: id, note: note, nowMilliseconds: now)
                let answer = JSON.object()
                answer.set("shortfall", integer: id)
                answer.set("state", string: "resolved")
                return answer
            }.finish()
        }
    }

    /// The signed off-chain records this ledger holds, for another instance to import.
    struct ExportRecords: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-records",
            abstract:
                "Write the signed off-chain token records stored after a cursor, one op record line each (export_seq is the cursor to pass next time); import them elsewhere with tok-validate | tok-apply."
        )

        @OptionGroup var common: CommonOptions
        @OptionGroup var database: DatabaseOptions

        @Option(
            name: .long, help: ArgumentHelp("Only records stored after this export_seq (0: all).", valueName: "seq"))
        var after: Int64 = 0

        @Option(name: .long, help: ArgumentHelp("At most this many records.", valueName: "n"))
        var limit = 100_000

        func validate() throws {
            guard after >= 0 else { throw ValidationError("--after must be 0 or more") }
            guard (1...1_000_000).contains(limit) else { throw ValidationError("--limit must be 1...1000000") }
        }

        func run() async throws {
            let (db, after, limit) = (database.db, self.after, self.limit)
            try await ToolMain.emit(tool: "tok-apply", options: common) { config, logger in
                let target = try DatabaseTarget.resolve(argument: db, config: config)
                guard
                    let ledger = try Ledger.readOnlyIfReady(
                        target: target, config: config, tool: "tok-apply",
                        logger: logger)
                else { return [] }
                return try ledger.exportRecords(after: after, limit: limit).map { entry in
                    entry.line.set("export_seq", integer: entry.seq)
                    return entry.line
                }
            }.finish()
        }
    }
}
