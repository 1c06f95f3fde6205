import ArgumentParser
import TokShared

/// tok-validate: checks request records against the operator config.
@main
struct TokValidate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tok-validate",
        abstract: "Validate tok request records (NDJSON on stdin) against the operator config.",
        discussion: """
            Reads one JSON object per line. Fresh requests (no "status") are checked: \
            op, id, CAIP ids and EIP-55 checksums, the asset is configured and enabled for \
            deposit (or payout) on the network, the transaction id is well formed; for \
            payouts and transfers also the destination, the exact decimals conversion, the \
            minimum, the fee against max_fee and the expiry. Valid requests gain a \
            "validated" object and "status":"validated"; invalid ones "status":"rejected" \
            and an "error" object. Records with a status pass through unchanged. \
            See tok-validate(1) and tok(7).
            """)

    @OptionGroup var common: CommonOptions

    @Option(
        name: .long,
        help: ArgumentHelp("Op assumed for records without one (e.g. saved TokEngine REST bodies).", valueName: "op"))
    var defaultOp: Op?

    @Flag(
        name: .long,
        help:
            "For each unsigned payout or transfer, add \"authorisation_message\": the exact text its source account must sign (EIP-191 personal_sign on EVM). Validates nothing else."
    )
    var payoutMessage = false

    @Flag(
        name: .long,
        help:
            "For each token record (op record) and each reference (op anchor: payment, approval, delete_buy_offer, delete_sell_offer), add \"anchor\": the OP_RETURN data and the addresses of the outputs that must follow it (tok-protocol(7)). Validates nothing else."
    )
    var anchorPayload = false

    func validate() throws {
        if payoutMessage && anchorPayload {
            throw ValidationError("--payout-message and --anchor-payload are two modes: choose one")
        }
    }

    func run() async throws {
        let defaultOp = self.defaultOp, payoutMessage = self.payoutMessage, anchorPayload = self.anchorPayload
        try await ToolMain.run(tool: "tok-validate", options: common) { config, logger in
            ValidateStage(
                config: config, defaultOp: defaultOp, payoutMessageMode: payoutMessage,
                anchorPayloadMode: anchorPayload,
                logger: logger)
        }.finish()
    }
}
