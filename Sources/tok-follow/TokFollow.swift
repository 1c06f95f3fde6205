import ArgumentParser
import TokShared

/// tok-follow: one attested record per block of a network's chain, for tok-apply.
@main
struct TokFollow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tok-follow",
        abstract:
            "Follow a network's chain and write one attested record per block, continuing from tok-apply's ledger.",
        discussion: """
            Reads the chain tok-apply's ledger holds for the network (read-only; on a ledger \
            with none, starts at the network's follow_start_height), checks that its tip is \
            still on the node's main chain, writes a "disconnected" record per abandoned block \
            (newest first) when it is not, then one "observed" record per block up to the \
            node's tip: payments to the receiver with their proven sender, spends of the \
            operator's coins, tokenisation anchors. Records are attested for tok-apply. \
            A reorganisation deeper than max_reorg_depth stops it (exit 76). \
            See tok-follow(1).
            """)

    @OptionGroup var common: CommonOptions

    @Option(name: .long, help: ArgumentHelp("The network to follow: its alias or CAIP-2 id.", valueName: "network"))
    var network: String

    @Option(
        name: .long,
        help: ArgumentHelp(
            "tok-apply's database, read-only (a SQLite file or a postgresql:// URI; default: [database] url of the config, if set): where to continue from, and the operator's coins.",
            valueName: "file|uri"))
    var db: String?

    @Flag(name: .long, help: "Catch up to the node's tip and exit (the default; for cron).")
    var once = false

    @Flag(
        name: .long, help: "Keep going: poll the node at the tip; end cleanly at a block boundary on SIGTERM or SIGINT."
    )
    var follow = false

    @Option(name: .long, help: ArgumentHelp("Write at most this many blocks, then exit.", valueName: "n"))
    var maxBlocks: Int?

    @Option(
        name: .long,
        help: ArgumentHelp("How long --follow waits at the tip before looking again, in milliseconds.", valueName: "ms")
    )
    var pollMilliseconds = 2_000

    @Option(name: .long, help: ArgumentHelp("Blocks fetched, written and flushed together.", valueName: "n"))
    var batchBlocks = 20

    func validate() throws {
        if once && follow { throw ValidationError("--once and --follow are two modes: choose one") }
        if let maxBlocks, !(1...100_000_000).contains(maxBlocks) {
            throw ValidationError("--max-blocks must be 1...100000000")
        }
        guard (10...600_000).contains(pollMilliseconds) else {
            throw ValidationError("--poll-milliseconds must be 10...600000")
        }
        guard (1...1_000).contains(batchBlocks) else { throw ValidationError("--batch-blocks must be 1...1000") }
    }

    func run() async throws {
        let options = FollowOptions(
            mode: follow ? .follow : .once, maxBlocks: maxBlocks, pollMilliseconds: pollMilliseconds,
            batchBlocks: batchBlocks)
        try await ToolMain.follow(
            tool: "tok-follow", options: common, network: network, ledgerPath: db, follow: options
        ).finish()
    }
}
